//! `--check-config` prints every problem of a broken file, each with file, key and why,
//! never a secret; a good file passes.

use std::process::Command;

fn check(config: &str, env: &[(&str, &str)]) -> (bool, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("exporter.toml");
    std::fs::write(&path, config).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_tickwatch-exporter"));
    command.arg("--config").arg(&path).arg("--check-config").env_remove("REDIS_PASSWORD");
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).replace(&path.display().to_string(), "FILE");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
}

#[test]
fn a_broken_config_lists_every_problem() {
    let config = r#"
[web]
listen_address = "localhost"
[[redis]]
name = "cache"
url = "redis://:${REDIS_PASSWORD}@127.0.0.1:6379/0"
[[redis]]
name = "cache"
url = "http://:s3cret@127.0.0.1:6379"
[[redis]]
name = "other"
urll = "redis://127.0.0.1"
[[celery]]
name = "broker"
broker = "amqp://app:s3cret@127.0.0.1/%2f"
discover = true
global_keyprefix = "app:"
[[celery]]
name = "ha"
broker = "sentinel://127.0.0.1:26379;redis://127.0.0.1:6379"
queues = ["celery"]
[[mongodb]]
name = "store"
uri = "mongodb://127.0.0.1:27017"
collections = [{ db = "chains" }, { db = "chains", pattern = "nifty[" }]
[defaults]
celery_queue_wait_buckets = [1.0, 0.5]
[unknown_section]
x = 1
"#;
    let (ok, _, stderr) = check(config, &[]);
    assert!(!ok);
    let expected = [
        "FILE: web.listen_address: `localhost` is not HOST:PORT",
        "FILE: redis[0].url: environment variable `REDIS_PASSWORD` is not set",
        "FILE: redis[1].name: `cache` is used by another target",
        "FILE: redis[1].url: `http://:****@127.0.0.1:6379/`: scheme must be one of redis, rediss",
        "FILE: redis[2].urll: unknown field `urll`",
        "FILE: celery[0].discover: queue discovery needs a Redis broker",
        "FILE: celery[0].global_keyprefix: a Kombu option of Redis brokers",
        "FILE: celery[1].broker: `redis://127.0.0.1:6379` is not sentinel://host:port",
        "FILE: celery[1].master_name: a sentinel:// broker needs the master's name",
        "FILE: mongodb[0].collections[0]: set either name or pattern",
        "FILE: mongodb[0].collections[1].pattern: `nifty[` is not a shell pattern",
        "FILE: defaults.celery_queue_wait_buckets: [1.0, 0.5] must be finite bucket bounds",
        "FILE: unknown_section: unknown key",
    ];
    for line in expected {
        assert!(stderr.contains(line), "missing `{line}` in:\n{stderr}");
    }
    assert!(!stderr.contains("s3cret"), "a password leaked:\n{stderr}");
    assert!(stderr.contains("13 problem(s) in FILE"), "{stderr}");
}

#[test]
fn invalid_toml_names_the_line() {
    let (ok, _, stderr) = check("[[redis]]\nname = \"a\nurl = 1\n", &[]);
    assert!(!ok);
    assert!(stderr.contains("FILE: not valid TOML") && stderr.contains("line 2"), "{stderr}");
}

#[test]
fn a_good_config_passes_with_secrets_from_the_environment() {
    let config = r#"
[defaults]
timeout = "3s"
[[redis]]
name = "cache"
url = "redis://:${REDIS_PASSWORD}@127.0.0.1:6379/0"
streams = ["ticks:*"]
[[celery]]
name = "broker"
broker = "redis://127.0.0.1:6379/1"
discover = true
events = true
"#;
    let (ok, stdout, stderr) = check(config, &[("REDIS_PASSWORD", "pw")]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("OK (1 redis, 1 celery, 0 mongodb, 0 websocket target(s)"), "{stdout}");
}

#[test]
fn help_and_version_answer() {
    let help = Command::new(env!("CARGO_BIN_EXE_tickwatch-exporter")).arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.status.success() && text.contains("--check-config") && text.contains("--web.listen-address"),
        "{text}"
    );
    let version = Command::new(env!("CARGO_BIN_EXE_tickwatch-exporter")).arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("tickwatch-exporter "));
}

#[test]
fn the_example_config_is_valid() {
    let example = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/exporter.toml")).unwrap();
    let env = [
        ("REDIS_PASSWORD", "pw"),
        ("RABBITMQ_PASSWORD", "pw"),
        ("MONGODB_PASSWORD", "pw"),
        ("GATEWAY_API_KEY", "key"),
        ("GATEWAY_TOKEN", "token"),
    ];
    let (ok, stdout, stderr) = check(&example, &env);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("1 redis, 2 celery, 1 mongodb, 2 websocket"), "{stdout}");
}

#[test]
fn tls_mistakes_are_caught_before_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    let config = format!(
        r#"
[[redis]]
name = "plain-with-tls"
url = "redis://127.0.0.1:6379"
tls_config = {{ insecure_skip_verify = true }}
[[redis]]
name = "half-identity"
url = "rediss://127.0.0.1:6380"
tls_config = {{ cert_file = "{pem}" }}
[[redis]]
name = "renamed"
url = "rediss://127.0.0.1:6380"
tls_config = {{ server_name = "cache.internal" }}
[[celery]]
name = "missing-ca"
broker = "amqps://app:s3cret@127.0.0.1/%2f"
queues = ["q"]
tls_config = {{ ca_file = "/nonexistent/ca.pem" }}
[[websocket]]
name = "gateway"
url = "wss://127.0.0.1:9443/"
tls_config = {{ ca_file = "{pem}", tls_version = "1.3" }}
[[feed]]
name = "ticks"
kind = "trade"
source = {{ type = "redis-stream", url = "rediss://127.0.0.1:6380", stream = "s", tls_config = {{ ca_file = "{pem}" }} }}
"#,
        pem = not_pem.display()
    );
    let (ok, _, stderr) = check(&config, &[]);
    assert!(!ok);
    let expected = [
        "FILE: redis[0].tls_config: TLS settings need a rediss:// URL",
        "FILE: redis[1].tls_config.key_file: cert_file needs its key_file",
        "FILE: redis[2].tls_config.server_name: server_name is not supported for Redis",
        "FILE: celery[0].tls_config.ca_file: `/nonexistent/ca.pem`",
        "FILE: websocket[0].tls_config.tls_version: unknown field `tls_version`",
        "FILE: feed[0].source.tls_config.ca_file:",
    ];
    for line in expected {
        assert!(stderr.contains(line), "missing `{line}` in:\n{stderr}");
    }
    assert!(!stderr.contains("s3cret"), "a password leaked:\n{stderr}");
}
