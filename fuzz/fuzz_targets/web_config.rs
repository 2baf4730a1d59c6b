//! The web config file (exporter-toolkit's YAML): any text is settings or an error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tickwatch_common::web::config::WebSettings;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = WebSettings::parse(text, "web.yml");
});
