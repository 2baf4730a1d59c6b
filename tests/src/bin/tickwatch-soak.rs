//! The soak run (not in CI; `scripts/soak.sh`): trades at a steady rate for a long time
//! through the loadgen into real Redis pub/sub and the loadgen's own WebSocket gateway,
//! watched by the exporter (a `[[redis]]` target, a monitor of the gateway, and a feed on
//! each path). Every 10 s it samples the RSS and CPU of both programs and the messages the
//! exporter's feeds decoded; at the end it reports the RSS slope after the warm-up (a
//! least-squares fit, MiB per hour), the drift of the delivered rate (last tenth of the
//! run against the first tenth after warm-up), and the loadgen's counts, and appends them
//! to the results file with the date and the machine.
//!
//! `tickwatch-soak [--minutes 30] [--rate 20000] [--warmup-minutes 5] [--out benches/soak/RESULTS.md]`

use clap::Parser;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};
use tickwatch_tests::{Exporter, KitError, RedisServer, Server, free_port, repo_root, value};

const SAMPLE_EVERY: Duration = Duration::from_secs(10);

/// Trades at a steady rate for a long time through the loadgen, watched by the exporter;
/// appends the RSS slope, rate drift and counts to a results file.
#[derive(Parser)]
struct Options {
    /// How long the run lasts.
    #[arg(long, default_value_t = 30.0)]
    minutes: f64,
    /// Messages a second into each of the two sinks.
    #[arg(long, default_value_t = 20_000)]
    rate: u64,
    /// The first minutes left out of the RSS slope and the rate drift.
    #[arg(long, default_value_t = 5.0)]
    warmup_minutes: f64,
    /// The results file appended to [default: benches/soak/RESULTS.md in the repository].
    #[arg(long)]
    out: Option<PathBuf>,
}

fn options() -> Result<Options, KitError> {
    let o = Options::parse();
    if o.warmup_minutes >= o.minutes {
        return Err(KitError("--warmup-minutes must be shorter than --minutes".into()));
    }
    Ok(o)
}

fn sibling(name: &str) -> Result<PathBuf, KitError> {
    let path = std::env::current_exe()?.parent().map(|d| d.join(name)).unwrap_or_default();
    path.is_file()
        .then_some(path.clone())
        .ok_or_else(|| KitError(format!("{} is missing: scripts/soak.sh builds it", path.display())))
}

/// One sample of both programs.
struct Sample {
    at_s: f64,
    exporter_rss_mib: f64,
    loadgen_rss_mib: f64,
    exporter_cpu_s: f64,
    loadgen_cpu_s: f64,
    /// Messages the exporter's two feeds decoded so far.
    decoded: f64,
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok());
    kib.unwrap_or(f64::NAN) / 1024.0
}

/// User and system CPU seconds of `pid` (fields 14 and 15 of /proc/PID/stat, after the
/// command name in parentheses).
fn cpu_seconds(pid: u32, ticks_per_second: f64) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let tick = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(f64::NAN);
    (tick(11) + tick(12)) / ticks_per_second
}

fn clock_ticks() -> f64 {
    let out = Command::new("getconf").arg("CLK_TCK").output().ok();
    out.and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok()).unwrap_or(100.0)
}

fn cpu_model() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field =
        |name: &str| info.lines().find(|l| l.starts_with(name)).and_then(|l| l.split(':').nth(1)).map(str::trim);
    let cores = info.lines().filter(|l| l.starts_with("processor")).count();
    format!("{} ({} MHz), {cores} cores", field("model name").unwrap_or("unknown CPU"), field("cpu MHz").unwrap_or("?"))
}

/// Least-squares slope of `y` over `x`.
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    let (mx, my) = (points.iter().map(|p| p.0).sum::<f64>() / n, points.iter().map(|p| p.1).sum::<f64>() / n);
    let num: f64 = points.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    let den: f64 = points.iter().map(|(x, _)| (x - mx).powi(2)).sum();
    num / den
}

fn scenario(redis: &RedisServer, gateway_port: u16, o: &Options) -> String {
    format!(
        r#"name = "soak"
seed = 7

[[source]]
name = "trades"
kind = "synthetic-trades"
symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]

[[sink]]
name = "bus"
source = "trades"
kind = "redis"
url = "{url}"
mode = "publish"
key = "trades.{{symbol}}"

[[sink]]
name = "gateway"
source = "trades"
kind = "websocket-server"
listen = "127.0.0.1:{gateway_port}"
wait_for_subscribers = 1

[[phase]]
name = "steady"
duration = "{seconds}s"
rate = {rate}
"#,
        url = redis.url(),
        seconds = (o.minutes * 60.0).round() as u64,
        rate = o.rate,
    )
}

fn exporter_config(redis: &RedisServer, gateway_port: u16) -> String {
    format!(
        r#"[[redis]]
name = "redis"
url = "{url}"

[[websocket]]
name = "gateway"
url = "ws://127.0.0.1:{gateway_port}/"
mode = "monitor"
subscribe = '{{"op":"subscribe","symbols":["BTCUSDT","ETHUSDT","SOLUSDT"]}}'
timestamp_pointer = "/ts_ns"

[[feed]]
name = "bus"
kind = "trade"
source = {{ type = "redis-pubsub", url = "{url}", channel = "trades.*" }}

[[feed]]
name = "gateway-trades"
kind = "trade"
source = {{ type = "websocket", target = "gateway" }}
"#,
        url = redis.url()
    )
}

fn main() -> Result<(), KitError> {
    let o = options()?;
    let redis = RedisServer::start()?;
    let gateway_port = free_port();
    let mut exporter =
        Exporter::start(&sibling("tickwatch-exporter")?, &exporter_config(&redis, gateway_port), "warn")?;
    let dir = tempfile::Builder::new().prefix("tickwatch-soak-").tempdir()?;
    let scenario_path = dir.path().join("soak.toml");
    std::fs::write(&scenario_path, scenario(&redis, gateway_port, &o))?;
    let report = dir.path().join("report");
    let mut loadgen: Child = Command::new(sibling("tickwatch-loadgen")?)
        .arg("run")
        .arg(&scenario_path)
        .arg("--report-dir")
        .arg(&report)
        .spawn()?;
    let exporter_pid = exporter.process().pid().ok_or_else(|| KitError("the exporter is not running".into()))?;
    let ticks = clock_ticks();
    let start = Instant::now();
    let mut samples = Vec::new();
    println!("soak: {} min at {} msg/s per sink; a sample every {SAMPLE_EVERY:?}", o.minutes, o.rate);
    let status = loop {
        std::thread::sleep(SAMPLE_EVERY);
        if let Some(status) = loadgen.try_wait()? {
            break status;
        }
        let metrics = exporter.metrics();
        let decoded = ["bus", "gateway-trades"]
            .iter()
            .map(|feed| value(&metrics, "data_feed_messages_decoded_total", &[("feed", feed)]).unwrap_or(0.0))
            .sum();
        let s = Sample {
            at_s: start.elapsed().as_secs_f64(),
            exporter_rss_mib: rss_mib(exporter_pid),
            loadgen_rss_mib: rss_mib(loadgen.id()),
            exporter_cpu_s: cpu_seconds(exporter_pid, ticks),
            loadgen_cpu_s: cpu_seconds(loadgen.id(), ticks),
            decoded,
        };
        println!(
            "soak: {:>6.0} s  exporter {:>6.1} MiB {:>7.1} s CPU  loadgen {:>6.1} MiB {:>7.1} s CPU  decoded {:.0}",
            s.at_s, s.exporter_rss_mib, s.exporter_cpu_s, s.loadgen_rss_mib, s.loadgen_cpu_s, s.decoded
        );
        samples.push(s);
    };
    let summary = std::fs::read_to_string(report.join("summary.json"))
        .map_err(|e| KitError(format!("the loadgen ({status}) wrote no summary.json ({e}); see its output above")))?;
    let summary: serde_json::Value =
        serde_json::from_str(&summary).map_err(|e| KitError(format!("the loadgen's summary.json: {e}")))?;
    let results = results(&o, &samples, &summary, status.code());
    print!("{results}");
    let out = o.out.clone().unwrap_or_else(|| repo_root().join("benches/soak/RESULTS.md"));
    append(&out, &results)?;
    println!("soak: appended to {}", out.display());
    Ok(())
}

/// The markdown section for the results file.
fn results(o: &Options, samples: &[Sample], summary: &serde_json::Value, exit: Option<i32>) -> String {
    let warm: Vec<&Sample> = samples.iter().filter(|s| s.at_s >= o.warmup_minutes * 60.0).collect();
    let fit = |rss: fn(&Sample) -> f64| slope(&warm.iter().map(|s| (s.at_s / 3600.0, rss(s))).collect::<Vec<_>>());
    // Delivered rate over windows of a tenth of the warm samples, first against last.
    let window = (warm.len() / 10).max(1);
    let rate = |w: &[&Sample]| (w[w.len() - 1].decoded - w[0].decoded) / (w[w.len() - 1].at_s - w[0].at_s);
    let (first, last) =
        (rate(&warm[..=window.min(warm.len() - 1)]), rate(&warm[warm.len() - 1 - window.min(warm.len() - 1)..]));
    let cpu =
        |f: fn(&Sample) -> f64| (f(warm[warm.len() - 1]) - f(warm[0])) / (warm[warm.len() - 1].at_s - warm[0].at_s);
    let sink = |name: &str| {
        let s = &summary["sinks"][name];
        format!("attempted {} = sent {} + failed {}", s["attempted"], s["sent"], s["failed"])
    };
    let now = time::OffsetDateTime::now_utc();
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    line(format!("\n## {} — {} min at {} msg/s per sink\n", now.date(), o.minutes, o.rate));
    line(format!("- Machine: {}; loadgen exit code {exit:?}.", cpu_model()));
    line(format!(
        "- RSS slope after {} min of warm-up: exporter {:+.2} MiB/h, loadgen {:+.2} MiB/h (least squares over {} samples).",
        o.warmup_minutes,
        fit(|s| s.exporter_rss_mib),
        fit(|s| s.loadgen_rss_mib),
        warm.len()
    ));
    line(format!(
        "- RSS at the end: exporter {:.1} MiB, loadgen {:.1} MiB; at the end of warm-up {:.1} and {:.1}.",
        samples.last().map_or(f64::NAN, |s| s.exporter_rss_mib),
        samples.last().map_or(f64::NAN, |s| s.loadgen_rss_mib),
        warm[0].exporter_rss_mib,
        warm[0].loadgen_rss_mib
    ));
    line(format!(
        "- CPU after warm-up: exporter {:.2} cores, loadgen {:.2} cores.",
        cpu(|s| s.exporter_cpu_s),
        cpu(|s| s.loadgen_cpu_s)
    ));
    line(format!(
        "- Decoded by the exporter's two feeds: {first:.0} msg/s in the first tenth after warm-up, {last:.0} msg/s in the last (drift {:+.2} %; {} expected).",
        (last / first - 1.0) * 100.0,
        2 * o.rate
    ));
    line(format!("- Loadgen: bus {}; gateway {}.", sink("bus"), sink("gateway")));
    line("\n| t (s) | exporter RSS (MiB) | loadgen RSS (MiB) | exporter CPU (s) | loadgen CPU (s) | decoded |".into());
    line("|---:|---:|---:|---:|---:|---:|".into());
    for s in samples.iter().step_by(6) {
        line(format!(
            "| {:.0} | {:.1} | {:.1} | {:.1} | {:.1} | {:.0} |",
            s.at_s, s.exporter_rss_mib, s.loadgen_rss_mib, s.exporter_cpu_s, s.loadgen_cpu_s, s.decoded
        ));
    }
    out
}

fn append(path: &Path, text: &str) -> Result<(), KitError> {
    let new = !path.exists();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    if new {
        file.write_all(b"# Soak runs (scripts/soak.sh)\n\nEach run appends its section; figures are from the machine named in it.\n")?;
    }
    file.write_all(text.as_bytes())?;
    Ok(())
}
