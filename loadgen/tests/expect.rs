//! `run --prometheus URL --alertmanager URL` checks a scenario's `[expect]` against a real
//! Prometheus evaluating real rules and a real Alertmanager: a kept expectation exits 0, a
//! broken one exits 99 and is named; without --prometheus nothing is claimed.

mod common;

use common::run_scenario;
use serde_json::Value;
use tickwatch_tests::{Alertmanager, Pki, Prometheus, bcrypt_hash};

/// `AlwaysFiring` waits 5 s so Prometheus has found its Alertmanager by then (an alert
/// that fires before is only sent again after the resend delay, a minute).
const RULES: &str = "groups:\n- name: kit\n  interval: 1s\n  rules:\n  - alert: AlwaysFiring\n    expr: vector(1)\n    for: 5s\n  \
                     - alert: NeverFires\n    expr: vector(1) == 0\n";

/// Prometheus with the two rules, delivering to a real Alertmanager.
fn monitoring() -> (Prometheus, Alertmanager) {
    let alertmanager =
        Alertmanager::start("route: {receiver: none, group_wait: 0s}\nreceivers: [{name: none}]\n").unwrap();
    let config = format!(
        "global: {{evaluation_interval: 1s}}\nrule_files: [rules.yml]\n\
         alerting: {{alertmanagers: [{{static_configs: [{{targets: ['{}']}}]}}]}}\n",
        alertmanager.url().trim_start_matches("http://")
    );
    (Prometheus::start(&config, &[("rules.yml", RULES)]).unwrap(), alertmanager)
}

/// Runs a 2 s file-sink scenario with `expect` and `args`: exit code, stderr, verdict.
fn run(expect: &str, args: &[&str]) -> (i32, String, Value) {
    let scenario = format!(
        "name = \"expect\"\n[[source]]\nname = \"t\"\nkind = \"synthetic-trades\"\nsymbols = [\"BTCUSDT\"]\n\
         [[sink]]\nname = \"out\"\nsource = \"t\"\nkind = \"file\"\npath = \"DIR/o.jsonl\"\n\
         [[phase]]\nname = \"p\"\nduration = \"2s\"\nrate = 50\n[expect]\n{expect}"
    );
    let finished = run_scenario(&scenario, args);
    (finished.code, finished.stderr.clone(), finished.summary()["verdict"].clone())
}

fn failed_names(verdict: &Value) -> Vec<String> {
    let checks = verdict["checks"].as_array().unwrap();
    checks.iter().filter(|c| c["passed"] == false).map(|c| c["name"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn expectations_are_checked_against_a_real_prometheus_and_alertmanager() {
    let (prometheus, alertmanager) = monitoring();
    let stack = ["--prometheus", &prometheus.url(), "--alertmanager", &alertmanager.url()];
    let kept = "alerts_firing = [\"AlwaysFiring\"]\nalerts_silent = [\"NeverFires\"]\nalerts_only = true\n\
                within = \"30s\"\nqueries = [\"vector(1) > 0\"]\n";
    let (code, stderr, verdict) = run(kept, &stack);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(verdict["checks"].as_array().unwrap().len(), 4, "{verdict}");
    assert!(failed_names(&verdict).is_empty(), "{verdict}");
    assert!(stderr.contains("alert AlwaysFiring fires") && stderr.contains("verdict: passed"), "{stderr}");

    let broken = "alerts_firing = [\"NeverFires\"]\nalerts_silent = [\"AlwaysFiring\"]\nwithin = \"3s\"\n\
                  queries = [\"vector(1) > 5\"]\n";
    let (code, stderr, verdict) = run(broken, &stack);
    assert_eq!(code, 99, "{stderr}");
    let failed = failed_names(&verdict);
    assert_eq!(
        failed,
        ["alert NeverFires fires", "alert AlwaysFiring stays silent", "query vector(1) > 5"],
        "{verdict}"
    );
    assert!(stderr.contains("did not fire by 3 s after the end"), "{stderr}");
}

#[test]
fn without_prometheus_expectations_are_not_checked_and_not_passed() {
    let (code, stderr, verdict) = run("alerts_firing = [\"AlwaysFiring\"]\n", &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(verdict["checks"].as_array().unwrap().is_empty(), "{verdict}");
    assert_eq!(verdict["not_checked"][0], "alert AlwaysFiring fires (no --prometheus)");
    assert!(stderr.contains("not checked: alert AlwaysFiring fires (no --prometheus)"), "{stderr}");
}

#[test]
fn an_unreachable_prometheus_fails_the_check_with_the_url_masked() {
    let port = tickwatch_tests::free_port();
    let url = format!("http://monitor:s3cret@127.0.0.1:{port}");
    let (code, stderr, verdict) = run("queries = [\"up\"]\n", &["--prometheus", &url]);
    assert_eq!(code, 99, "{stderr}");
    assert!(!stderr.contains("s3cret") && !verdict.to_string().contains("s3cret"), "{stderr}");
    assert!(stderr.contains("did not answer"), "{stderr}");
}

#[test]
fn dashboards_are_proven_panel_by_panel() {
    let (prometheus, _alertmanager) = monitoring();
    let boards = tempfile::tempdir().unwrap();
    let board = serde_json::json!({"panels": [
        {"title": "Has data", "targets": [{"expr": "absent_over_time(nothing{job=\"$job\"}[$__rate_interval])"}]},
        {"title": "Second query has data", "targets": [{"expr": "no_such_metric"}, {"expr": "vector(1)"}]},
        {"title": "Never has data", "targets": [{"expr": "no_such_metric_either"}]},
    ]});
    std::fs::write(boards.path().join("board.json"), board.to_string()).unwrap();
    let dir = boards.path().display().to_string();
    let (code, stderr, verdict) = run("", &["--prometheus", &prometheus.url(), "--dashboards", &dir]);
    assert_eq!(code, 99, "{stderr}");
    assert_eq!(failed_names(&verdict), ["panel board.json: Never has data"], "{verdict}");
    assert_eq!(verdict["checks"].as_array().unwrap().len(), 3, "{verdict}");
}

/// An https Prometheus with basic authentication (its own --web.config.file): checked
/// with the CA given; without it, the TLS failure names the flag to set; a wrong
/// password is a 401, named; the password shows nowhere.
#[test]
fn an_https_prometheus_with_basic_auth_is_checked_with_the_given_ca() {
    let pki = Pki::new().unwrap();
    let hash = bcrypt_hash("monitor", "s3cret").unwrap();
    let prometheus =
        Prometheus::start_tls("global: {evaluation_interval: 1s}\n", &[], &pki, Some(("monitor", &hash))).unwrap();
    let url = prometheus.url().replace("https://", "https://monitor:s3cret@");
    let query = "queries = [\"vector(1) > 0\"]\n";

    let (code, stderr, verdict) = run(query, &["--prometheus", &url, "--monitoring-ca-file", pki.ca()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(failed_names(&verdict).is_empty(), "{verdict}");

    let (code, stderr, _) = run(query, &["--prometheus", &url]);
    assert_eq!(code, 99, "{stderr}");
    assert!(stderr.contains("--monitoring-ca-file"), "the TLS failure names the flag: {stderr}");

    let wrong = prometheus.url().replace("https://", "https://monitor:wrong@");
    let (code, stderr, verdict) = run(query, &["--prometheus", &wrong, "--monitoring-ca-file", pki.ca()]);
    assert_eq!(code, 99, "{stderr}");
    assert!(stderr.contains("answered 401"), "{stderr}");
    assert!(!stderr.contains("s3cret") && !verdict.to_string().contains("s3cret"), "{stderr}");

    let unreadable = run_scenario(
        "name = \"x\"\n[[source]]\nname = \"t\"\nkind = \"synthetic-trades\"\nsymbols = [\"BTCUSDT\"]\n\
         [[sink]]\nname = \"out\"\nsource = \"t\"\nkind = \"file\"\npath = \"DIR/o.jsonl\"\n\
         [[phase]]\nname = \"p\"\nduration = \"1s\"\nrate = 1\n",
        &["--prometheus", &url, "--monitoring-ca-file", "/nonexistent/ca.pem"],
    );
    assert_eq!(unreadable.code, 2, "{}", unreadable.stderr);
    assert!(unreadable.stderr.contains("--monitoring-ca-file: `/nonexistent/ca.pem`"), "{}", unreadable.stderr);
}
