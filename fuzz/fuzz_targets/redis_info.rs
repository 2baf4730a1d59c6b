//! Whatever a Redis server answers to INFO becomes samples that encode as exposition text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tickwatch_exporter::exposition::{self, Samples};
use tickwatch_exporter::probe::redis::info;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut samples = Samples::new();
    let _ = info::parse(&text, "fuzz", 0, &mut samples);
    let _ = exposition::encode(samples, &[]);
});
