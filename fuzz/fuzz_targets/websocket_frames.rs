//! The WebSocket monitor's frame path: bytes from a gateway read as frames with the
//! monitor's size limit, each data message recorded with its payload-time pointer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::io::{self, Cursor, Read, Write};
use std::sync::LazyLock;
use tickwatch_exporter::probe::websocket::monitor::{MessageRecorder, MonitorMetrics};
use tickwatch_exporter::probe::websocket::pointer::Pointer;
use tickwatch_exporter::shared::Shared;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocket, WebSocketConfig};

/// What the gateway sent, and a sink for what the monitor answers.
struct Gateway(Cursor<Vec<u8>>);

impl Read for Gateway {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for Gateway {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One gateway's recorder for every run (its series are the same whatever the input).
static RECORDER: LazyLock<MessageRecorder> = LazyLock::new(|| {
    let shared = Shared::new();
    MessageRecorder::new("gateway", Pointer::parse("/E"), &MonitorMetrics::register(&shared))
});

fuzz_target!(|data: &[u8]| {
    let recorder = &*RECORDER;
    let limits = WebSocketConfig::default().max_message_size(Some(4096)).max_frame_size(Some(4096));
    let mut socket = WebSocket::from_raw_socket(Gateway(Cursor::new(data.to_vec())), Role::Client, Some(limits));
    let mut now_ms = 1_767_225_600_000.0;
    loop {
        match socket.read() {
            Ok(Message::Text(text)) => recorder.record(text.as_bytes(), now_ms),
            Ok(Message::Binary(bytes)) => recorder.record(&bytes, now_ms),
            Ok(_) => {}
            // The monitor drops the connection and reconnects on any error.
            Err(_) => break,
        }
        now_ms += 1.0;
    }
});
