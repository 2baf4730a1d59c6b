//! The exporter's config file: any text is a config or a list of problems, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tickwatch_exporter::config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let lookup = |name: &str| (name == "SET").then(|| "value".to_owned());
    if let Err(e) = config::parse(text, "fuzz.toml", &lookup) {
        let _ = e.to_string();
    }
});
