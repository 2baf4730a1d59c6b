//! The WebSocket monitor's streaming JSON-pointer reader, against serde_json's own
//! pointer on the parsed document: where the message is JSON, both find the same number.
//! Input: the pointer on the first line, the message after it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tickwatch_exporter::probe::websocket::pointer::Pointer;

fuzz_target!(|data: &[u8]| {
    let Some(split) = data.iter().position(|b| *b == b'\n') else { return };
    let Ok(pointer_text) = std::str::from_utf8(&data[..split]) else { return };
    let message = &data[split + 1..];
    let Some(pointer) = Pointer::parse(pointer_text) else { return };
    let found = pointer.number(message);
    let Ok(document) = serde_json::from_slice::<Value>(message) else { return };
    let expected = document.pointer(pointer_text).and_then(|v| match v {
        Value::Number(n) => n.as_f64(),
        // Numeric strings may carry spaces (`" 17"`); only finite numbers count.
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|n| n.is_finite()),
        _ => None,
    });
    assert_eq!(found.map(f64::to_bits), expected.map(f64::to_bits), "pointer {pointer_text:?}");
});
