//! A sharded run on one machine: three `run --shard I/3` processes started at one
//! `--start-at`, merged by `tickwatch-loadgen merge`, give the report of a single process
//! running the same scenario and seed: the same counts per sink, the same messages, and
//! histograms that hold every message once. Reports that do not belong together are
//! refused with the reason.

use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const LOADGEN: &str = env!("CARGO_BIN_EXE_tickwatch-loadgen");
/// One exchange time for every process, so the same slot makes the same bytes.
const EXCHANGE_START: &str = "2026-01-01T00:00:00Z";

/// Trades of six symbols into a file named by `$OUT`, two phases, two thresholds.
fn scenario(latency_bound_ms: f64) -> String {
    format!(
        "name = \"sharded\"\nseed = 7\n\
         [[source]]\nname = \"trades\"\nkind = \"synthetic-trades\"\n\
         symbols = [\"BTCUSDT\", \"ETHUSDT\", \"SOLUSDT\", \"AAPL\", \"NIFTY\", \"BANKNIFTY\"]\n\
         [[sink]]\nname = \"out\"\nsource = \"trades\"\nkind = \"file\"\npath = \"${{OUT}}\"\n\
         [[phase]]\nname = \"warm\"\nduration = \"1s\"\nrate = 600\n\
         [[phase]]\nname = \"steady\"\nduration = \"2s\"\nrate = 900\n\
         [thresholds]\n\"failed\" = [\"rate < 0.5\"]\n\"latency\" = [\"max < {latency_bound_ms}\"]\n"
    )
}

/// Runs the loadgen with `$OUT` set (the merge loads the scenario too, so it needs the
/// variable, not the file).
fn loadgen(args: &[&str], out: &Path) -> Output {
    Command::new(LOADGEN).args(args).env("OUT", out).output().unwrap()
}

fn summary(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

fn counts(summary: &Value) -> (u64, u64, u64) {
    let sink = &summary["sinks"]["out"];
    let n = |k: &str| sink[k].as_u64().unwrap();
    (n("attempted"), n("sent"), n("failed"))
}

/// Messages recorded in a sink's interval log: (per-second histograms, phase histograms).
fn hlog_counts(path: &Path) -> (u64, u64) {
    let log = std::fs::read(path).unwrap();
    let (mut seconds, mut phases) = (0, 0);
    for entry in IntervalLogIterator::new(&log) {
        let Ok(LogEntry::Interval(interval)) = entry else { continue };
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD.decode(interval.encoded_histogram()).unwrap();
        let h: Histogram<u64> = Deserializer::new().deserialize(&mut bytes.as_slice()).unwrap();
        match interval.tag() {
            None => seconds += h.len(),
            Some(_) => phases += h.len(),
        }
    }
    (seconds, phases)
}

fn sorted_lines(paths: &[PathBuf]) -> Vec<String> {
    let mut lines: Vec<String> = paths
        .iter()
        .flat_map(|p| std::fs::read_to_string(p).unwrap().lines().map(str::to_owned).collect::<Vec<_>>())
        .collect();
    lines.sort();
    lines
}

#[test]
fn three_shards_merged_equal_one_process_and_mismatched_reports_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let file = d.join("scenario.toml");
    std::fs::write(&file, scenario(60_000.0)).unwrap();
    let file = file.to_str().unwrap();

    let single = loadgen(
        &["run", file, "--start", EXCHANGE_START, "--report-dir", d.join("single").to_str().unwrap()],
        &d.join("single.jsonl"),
    );
    assert!(single.status.success(), "{}", String::from_utf8_lossy(&single.stderr));

    // Three shards, started one after the other, sending from one instant.
    let start_at = (time::OffsetDateTime::now_utc() + time::Duration::seconds(3)).replace_nanosecond(0).unwrap();
    let start_at = start_at.format(&time::format_description::well_known::Rfc3339).unwrap();
    let shards: Vec<_> = (0..3)
        .map(|i| {
            let report = d.join(format!("shard-{i}"));
            Command::new(LOADGEN)
                .args(["run", file, "--shard", &format!("{i}/3"), "--start-at", &start_at, "--start", EXCHANGE_START])
                .args(["--no-thresholds", "--report-dir", report.to_str().unwrap()])
                .env("OUT", d.join(format!("shard-{i}.jsonl")))
                .output()
        })
        .collect();
    let mut shard_attempted = 0;
    for (i, shard) in shards.into_iter().enumerate() {
        let shard = shard.unwrap();
        assert!(shard.status.success(), "shard {i}: {}", String::from_utf8_lossy(&shard.stderr));
        let s = summary(&d.join(format!("shard-{i}")));
        assert_eq!(s["started_at"], start_at.as_str(), "every shard starts at --start-at");
        assert!(s["verdict"]["checks"].as_array().unwrap().is_empty(), "thresholds are left to the merge");
        assert_eq!(s["verdict"]["not_checked"].as_array().unwrap().len(), 2, "{}", s["verdict"]);
        shard_attempted += counts(&s).0;
    }
    let shard_dirs: Vec<String> = (0..3).map(|i| d.join(format!("shard-{i}")).display().to_string()).collect();
    let merged_dir = d.join("merged");
    let mut args = vec!["merge"];
    args.extend(shard_dirs.iter().map(String::as_str));
    args.extend(["--scenario", file, "--out", merged_dir.to_str().unwrap()]);
    let merged = loadgen(&args, &d.join("unused.jsonl"));
    assert!(merged.status.success(), "{}", String::from_utf8_lossy(&merged.stderr));

    let (merged_summary, single_summary) = (summary(&merged_dir), summary(&d.join("single")));
    assert_eq!(counts(&merged_summary), counts(&single_summary), "merged counts equal one process's");
    assert_eq!(counts(&merged_summary).0, shard_attempted);
    assert_eq!(counts(&merged_summary).0, 600 + 1800);
    for phase in ["warm", "steady"] {
        let p = |s: &Value| s["sinks"]["out"]["phases"][phase]["attempted"].clone();
        assert_eq!(p(&merged_summary), p(&single_summary), "phase {phase}");
    }
    assert_eq!(merged_summary["shard"], "all/3");
    let checks = merged_summary["verdict"]["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 2, "the thresholds are judged on the merged result");
    assert_eq!(merged_summary["verdict"]["passed"], true);
    assert!(merged_dir.join("report.html").exists());

    let shard_files: Vec<PathBuf> = (0..3).map(|i| d.join(format!("shard-{i}.jsonl"))).collect();
    assert_eq!(sorted_lines(&shard_files), sorted_lines(&[d.join("single.jsonl")]), "the same messages");

    let (seconds, phases) = hlog_counts(&merged_dir.join("out.hlog"));
    let sum: (u64, u64) = (0..3)
        .map(|i| hlog_counts(&d.join(format!("shard-{i}/out.hlog"))))
        .fold((0, 0), |(a, b), (c, e)| (a + c, b + e));
    assert_eq!((seconds, phases), sum, "the merged histograms hold the shards' sums");
    assert_eq!(phases, shard_attempted, "every message is in its phase's histogram once");

    // The same reports judged on a scenario with a bound nothing meets: exit 99.
    let strict = d.join("strict.toml");
    std::fs::write(&strict, scenario(0.001)).unwrap();
    let mut strict_args = args.clone();
    let position = strict_args.iter().position(|a| *a == file).unwrap();
    strict_args[position] = strict.to_str().unwrap();
    let out_position = strict_args.iter().position(|a| *a == "--out").unwrap() + 1;
    let strict_out = d.join("strict-merged");
    strict_args[out_position] = strict_out.to_str().unwrap();
    let failed = loadgen(&strict_args, &d.join("unused.jsonl"));
    assert_eq!(failed.status.code(), Some(99), "{}", String::from_utf8_lossy(&failed.stderr));
    assert!(String::from_utf8_lossy(&failed.stderr).contains("latency max < 0.001"));

    // A missing shard, and a shard of another seed.
    let missing = loadgen(
        &["merge", &shard_dirs[0], &shard_dirs[1], "--scenario", file, "--out", "/tmp/unused"],
        &d.join("unused.jsonl"),
    );
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("shard 2/3 is missing"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
    let other = d.join("other-seed");
    let run = loadgen(
        &["run", file, "--shard", "2/3", "--seed", "8", "--no-thresholds", "--report-dir", other.to_str().unwrap()],
        &d.join("other.jsonl"),
    );
    assert!(run.status.success());
    let mixed = loadgen(
        &["merge", &shard_dirs[0], &shard_dirs[1], other.to_str().unwrap(), "--scenario", file, "--out", "/tmp/unused"],
        &d.join("unused.jsonl"),
    );
    assert_eq!(mixed.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&mixed.stderr);
    assert!(stderr.contains("seed 8, but the scenario given has seed 7"), "{stderr}");
}

/// `--shard auto`: the index from Kubernetes' JOB_COMPLETION_INDEX with --shards N, or
/// TICKWATCH_SHARD=I/N; without them, an error that says what to set.
#[test]
fn shard_auto_reads_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("scenario.toml");
    std::fs::write(&file, scenario(60_000.0).replace("duration = \"2s\"", "duration = \"1s\"")).unwrap();
    let run = |env: &[(&str, &str)], extra: &[&str]| {
        let report = dir.path().join("report");
        let out = Command::new(LOADGEN)
            .args(["run", file.to_str().unwrap(), "--shard", "auto", "--duration-scale", "0.1"])
            .args(extra)
            .arg("--report-dir")
            .arg(&report)
            .env("OUT", dir.path().join("out.jsonl"))
            .env_remove("TICKWATCH_SHARD")
            .env_remove("JOB_COMPLETION_INDEX")
            .envs(env.iter().copied())
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned(), report)
    };
    let (code, stderr, report) = run(&[("JOB_COMPLETION_INDEX", "2")], &["--shards", "3"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(summary(&report)["shard"], "2/3");
    let (code, stderr, report) = run(&[("TICKWATCH_SHARD", "1/4")], &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(summary(&report)["shard"], "1/4");
    let (code, stderr, _) = run(&[("JOB_COMPLETION_INDEX", "2")], &[]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("needs --shards N"), "{stderr}");
    let (code, stderr, _) = run(&[], &[]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("TICKWATCH_SHARD") && stderr.contains("JOB_COMPLETION_INDEX"), "{stderr}");
}
