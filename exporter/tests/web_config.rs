//! `--web.config.file` (exporter-toolkit's format) with real clients: curl over TLS with
//! and without client certificates and credentials, htpasswd's bcrypt hashes, a real
//! Prometheus scraping with tls_config and basic_auth, certificates rotated without a
//! restart, and a bad file that is refused at start and kept out at run time.

mod common;

use common::wait_for;
use std::process::Command;
use std::time::Duration;
use tickwatch_tests::{Exporter, Pki, Prometheus, RedisServer, Server, bcrypt_hash, binary};

const EXPORTER: &str = env!("CARGO_BIN_EXE_tickwatch-exporter");

fn web_config(pki: &Pki, cert: &str, key: &str, hash: &str) -> String {
    format!(
        "tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n  client_ca_file: {ca}\n  \
         client_auth_type: RequireAndVerifyClientCert\n  min_version: TLS12\n\
         http_server_config:\n  headers:\n    Strict-Transport-Security: max-age=31536000\n\
         basic_auth_users:\n  prometheus: '{hash}'\n",
        ca = pki.ca()
    )
}

/// curl's answer: (HTTP status, or 0 when there was none; body and headers).
fn curl(args: &[&str]) -> (u16, String) {
    let out = Command::new(binary("curl").unwrap())
        .args(["-s", "-i", "--max-time", "10", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

#[test]
fn tls_client_certificates_and_basic_auth_guard_every_endpoint() {
    let pki = Pki::new().unwrap();
    let redis = RedisServer::start().unwrap();
    let hash = bcrypt_hash("prometheus", "s3cret").unwrap();
    let served = (pki.dir().join("served.pem"), pki.dir().join("served.key"));
    std::fs::copy(&pki.server.cert, &served.0).unwrap();
    std::fs::copy(&pki.server.key, &served.1).unwrap();
    let (cert, key) = (served.0.to_str().unwrap(), served.1.to_str().unwrap());
    let mut exporter = Exporter::start_with_web_config(
        EXPORTER.as_ref(),
        &format!("[[redis]]\nname = \"cache\"\nurl = \"{}\"\n", redis.url()),
        &web_config(&pki, cert, key, &hash),
        true,
        &[],
    )
    .unwrap();
    let (client_cert, client_key) = (pki.client.cert(), pki.client.key());
    let trusted = ["--cacert", pki.ca(), "--cert", client_cert, "--key", client_key];
    let url = exporter.url("/metrics");

    let with = |extra: &[&str], url: &str| curl(&[&trusted[..], extra, &[url]].concat());
    let (status, body) = with(&["-u", "prometheus:s3cret"], &url);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("redis_up{target=\"cache\"} 1"), "{body}");
    assert!(body.to_lowercase().contains("strict-transport-security: max-age=31536000"), "{body}");
    for path in ["/metrics", "/probe?target=cache", "/", "/-/healthy", "/-/ready"] {
        let (status, body) = with(&[], &exporter.url(path));
        assert_eq!(status, 401, "{path} without credentials: {body}");
        assert!(body.contains("WWW-Authenticate: Basic") || body.contains("www-authenticate: Basic"), "{body}");
        assert_eq!(with(&["-u", "prometheus:wrong"], &exporter.url(path)).0, 401, "{path}: wrong password");
        assert_eq!(with(&["-u", "prometheus:s3cret"], &exporter.url(path)).0, 200, "{path}");
    }
    // No client certificate, or one another CA signed: no handshake, no answer at all.
    let (status, _) = curl(&["--cacert", pki.ca(), "-u", "prometheus:s3cret", &url]);
    assert_eq!(status, 0, "served without a client certificate");
    let stranger = ["--cacert", pki.ca(), "--cert", pki.stranger.cert(), "--key", pki.stranger.key()];
    assert_eq!(curl(&[&stranger[..], &["-u", "prometheus:s3cret", &url]].concat()).0, 0);
    // Plain HTTP gets nothing.
    let plain = url.replacen("https://", "http://", 1);
    let (status, body) = curl(&["-u", "prometheus:s3cret", &plain]);
    assert!(status != 200 && !body.contains("redis_up"), "plain HTTP answered: {status} {body}");

    // A real Prometheus scrapes it with its own tls_config and basic_auth.
    let address = url.trim_start_matches("https://").trim_end_matches("/metrics");
    let prometheus = Prometheus::start(
        &format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: tickwatch\n    scheme: https\n    \
             basic_auth:\n      username: prometheus\n      password: s3cret\n    \
             tls_config:\n      ca_file: {}\n      cert_file: {client_cert}\n      key_file: {client_key}\n    \
             static_configs:\n      - targets: ['{address}']\n",
            pki.ca()
        ),
        &[],
    )
    .unwrap();
    let query = format!("{}/api/v1/query?query=redis_up", prometheus.url());
    wait_for("Prometheus to scrape over TLS with basic auth", Duration::from_secs(20), || {
        reqwest::blocking::get(&query).and_then(|r| r.text()).is_ok_and(|t| t.contains("\"cache\""))
    });

    // Rotated certificates are served to new connections without a restart: the
    // exporter now shows a certificate another CA signed.
    let other = Pki::new().unwrap();
    std::thread::sleep(Duration::from_millis(1100)); // a new modification time
    std::fs::copy(&other.server.cert, &served.0).unwrap();
    std::fs::copy(&other.server.key, &served.1).unwrap();
    let rotated = ["--cacert", other.ca(), "--cert", client_cert, "--key", client_key, "-u", "prometheus:s3cret"];
    wait_for("the rotated certificate", Duration::from_secs(10), || curl(&[&rotated[..], &[&url]].concat()).0 == 200);
    assert_eq!(with(&["-u", "prometheus:s3cret"], &url).0, 0, "the old certificate is no longer served");

    // A broken file at run time keeps the settings in force and says so.
    std::fs::write(exporter.web_config_path(), "tls_server_config: [not, a, table]\n").unwrap();
    assert_eq!(curl(&[&rotated[..], &[&url]].concat()).0, 200);
    assert!(exporter.process().log_text().contains("web config not applied"), "{}", exporter.process().log_tail(10));
}

#[test]
fn a_bad_web_config_is_refused_at_start_naming_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("exporter.toml");
    std::fs::write(&config, "").unwrap();
    let cases = [
        ("basic_auth_users:\n  prometheus: plaintext\n", "basic_auth_users.prometheus: is not a bcrypt hash"),
        ("tls_server_confg:\n  cert_file: a.pem\n", "unknown field `tls_server_confg`"),
        (
            "tls_server_config:\n  cert_file: /nonexistent.pem\n  key_file: /nonexistent.key\n",
            "tls_server_config.cert_file",
        ),
        ("tls_server_config:\n  cert_file: c\n  key_file: k\n  max_version: TLS11\n", "tls_server_config.cert_file"),
    ];
    for (web, expected) in cases {
        let path = dir.path().join("web.yml");
        std::fs::write(&path, web).unwrap();
        let out =
            Command::new(EXPORTER).arg("--config").arg(&config).arg("--web.config.file").arg(&path).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{web}: {stderr}");
        assert!(stderr.contains(&path.display().to_string()) && stderr.contains(expected), "{web}: {stderr}");
    }
}

#[test]
fn idle_connections_cannot_starve_scrapes() {
    use std::io::Read;
    let exporter =
        tickwatch_tests::Exporter::start_with_args(EXPORTER.as_ref(), "", "info", &["--web.max-connections", "3"])
            .unwrap();
    // Three clients take every connection and send nothing (or half a request).
    let address = format!("127.0.0.1:{}", exporter.port());
    let mut idle: Vec<std::net::TcpStream> = (0..3).map(|_| std::net::TcpStream::connect(&address).unwrap()).collect();
    std::io::Write::write_all(&mut idle[0], b"GET /metrics HTTP/1.1\r\nHost: x\r\n").unwrap();
    // A scrape still gets through once the server gives up on them (10 s).
    let started = std::time::Instant::now();
    let (status, body) = curl(&["--max-time", "30", &exporter.url("/metrics")]);
    assert_eq!(status, 200, "{body}");
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
    for mut socket in idle {
        socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buffer = [0u8; 256];
        assert!(matches!(socket.read(&mut buffer), Ok(0)), "the server closed the idle connection");
    }
}
