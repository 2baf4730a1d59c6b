//! The Grafana dashboards parse, ask for a Prometheus data source through a variable, and
//! every panel query is valid PromQL (a real Prometheus parses it) naming only metrics
//! that tickwatch exports or that the shipped recording rules create.

use std::collections::BTreeSet;
use std::path::Path;
use tickwatch_exporter::probe::celery::TaskState;
use tickwatch_tests::Prometheus;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

fn dashboards() -> Vec<(String, serde_json::Value)> {
    let dir = Path::new(ROOT).join("dashboards/grafana/dashboards");
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap(),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Every metric family name that appears as a string literal in the exporter's and the
/// loadgen's sources, with the histogram suffixes, plus the recording rules' names.
fn known_metrics() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let prefixes = ["redis_", "celery_", "mongodb_", "websocket_", "data_", "option_chain_", "tickwatch_", "process_"];
    let mut files = Vec::new();
    for dir in ["exporter/src", "loadgen/src"] {
        collect_rs(&Path::new(ROOT).join(dir), &mut files);
    }
    for file in files {
        let text = std::fs::read_to_string(file).unwrap();
        for literal in text.split('"').skip(1).step_by(2) {
            let literal = literal.replace("{state}", "sent");
            if prefixes.iter().any(|p| literal.starts_with(p))
                && literal.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            {
                for suffix in ["", "_bucket", "_sum", "_count"] {
                    names.insert(format!("{literal}{suffix}"));
                }
            }
        }
    }
    // Celery task counters are made from their states; the process collector's names.
    for state in TaskState::ALL {
        names.insert(format!("celery_task_{}_total", state.as_str()));
    }
    names.insert("process_resident_memory_bytes".into());
    let rules = std::fs::read_to_string(Path::new(ROOT).join("dashboards/prometheus/alerts.yml")).unwrap();
    for line in rules.lines() {
        if let Some(name) = line.trim().strip_prefix("- record: ") {
            names.insert(name.trim().to_owned());
        }
    }
    names.insert("ALERTS".into());
    names
}

fn collect_rs(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_rs(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Metric names in a PromQL expression: identifiers outside label matchers, ranges and
/// grouping clauses, not followed by `(`, that are not PromQL keywords.
fn metric_names(expr: &str) -> Vec<String> {
    const KEYWORDS: &[&str] =
        &["by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset"];
    let mut cleaned = String::new();
    let mut depth = 0;
    for c in expr.chars() {
        match c {
            '{' | '[' => depth += 1,
            '}' | ']' => depth -= 1,
            _ if depth == 0 => cleaned.push(c),
            _ => {}
        }
    }
    // Drop `by (...)`, `on (...)` and the like.
    for kw in ["by", "without", "on", "ignoring"] {
        while let Some(at) = cleaned.find(&format!("{kw} (")) {
            let end = cleaned[at..].find(')').map_or(cleaned.len(), |e| at + e + 1);
            cleaned.replace_range(at..end, " ");
        }
    }
    let mut names = Vec::new();
    let chars: Vec<char> = cleaned.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_alphabetic() || chars[i] == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let called = chars[i..].iter().find(|c| !c.is_whitespace()) == Some(&'(');
            if !called && !KEYWORDS.contains(&word.as_str()) {
                names.push(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

#[test]
fn dashboards_are_wellformed_and_name_only_exported_metrics() {
    let known = known_metrics();
    let boards = dashboards();
    assert!(boards.len() >= 6, "overview, redis-celery, mongodb, websocket, feed-quality, loadgen");
    let mut exprs = Vec::new();
    for (file, board) in &boards {
        let variables = board["templating"]["list"].as_array().unwrap();
        assert!(
            variables.iter().any(|v| v["type"] == "datasource" && v["query"] == "prometheus"),
            "{file}: datasource variable"
        );
        for panel in board["panels"].as_array().unwrap() {
            let title = panel["title"].as_str().unwrap();
            assert_eq!(panel["datasource"]["uid"], "${datasource}", "{file}: {title}");
            let targets = panel["targets"].as_array().unwrap();
            assert!(!targets.is_empty(), "{file}: {title} has no query");
            for t in targets {
                let expr = t["expr"].as_str().unwrap().to_owned();
                for name in metric_names(&expr) {
                    assert!(known.contains(&name), "{file}: panel `{title}` names `{name}`, which nothing exports");
                }
                exprs.push((file.clone(), title.to_owned(), expr));
            }
        }
    }
    // A real Prometheus parses every query.
    let prometheus = Prometheus::start("global: {scrape_interval: 1m}\n", &[]).unwrap();
    let client = reqwest::blocking::Client::new();
    for (file, title, expr) in exprs {
        let url =
            url::Url::parse_with_params(&format!("{}/api/v1/query", prometheus.url()), &[("query", expr.as_str())])
                .unwrap();
        let body: serde_json::Value = client.get(url).send().unwrap().json().unwrap();
        assert_eq!(body["status"], "success", "{file}: panel `{title}`: `{expr}`: {body}");
    }
}

#[test]
fn metric_names_are_read_from_promql() {
    let names = metric_names(
        r#"histogram_quantile(0.99, sum by (target, le) (rate(websocket_payload_lag_seconds_bucket{target=~"a.*"}[5m]))) > on (target) redis_up"#,
    );
    assert_eq!(names, ["websocket_payload_lag_seconds_bucket", "redis_up"]);
}

/// The loadgen's own dashboard check (`run --dashboards`, as users run it): at the end of
/// the demo scenario through the whole chain, every panel shows data for the run.
#[test]
fn every_panel_shows_data_for_the_demo_scenario() {
    use tickwatch_loadgen::expectations::Monitoring;
    use tickwatch_loadgen::run::{RunOptions, run};
    let exporter = Path::new(env!("CARGO_BIN_EXE_tickwatch-exporter"));
    let chain = tickwatch_tests::Chain::start(exporter, tickwatch_tests::ChainOptions::DEMO).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // The time field of the chain store is indexed, as a platform's would be.
    runtime.block_on(async {
        let client = mongodb::Client::with_uri_str(chain.mongo.uri()).await.unwrap();
        let index = mongodb::IndexModel::builder().keys(mongodb::bson::doc! { "ts_ns": 1 }).build();
        client.database("chains").collection::<mongodb::bson::Document>("snapshots").create_index(index).await.unwrap();
    });
    let demo = Path::new(ROOT).join("scenarios/demo/demo.toml");
    let scenario = tickwatch_loadgen::scenario::parse(&chain.scenario(&demo).unwrap(), "demo.toml").unwrap();
    let panels = tickwatch_loadgen::dashboards::read(&Path::new(ROOT).join("dashboards/grafana/dashboards"));
    let panels = panels.unwrap();
    let expected = panels.len();
    let monitoring =
        Monitoring::new(&chain.prometheus.url(), Some(&chain.alertmanager.url()), &Default::default()).unwrap();
    let options = RunOptions {
        metrics_address: Some(format!("127.0.0.1:{}", chain.loadgen_metrics_port)),
        monitoring: Some(monitoring.with_panels(panels)),
        ..RunOptions::default()
    };
    let outcome = runtime.block_on(run(scenario, options)).unwrap();
    let panel_checks: Vec<_> = outcome.verdict.checks.iter().filter(|c| c.name.starts_with("panel ")).collect();
    assert_eq!(panel_checks.len(), expected, "one check per panel");
    let empty: Vec<String> =
        panel_checks.iter().filter(|c| !c.passed).map(|c| format!("{}: {}", c.name, c.observed)).collect();
    assert!(empty.is_empty(), "panels without data for the demo scenario: {empty:#?}");
}
