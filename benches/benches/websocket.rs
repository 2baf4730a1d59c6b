//! The WebSocket monitor's hot path, per message: read the frame, pull the exchange time
//! out by JSON pointer, update the counters and the lag histogram.
//!
//! Run: `cargo bench -p tickwatch-benches --bench websocket`. Target (issue #4): at least
//! a million messages per second on one core.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::io::{Cursor, Read, Write};
use tickwatch_exporter::epoch::now_ms;
use tickwatch_exporter::probe::websocket::monitor::{MessageRecorder, MonitorMetrics};
use tickwatch_exporter::probe::websocket::pointer::Pointer;
use tickwatch_exporter::shared::Shared;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocket};
use tokio_tungstenite::tungstenite::{Bytes, Message};

const MESSAGES: usize = 10_000;

/// Server frames in memory, read as a client reads them; writes go nowhere.
struct Wire(Cursor<Vec<u8>>);

impl Read for Wire {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for Wire {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn frames() -> Vec<u8> {
    let mut wire = Vec::new();
    for seq in 0..MESSAGES {
        let tick = format!(
            r#"{{"e":"trade","E":1700000000001,"s":"BTCUSDT","t":{seq},"p":"42000.10","q":"0.50000","T":1700000000000,"m":true}}"#
        );
        Frame::message(Bytes::from(tick), OpCode::Data(Data::Text), true).format(&mut wire).unwrap();
    }
    wire
}

fn monitor_hot_path(c: &mut Criterion) {
    let shared = Shared::new();
    let metrics = MonitorMetrics::register(&shared);
    let recorder = MessageRecorder::new("gw", Pointer::parse("/T"), &metrics);
    let wire = frames();
    let mut group = c.benchmark_group("websocket monitor");
    group.throughput(Throughput::Elements(MESSAGES as u64));
    group.bench_function("read + timestamp + record, ~120-byte ticks", |b| {
        b.iter_batched(
            || WebSocket::from_raw_socket(Wire(Cursor::new(wire.clone())), Role::Client, None),
            |mut socket| {
                let now = now_ms();
                for _ in 0..MESSAGES {
                    match socket.read().unwrap() {
                        Message::Text(text) => recorder.record(text.as_bytes(), now),
                        other => panic!("unexpected {other:?}"),
                    }
                }
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, monitor_hot_path);
criterion_main!(benches);
