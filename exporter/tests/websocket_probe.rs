//! The WebSocket probe against an independent gateway (Python `websockets`) and against
//! hostile servers written here: each hostile behaviour fails its own target with a
//! reason, within the scrape timeout, without growing the exporter's memory.

mod common;

use common::{start_exporter, wait_for};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;
use tickwatch_tests::{WebSocketServer, free_port, value};

#[test]
fn probe_mode_connects_subscribes_and_times_the_first_message() {
    let gateway = WebSocketServer::start(&["--count", "5"]).unwrap();
    let exporter = start_exporter(&format!(
        "[[websocket]]\nname = \"gw\"\nurl = \"ws://127.0.0.1:{}/\"\nsubscribe = '{{\"op\":\"subscribe\"}}'\n",
        gateway.port()
    ));
    let text = exporter.metrics();
    let t = [("target", "gw")];
    assert_eq!(value(&text, "tickwatch_probe_success", &t), Some(1.0), "{text}");
    let connect = value(&text, "websocket_connect_duration_seconds", &t).unwrap();
    let first = value(&text, "websocket_first_message_duration_seconds", &t).unwrap();
    assert!(connect > 0.0 && connect < 1.0 && first > 0.0 && first < 1.0, "connect {connect}, first {first}");
}

#[test]
fn monitor_mode_counts_messages_measures_lag_and_reconnects() {
    let port = free_port();
    let exporter = start_exporter(&format!(
        "[[websocket]]\nname = \"gw\"\nurl = \"ws://127.0.0.1:{port}/\"\nmode = \"monitor\"\nsubscribe = \"hi\"\n\
         timestamp_pointer = \"/T\"\nping_interval = \"1s\"\n"
    ));
    let t = [("target", "gw")];
    // Nothing listens yet: the monitor is down and keeps trying.
    assert_eq!(value(&exporter.metrics(), "tickwatch_probe_success", &t), Some(0.0));

    let gateway =
        WebSocketServer::start_on(port, &["--count", "200", "--interval-ms", "2", "--lag-ms", "250"]).unwrap();
    wait_for("all 200 ticks", Duration::from_secs(30), || {
        value(&exporter.metrics(), "websocket_messages_received_total", &t) == Some(200.0)
    });
    let text = exporter.metrics();
    assert_eq!(value(&text, "tickwatch_probe_success", &t), Some(1.0));
    assert_eq!(value(&text, "websocket_connected", &t), Some(1.0));
    assert_eq!(value(&text, "websocket_payload_lag_seconds_count", &t), Some(200.0));
    let mean_lag = value(&text, "websocket_payload_lag_seconds_sum", &t).unwrap() / 200.0;
    assert!((0.24..0.6).contains(&mean_lag), "ticks are stamped 250 ms in the past; mean lag {mean_lag}");
    assert_eq!(value(&text, "websocket_payload_lag_seconds_bucket", &[("target", "gw"), ("le", "0.1")]), Some(0.0));
    let age = value(&text, "websocket_last_message_age_seconds", &t).unwrap();
    assert!(age < 10.0, "age {age}");
    let bytes = value(&text, "websocket_received_bytes_total", &t).unwrap();
    assert!(bytes > 200.0 * 60.0, "{bytes} bytes");

    // The silent but open connection answers pings, so it stays up.
    std::thread::sleep(Duration::from_secs(3));
    let text = exporter.metrics();
    assert_eq!(value(&text, "websocket_connected", &t), Some(1.0));
    assert_eq!(value(&text, "websocket_missed_pongs_total", &t).unwrap_or(0.0), 0.0);

    drop(gateway);
    wait_for("the monitor to notice the gateway is gone", Duration::from_secs(10), || {
        value(&exporter.metrics(), "websocket_connected", &t) == Some(0.0)
    });
    let _back = WebSocketServer::start_on(port, &["--count", "3"]).unwrap();
    wait_for("the monitor to reconnect", Duration::from_secs(40), || {
        let text = exporter.metrics();
        value(&text, "websocket_connected", &t) == Some(1.0)
            && value(&text, "websocket_messages_received_total", &t) == Some(203.0)
    });
    assert!(value(&exporter.metrics(), "websocket_reconnects_total", &t).unwrap() >= 1.0);
}

/// A loopback server that treats every connection with `behave`, on its own thread.
fn hostile(behave: fn(TcpStream)) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(32).flatten() {
            std::thread::spawn(move || behave(stream));
        }
    });
    port
}

/// Reads the upgrade request and answers it properly.
fn handshake(stream: &mut TcpStream) {
    let mut request = Vec::new();
    let mut byte = [0u8; 1];
    while !request.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
        request.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&request);
    let key = text
        .lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: ").or_else(|| l.strip_prefix("sec-websocket-key: ")))
        .unwrap_or_default()
        .trim();
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    let _ = stream.write_all(response.as_bytes());
}

#[test]
fn hostile_servers_fail_alone_quickly_and_cheaply() {
    let silent = hostile(|s| {
        std::thread::sleep(Duration::from_secs(30));
        drop(s)
    });
    let drip = hostile(|mut s| {
        for b in b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n" {
            std::thread::sleep(Duration::from_millis(300));
            if s.write_all(&[*b]).is_err() {
                return;
            }
        }
    });
    let slams = hostile(drop);
    let bad_utf8 = hostile(|mut s| {
        handshake(&mut s);
        let _ = s.write_all(&[0x81, 0x02, 0xff, 0xfe]);
        std::thread::sleep(Duration::from_secs(5));
    });
    let huge = hostile(|mut s| {
        handshake(&mut s);
        // A text frame announcing 100 MiB, then a stream of zeros.
        let mut header = vec![0x81, 127];
        header.extend_from_slice(&(100u64 << 20).to_be_bytes());
        let _ = s.write_all(&header);
        let zeros = vec![0u8; 64 * 1024];
        for _ in 0..1600 {
            if s.write_all(&zeros).is_err() {
                return;
            }
        }
    });
    let gateway = WebSocketServer::start(&["--count", "1000000", "--no-subscribe"]).unwrap();
    let targets = [("silent", silent), ("drip", drip), ("slams", slams), ("bad_utf8", bad_utf8), ("huge", huge)];
    let mut config: String = targets
        .iter()
        .map(|(name, port)| format!("[[websocket]]\nname = \"{name}\"\nurl = \"ws://127.0.0.1:{port}/\"\n"))
        .collect();
    config.push_str(&format!("[[websocket]]\nname = \"good\"\nurl = \"ws://127.0.0.1:{}/\"\n", gateway.port()));
    let exporter = start_exporter(&config);

    let rss = |text: &str| value(text, "process_resident_memory_bytes", &[]).unwrap();
    let before = rss(&exporter.metrics());
    for _ in 0..3 {
        let (status, text, took) = exporter.scrape("/metrics", 2.0);
        assert_eq!(status, 200);
        assert!(took < Duration::from_secs(2), "bounded by the scrape timeout: {took:?}");
        assert_eq!(value(&text, "tickwatch_probe_success", &[("target", "good")]), Some(1.0), "{text}");
        for (name, _) in targets {
            assert_eq!(value(&text, "tickwatch_probe_success", &[("target", name)]), Some(0.0), "{name}");
        }
    }
    let text = exporter.metrics();
    for (name, reason) in [
        ("silent", "timeout"),
        ("drip", "timeout"),
        ("slams", "closed"),
        ("bad_utf8", "invalid_utf8"),
        ("huge", "too_large"),
    ] {
        assert!(
            value(&text, "tickwatch_probe_errors_total", &[("target", name), ("reason", reason)]).is_some(),
            "{name} fails with {reason}:\n{}",
            text.lines().filter(|l| l.starts_with("tickwatch_probe_errors_total")).collect::<Vec<_>>().join("\n")
        );
    }
    let growth = rss(&text) - before;
    assert!(growth < 32.0 * 1024.0 * 1024.0, "memory grew by {growth} bytes after a 100 MiB frame was announced");
}

#[test]
fn wss_works_with_a_test_ca_and_fails_without_it() {
    let pki = tickwatch_tests::Pki::new().unwrap();
    let server = pki.server_until("gateway", rcgen::date_time_ymd(2030, 6, 1)).unwrap();
    let gateway = WebSocketServer::start(&[
        "--count",
        "1000000",
        "--no-subscribe",
        "--cert",
        server.cert(),
        "--key",
        server.key(),
    ])
    .unwrap();
    let url = format!("wss://localhost:{}/", gateway.port());
    let exporter = start_exporter(&format!(
        "[[websocket]]\nname = \"trusted\"\nurl = \"{url}\"\nca_file = \"{}\"\n\
         [[websocket]]\nname = \"untrusted\"\nurl = \"{url}\"\n\
         [[websocket]]\nname = \"insecure\"\nurl = \"{url}\"\ninsecure = true\n",
        pki.ca()
    ));
    let text = exporter.metrics();
    assert_eq!(value(&text, "tickwatch_probe_success", &[("target", "trusted")]), Some(1.0), "{text}");
    assert_eq!(value(&text, "tickwatch_probe_success", &[("target", "insecure")]), Some(1.0));
    assert_eq!(value(&text, "tickwatch_probe_success", &[("target", "untrusted")]), Some(0.0));
    assert!(
        value(&text, "tickwatch_probe_errors_total", &[("target", "untrusted"), ("reason", "tls")]).is_some(),
        "{text}"
    );
    // blackbox_exporter's TLS facts: the certificate's notAfter (2030-06-01) and the version.
    let trusted = [("target", "trusted")];
    assert_eq!(value(&text, "websocket_tls_earliest_cert_expiry_timestamp_seconds", &trusted), Some(1_906_502_400.0));
    assert_eq!(value(&text, "websocket_tls_version_info", &[trusted[0], ("version", "TLS 1.3")]), Some(1.0), "{text}");
    assert!(value(&text, "websocket_duration_seconds", &[trusted[0], ("phase", "tls")]).unwrap() > 0.0);
    assert_eq!(value(&text, "websocket_tls_version_info", &[("target", "untrusted")]), None);
    assert_eq!(common::promtool_check(&text), "", "promtool check metrics on:\n{text}");
}

#[test]
fn headers_authenticate_then_subscribe_and_expect_are_honoured() {
    let gateway = WebSocketServer::start(&[
        "--count",
        "1000000",
        "--interval-ms",
        "20",
        "--require-header",
        "Authorization=Bearer t0ken-42",
        "--auth",
        "{\"op\":\"auth\",\"key\":\"t0ken-42\"}",
    ])
    .unwrap();
    let url = format!("ws://127.0.0.1:{}/", gateway.port());
    let messages = r#"subscribe = ['{"op":"auth","key":"${GATEWAY_TOKEN}"}', '{"op":"subscribe"}']"#;
    let auth = r#"headers = { Authorization = "Bearer ${GATEWAY_TOKEN}" }"#;
    let config = format!(
        "[[websocket]]\nname = \"ok\"\nurl = \"{url}\"\n{messages}\n{auth}\nexpect = '\"e\": ?\"trade\"'\n\
         [[websocket]]\nname = \"no_token\"\nurl = \"{url}\"\n{messages}\n\
         [[websocket]]\nname = \"no_auth\"\nurl = \"{url}\"\nsubscribe = '{{\"op\":\"subscribe\"}}'\n{auth}\n\
         [[websocket]]\nname = \"wrong_data\"\nurl = \"{url}\"\n{messages}\n{auth}\nexpect = '\"e\": ?\"depthUpdate\"'\n"
    );
    let exporter = tickwatch_tests::Exporter::start_with_env(
        std::path::Path::new(env!("CARGO_BIN_EXE_tickwatch-exporter")),
        &config,
        &[("GATEWAY_TOKEN", "t0ken-42")],
    )
    .unwrap();
    let text = exporter.metrics();
    let success = |target: &str| value(&text, "tickwatch_probe_success", &[("target", target)]);
    let failed = |target: &str, reason: &str| {
        value(&text, "tickwatch_probe_errors_total", &[("target", target), ("reason", reason)]).is_some()
    };
    assert_eq!(success("ok"), Some(1.0), "{text}");
    for phase in ["resolve", "connect", "tls", "upgrade", "first_message"] {
        let seconds = value(&text, "websocket_duration_seconds", &[("target", "ok"), ("phase", phase)]);
        assert!(seconds.is_some_and(|s| (0.0..1.0).contains(&s)), "{phase}: {seconds:?}");
    }
    assert_eq!(success("no_token"), Some(0.0));
    assert!(failed("no_token", "handshake"), "the upgrade is refused without the header:\n{text}");
    assert_eq!(success("no_auth"), Some(0.0));
    assert!(failed("no_auth", "closed"), "the gateway closes a client that does not authenticate:\n{text}");
    assert_eq!(success("wrong_data"), Some(0.0));
    assert!(failed("wrong_data", "expect_mismatch"), "{text}");
    assert_eq!(common::promtool_check(&text), "", "promtool check metrics on:\n{text}");

    // debug=true tells each step, with the token masked.
    let (status, debug, _) = exporter.scrape("/probe?target=ok&debug=true", 5.0);
    assert_eq!(status, 200);
    for said in [
        "resolved 127.0.0.1",
        "upgraded (HTTP 101",
        "bytes: {\"op\":\"auth\",\"key\":\"****\"}",
        "first data message",
        "Probe succeeded",
    ] {
        assert!(debug.contains(said), "`{said}` missing from:\n{debug}");
    }
    assert!(debug.contains("websocket_duration_seconds{target=\"ok\",phase=\"upgrade\"}"), "{debug}");
    let (_, refused, _) = exporter.scrape("/probe?target=wrong_data&debug=true", 5.0);
    assert!(refused.contains("Probe failed") && refused.contains("expect_mismatch"), "{refused}");
    let (_, no_token, _) = exporter.scrape("/probe?target=no_token&debug=true", 5.0);
    assert!(no_token.contains("upgrade refused: HTTP 401"), "{no_token}");
    // The secret from the environment is masked wherever it would appear.
    for text in [&debug, &refused, &no_token] {
        assert!(!text.contains("t0ken-42"), "{text}");
    }
}
