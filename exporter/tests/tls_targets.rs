//! TLS to targets against real TLS servers: redis-server with `--tls-port` (with and
//! without required client certificates, and an ACL user), a wss:// gateway that
//! requires client certificates. Each bad certificate (untrusted, expired, wrong host,
//! no client certificate) fails its own target with reason `tls` and a log line that
//! says what to fix; the others go on.

mod common;

use common::{start_exporter, wait_for};
use std::time::Duration;
use tickwatch_tests::{MongoServer, Pki, RabbitMq, RedisServer, Server, WebSocketServer, value};

#[test]
fn rediss_targets_work_and_bad_certificates_fail_alone() {
    let pki = Pki::new().unwrap();
    let open = RedisServer::start_tls(&pki, &pki.server, false).unwrap();
    let mutual = RedisServer::start_tls(&pki, &pki.server, true).unwrap();
    let expired = RedisServer::start_tls(&pki, &pki.expired, false).unwrap();
    let wrong_host = RedisServer::start_tls(&pki, &pki.wrong_host, false).unwrap();
    let mut con = mutual.connection().unwrap();
    // The README's least-privilege ACL for the exporter's probes.
    let acl = "on >s3cret ~* &* -@all +info +ping +select +scan +exists +llen +hlen +smembers +xlen +xrevrange \
               +xinfo|groups +slowlog|len +slowlog|get +latency|histogram +pubsub|channels +pubsub|numsub";
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg("probe")
        .arg(acl.split_whitespace().collect::<Vec<_>>())
        .exec(&mut con)
        .unwrap();
    let _: () = redis::cmd("XADD").arg("ticks:BTC").arg("*").arg("p").arg(1).exec(&mut con).unwrap();
    let _: () = redis::cmd("LPUSH").arg("celery").arg("t1").arg("t2").exec(&mut open.connection().unwrap()).unwrap();

    let ca = pki.ca();
    let client = format!("cert_file = \"{}\", key_file = \"{}\"", pki.client.cert(), pki.client.key());
    let stranger = format!("cert_file = \"{}\", key_file = \"{}\"", pki.stranger.cert(), pki.stranger.key());
    let acl_url = format!("rediss://probe:s3cret@127.0.0.1:{}/0", mutual.port());
    let tls = format!("tls_config = {{ ca_file = \"{ca}\", {client} }}");
    let acl_targets = format!(
        "[[redis]]\nname = \"mutual_acl\"\nurl = \"{acl_url}\"\nstreams = [\"ticks*\"]\nchannels = [\"trades*\"]\n{tls}\n\
         [[celery]]\nname = \"acl_broker\"\nbroker = \"{acl_url}\"\nqueues = [\"celery\"]\ndiscover = true\n{tls}\n"
    );
    let config = format!(
        "[[redis]]\nname = \"trusted\"\nurl = \"{open}\"\ntls_config = {{ ca_file = \"{ca}\" }}\n\
         [[redis]]\nname = \"web_roots\"\nurl = \"{open}\"\n\
         [[redis]]\nname = \"other_ca\"\nurl = \"{open}\"\ntls_config = {{ ca_file = \"{other}\" }}\n\
         [[redis]]\nname = \"skip_verify\"\nurl = \"{open}\"\ntls_config = {{ insecure_skip_verify = true }}\n\
         {acl_targets}\
         [[redis]]\nname = \"no_client_cert\"\nurl = \"{mutual}\"\ntls_config = {{ ca_file = \"{ca}\" }}\n\
         [[redis]]\nname = \"stranger_cert\"\nurl = \"{mutual}\"\ntls_config = {{ ca_file = \"{ca}\", {stranger} }}\n\
         [[redis]]\nname = \"expired\"\nurl = \"{expired}\"\ntls_config = {{ ca_file = \"{ca}\" }}\n\
         [[redis]]\nname = \"wrong_host\"\nurl = \"{wrong}\"\ntls_config = {{ ca_file = \"{ca}\" }}\n\
         [[celery]]\nname = \"broker\"\nbroker = \"{open}\"\nqueues = [\"celery\"]\nevents = true\ntls_config = {{ ca_file = \"{ca}\" }}\n\
         [[feed]]\nname = \"trades\"\nkind = \"trade\"\n\
         source = {{ type = \"redis-pubsub\", url = \"{mutual}\", channel = \"trades\", tls_config = {{ ca_file = \"{ca}\", {client} }} }}\n\
         [[feed]]\nname = \"ticks\"\nkind = \"trade\"\n\
         source = {{ type = \"redis-stream\", url = \"{open}\", stream = \"ticks\", group = \"g\", tls_config = {{ ca_file = \"{ca}\" }} }}\n",
        open = open.url(),
        mutual = mutual.url(),
        expired = expired.url(),
        wrong = wrong_host.url(),
        other = pki.other_ca.display(),
    );
    let mut exporter = start_exporter(&config);
    let mut text = String::new();
    wait_for("the TLS consumers to connect", Duration::from_secs(20), || {
        text = exporter.metrics();
        [("celery_events_connected", ("target", "broker")), ("data_feed_connected", ("feed", "trades"))]
            .iter()
            .chain(&[("data_feed_connected", ("feed", "ticks"))])
            .all(|(name, label)| value(&text, name, &[*label]) == Some(1.0))
    });
    let success = |target: &str| value(&text, "tickwatch_probe_success", &[("target", target)]);
    for ok in ["trusted", "skip_verify", "mutual_acl", "acl_broker", "broker"] {
        assert_eq!(success(ok), Some(1.0), "{ok}:\n{}", exporter.process().log_tail(40));
    }
    assert_eq!(value(&text, "celery_queue_length", &[("target", "broker"), ("queue_name", "celery")]), Some(2.0));
    assert_eq!(value(&text, "redis_stream_length", &[("target", "mutual_acl"), ("stream", "ticks:BTC")]), Some(1.0));
    assert!(!refused_commands(&text), "the ACL user was refused a command:\n{text}");
    assert!(value(&text, "redis_slowlog_length", &[("target", "mutual_acl")]).is_some(), "{text}");
    let latencies = r#"redis_commands_latencies_usec_count{target="mutual_acl",cmd="info"}"#;
    assert!(text.contains(latencies), "{text}");
    for bad in ["web_roots", "other_ca", "no_client_cert", "stranger_cert", "expired", "wrong_host"] {
        assert_eq!(success(bad), Some(0.0), "{bad}");
        assert_eq!(value(&text, "redis_up", &[("target", bad)]), Some(0.0), "{bad}");
    }
    // TLS 1.3 tells a client without a certificate only after the handshake: its first
    // command usually reads the server's alert (reason tls), but it can also meet the
    // closed socket first (broken pipe: reason connection). Later scrapes read the alert.
    let bad_targets = ["web_roots", "other_ca", "no_client_cert", "stranger_cert", "expired", "wrong_host"];
    let start = std::time::Instant::now();
    loop {
        let text = exporter.metrics();
        let without_tls: Vec<&str> = bad_targets
            .into_iter()
            .filter(|bad| {
                !value(&text, "tickwatch_probe_errors_total", &[("target", bad), ("reason", "tls")])
                    .is_some_and(|n| n >= 1.0)
            })
            .collect();
        if without_tls.is_empty() {
            break;
        }
        // Say what they failed with instead, so a failure here can be understood from CI's log.
        let errors: Vec<&str> = text
            .lines()
            .filter(|l| {
                l.starts_with("tickwatch_probe_errors_total")
                    && without_tls.iter().any(|t| l.contains(&format!("target=\"{t}\"")))
            })
            .collect();
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no tls error in 20 s for {without_tls:?}; their errors:\n{}\n{}",
            errors.join("\n"),
            exporter.process().log_tail(60)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let log = exporter.process().log_text();
    let line = |target: &str| {
        log.lines()
            .find(|l| l.contains(&format!("\"target\":\"{target}\"")) && l.contains("probe failed"))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(line("other_ca").contains("not signed by a CA") && line("other_ca").contains("other-ca.pem"), "{log}");
    assert!(line("web_roots").contains("public web roots"), "{}", line("web_roots"));
    assert!(line("expired").contains("expired"), "{}", line("expired"));
    assert!(line("wrong_host").contains("does not hold this host name"), "{}", line("wrong_host"));
    assert!(line("no_client_cert").contains("client certificate"), "{}", line("no_client_cert"));
    assert!(!log.contains("s3cret"), "no password in the log");
}

/// Whether the ACL user's server counted commands refused for want of permission (NOPERM).
fn refused_commands(text: &str) -> bool {
    value(text, "redis_errors_total", &[("target", "mutual_acl"), ("err", "NOPERM")]).is_some_and(|n| n > 0.0)
}

#[test]
fn wss_with_client_certificates() {
    let pki = Pki::new().unwrap();
    let gateway = WebSocketServer::start(&[
        "--count",
        "1000000",
        "--no-subscribe",
        "--cert",
        pki.server.cert(),
        "--key",
        pki.server.key(),
        "--client-ca",
        pki.ca(),
    ])
    .unwrap();
    let url = format!("wss://127.0.0.1:{}/", gateway.port());
    let ca = pki.ca();
    let client = format!("cert_file = \"{}\", key_file = \"{}\"", pki.client.cert(), pki.client.key());
    let exporter = start_exporter(&format!(
        "[[websocket]]\nname = \"mutual\"\nurl = \"{url}\"\ntls_config = {{ ca_file = \"{ca}\", {client} }}\n\
         [[websocket]]\nname = \"by_name\"\nurl = \"{url}\"\ntls_config = {{ ca_file = \"{ca}\", server_name = \"localhost\", {client} }}\n\
         [[websocket]]\nname = \"no_client_cert\"\nurl = \"{url}\"\ntls_config = {{ ca_file = \"{ca}\" }}\n\
         [[websocket]]\nname = \"wrong_name\"\nurl = \"{url}\"\ntls_config = {{ ca_file = \"{ca}\", server_name = \"other.example\", {client} }}\n"
    ));
    let text = exporter.metrics();
    let success = |target: &str| value(&text, "tickwatch_probe_success", &[("target", target)]);
    assert_eq!(success("mutual"), Some(1.0), "{text}");
    assert_eq!(success("by_name"), Some(1.0), "{text}");
    let reasons = |target: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.starts_with("tickwatch_probe_errors_total") && l.contains(&format!("target=\"{target}\"")))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(success("wrong_name"), Some(0.0));
    let wrong_name = reasons("wrong_name");
    assert!(wrong_name.len() == 1 && wrong_name[0].contains("reason=\"tls\""), "{wrong_name:?}");
    // Without a client certificate the gateway (OpenSSL) sends a certificate_required
    // alert and closes; when its close resets the connection before the alert is read
    // (the client's upgrade request is still unread there), all the client can see is
    // the reset.
    assert_eq!(success("no_client_cert"), Some(0.0));
    let no_cert = reasons("no_client_cert");
    assert!(
        no_cert.len() == 1 && (no_cert[0].contains("reason=\"tls\"") || no_cert[0].contains("reason=\"closed\"")),
        "{no_cert:?}"
    );
}

#[test]
fn mongodb_over_tls_with_a_client_certificate() {
    let pki = Pki::new().unwrap();
    let mongo = MongoServer::start_tls(&pki, true).unwrap();
    let uri = mongo.uri();
    let ca = pki.ca();
    let client = format!("cert_file = \"{}\", key_file = \"{}\"", pki.client.cert(), pki.client.key());
    let exporter = start_exporter(&format!(
        "[[mongodb]]\nname = \"mutual\"\nuri = \"{uri}\"\ntls_config = {{ ca_file = \"{ca}\", {client} }}\n\
         [[mongodb]]\nname = \"other_ca\"\nuri = \"{uri}\"\ntls_config = {{ ca_file = \"{other}\", {client} }}\n\
         [[mongodb]]\nname = \"plain\"\nuri = \"{uri}\"\n",
        other = pki.other_ca.display()
    ));
    let text = exporter.metrics();
    let success = |target: &str| value(&text, "tickwatch_probe_success", &[("target", target)]);
    assert_eq!(success("mutual"), Some(1.0), "{text}");
    assert_eq!(value(&text, "mongodb_up", &[("target", "mutual")]), Some(1.0));
    assert_eq!(success("other_ca"), Some(0.0));
    let errors = value(&text, "tickwatch_probe_errors_total", &[("target", "other_ca"), ("reason", "tls")]);
    assert!(errors.is_some_and(|n| n >= 1.0), "{text}");
    assert_eq!(success("plain"), Some(0.0), "a plain client gets nothing from a TLS-only server");
}

#[test]
fn amqps_brokers_with_a_client_certificate() {
    let pki = Pki::new().unwrap();
    let rabbit = RabbitMq::start_tls(&pki).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _connection = runtime.block_on(async {
        use lapin::options::{BasicPublishOptions, QueueDeclareOptions};
        let connection =
            lapin::Connection::connect(&rabbit.url(), lapin::ConnectionProperties::default()).await.unwrap();
        let channel = connection.create_channel().await.unwrap();
        channel.queue_declare("orders".into(), QueueDeclareOptions::default(), Default::default()).await.unwrap();
        for i in 0..3 {
            let body = format!("{i}");
            let publish = BasicPublishOptions::default();
            channel
                .basic_publish("".into(), "orders".into(), publish, body.as_bytes(), Default::default())
                .await
                .unwrap();
        }
        connection
    });
    // The README's least privilege: a monitoring user with no configure, write or read
    // permission at all (passive declares need none).
    rabbit.ctl(&["add_user", "tickwatch", "s3cret"]).unwrap();
    rabbit.ctl(&["set_permissions", "-p", "/", "tickwatch", "^$", "^$", "^$"]).unwrap();
    let url = rabbit.tls_url().unwrap().replace("guest:guest", "tickwatch:s3cret");
    let ca = pki.ca();
    let client = format!("cert_file = \"{}\", key_file = \"{}\"", pki.client.cert(), pki.client.key());
    let exporter = start_exporter(&format!(
        "[[celery]]\nname = \"mutual\"\nbroker = \"{url}\"\nqueues = [\"orders\"]\ntls_config = {{ ca_file = \"{ca}\", {client} }}\n\
         [[celery]]\nname = \"other_ca\"\nbroker = \"{url}\"\nqueues = [\"orders\"]\ntls_config = {{ ca_file = \"{other}\", {client} }}\n",
        other = pki.other_ca.display()
    ));
    let mut text = String::new();
    wait_for("the queue's three messages", Duration::from_secs(20), || {
        text = exporter.metrics();
        value(&text, "celery_queue_length", &[("target", "mutual"), ("queue_name", "orders")]) == Some(3.0)
    });
    assert_eq!(value(&text, "tickwatch_probe_success", &[("target", "other_ca")]), Some(0.0));
    let errors = value(&text, "tickwatch_probe_errors_total", &[("target", "other_ca"), ("reason", "tls")]);
    assert!(errors.is_some_and(|n| n >= 1.0), "{text}");
}
