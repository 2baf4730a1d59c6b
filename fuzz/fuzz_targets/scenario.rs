//! The loadgen's scenario file: any text is a scenario or a list of problems; a scenario
//! that loads answers its rate questions without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tickwatch_loadgen::scenario;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(s) = scenario::parse(text, "fuzz.toml") {
        for phase in &s.phase {
            let _ = (phase.total(), phase.mean_rate(), phase.rate_at(0.5), phase.due_at(3));
        }
    }
});
