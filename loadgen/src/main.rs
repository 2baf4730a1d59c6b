//! `tickwatch-loadgen`: market-data load for staging platforms.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use tickwatch_common::tls::TlsConfig;
use tickwatch_loadgen::expectations::Monitoring;
use tickwatch_loadgen::generate::{FeedKind, GenRequest, generate};
use tickwatch_loadgen::merge::merge;
use tickwatch_loadgen::run::source::Shard;
use tickwatch_loadgen::run::{RunOptions, run};
use tickwatch_loadgen::verdict::{FAILED_EXIT, Verdict};
use tickwatch_loadgen::{record, scenario};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[derive(Parser)]
#[command(
    name = "tickwatch-loadgen",
    version,
    about = "Market-data load for staging: synthetic or replayed trade and option-chain feeds into WebSocket, Redis, Celery and MongoDB at exact open-loop rates, faults planted on purpose, latency measured honestly."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario: send its feeds to its sinks at the phases' rates, measure latency
    /// from each message's intended send time, judge its [thresholds], and write the
    /// report. Exit codes: 0 passed, 99 a threshold failed (k6's code), 1 the scenario is
    /// invalid, 2 the run could not be done. SIGTERM and SIGINT stop it with a full report.
    Run(RunArgs),
    /// Merge the reports of a sharded run (each shard's --report-dir) into one exact
    /// report: counts summed, HdrHistograms added, percentiles and rates recomputed, the
    /// thresholds (and with --prometheus the expectations) judged on the result. Exit
    /// codes as `run`: 0 passed, 99 failed, 1 an invalid scenario, 2 reports that do not
    /// belong together.
    Merge(MergeArgs),
    /// Check a scenario file and print every problem (file, key, why); exit 1 if any.
    Check { scenario: PathBuf },
    /// Record a live WebSocket feed to a replay file (JSON Lines of arrival time and
    /// message), for `kind = "replay"` sources.
    Record {
        /// ws:// or wss:// URL.
        url: String,
        /// Text message to send after connecting (a subscription request).
        #[arg(long)]
        subscribe: Option<String>,
        /// Stop after this many messages.
        #[arg(long, default_value_t = 10_000)]
        count: u64,
        /// Stop after this long (e.g. 30s) even if fewer messages came.
        #[arg(long, default_value = "60s")]
        duration: String,
        /// Output file (.jsonl or .jsonl.gz).
        #[arg(long, short)]
        out: PathBuf,
    },
    /// Write a seeded synthetic feed to a file (.jsonl, .jsonl.gz or .csv); the same
    /// arguments always write the same bytes.
    Gen {
        /// What to generate.
        #[arg(long, value_enum, default_value = "trades")]
        kind: FeedKind,
        /// Comma-separated symbols (trades) or underlyings (chains). Known names get
        /// realistic presets (BTCUSDT, ETHUSDT, SOLUSDT, NIFTY, BANKNIFTY, AAPL; chains:
        /// NIFTY, BANKNIFTY, SPY, BTC); any other name gets generic ones.
        #[arg(long, value_delimiter = ',', default_value = "BTCUSDT,ETHUSDT")]
        symbols: Vec<String>,
        /// Number of records to write.
        #[arg(long, default_value_t = 10_000)]
        count: u64,
        /// Random seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Exchange time of the first record (RFC 3339).
        #[arg(long, default_value = "2026-01-01T00:00:00Z")]
        start: String,
        /// Venue name written into trades.
        #[arg(long, default_value = "tickwatch")]
        venue: String,
        /// Faults to plant, as kind=probability pairs, e.g. `gap=0.01,duplicate=0.005`.
        /// Trades: gap, duplicate, reorder, stall, spike, non_positive. Chains: crossed,
        /// missing_strike, call_monotonicity, put_monotonicity, butterfly, parity,
        /// iv_bounds, stall.
        #[arg(long)]
        faults: Option<String>,
        /// Also write what was planted, one JSON object per line (the ground truth for
        /// data-quality checks).
        #[arg(long)]
        planted: Option<PathBuf>,
        /// Output file.
        #[arg(long, short)]
        out: PathBuf,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// The scenario file (see scenarios/).
    scenario: PathBuf,
    /// Folder for summary.json, one <sink>.hlog per sink, and report.html.
    #[arg(long)]
    report_dir: Option<PathBuf>,
    /// Overrides the scenario's seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Multiplies every phase duration (0.1 turns a 60 s scenario into a 6 s one).
    #[arg(long, default_value_t = 1.0)]
    duration_scale: f64,
    /// Run shard I of N (I from 0): symbols are split by their sorted position, so N
    /// processes together send exactly the single-process feed. `auto` reads
    /// TICKWATCH_SHARD=I/N, or Kubernetes' JOB_COMPLETION_INDEX with --shards N.
    #[arg(long, value_name = "I/N|auto", default_value = "0/1")]
    shard: String,
    /// With --shard auto and JOB_COMPLETION_INDEX: how many shards the run has.
    #[arg(long, value_name = "N")]
    shards: Option<usize>,
    /// Start the schedule at this wall-clock instant (RFC 3339), waiting for it: every
    /// shard given the same instant sends as one. The exchange times start there too,
    /// unless --start says otherwise.
    #[arg(long, value_name = "TIME")]
    start_at: Option<String>,
    /// Leave the thresholds to `merge`: a shard lists them as not checked.
    #[arg(long)]
    no_thresholds: bool,
    /// Serve live Prometheus metrics on HOST:PORT while running.
    #[arg(long, value_name = "HOST:PORT")]
    metrics_address: Option<String>,
    /// TLS, client certificates and basic auth for --metrics-address, in Prometheus
    /// exporter-toolkit's YAML format (the exporter's --web.config.file).
    #[arg(long = "web.config.file", value_name = "FILE")]
    web_config_file: Option<PathBuf>,
    /// Exchange time of the first message (RFC 3339) instead of the schedule's start:
    /// with a fixed start, the same seed makes the same bytes.
    #[arg(long)]
    start: Option<String>,
    /// Also write the verdict as a JUnit XML file (one test case per check), for CI.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    #[command(flatten)]
    monitoring: MonitoringArgs,
}

#[derive(clap::Args)]
struct MergeArgs {
    /// The report folders, one per shard (each shard 0..N-1 exactly once).
    #[arg(required = true, value_name = "DIR")]
    dirs: Vec<PathBuf>,
    /// The scenario the shards ran: its thresholds are judged on the merged result.
    #[arg(long, value_name = "FILE")]
    scenario: PathBuf,
    /// Folder for the merged summary.json, .hlog files and report.html.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Also write the verdict as a JUnit XML file (one test case per check), for CI.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    #[command(flatten)]
    monitoring: MonitoringArgs,
}

/// Where `[expect]` is checked: the user's Prometheus (and Alertmanager, dashboards).
#[derive(clap::Args)]
struct MonitoringArgs {
    /// Check the scenario's [expect] against this Prometheus after the run (its
    /// ALERTS and PromQL conditions); `http://user:password@host:9090` sends basic
    /// authentication (pass it from the environment; it is masked in all output).
    #[arg(long, value_name = "URL")]
    prometheus: Option<String>,
    /// With --prometheus: expected alerts must also have reached this Alertmanager.
    #[arg(long, value_name = "URL", requires = "prometheus")]
    alertmanager: Option<String>,
    /// For https:// --prometheus and --alertmanager: the CA certificates (PEM) that
    /// signed their server certificates, instead of the public web roots.
    #[arg(long, value_name = "FILE", requires = "prometheus")]
    monitoring_ca_file: Option<String>,
    /// For https:// --prometheus and --alertmanager that require one: the client
    /// certificate (PEM) to show, with --monitoring-key-file.
    #[arg(long, value_name = "FILE", requires_all = ["prometheus", "monitoring_key_file"])]
    monitoring_cert_file: Option<String>,
    /// The private key (PEM) of --monitoring-cert-file.
    #[arg(long, value_name = "FILE", requires = "monitoring_cert_file")]
    monitoring_key_file: Option<String>,
    /// With --prometheus: every panel of the Grafana dashboards (*.json) in DIR must
    /// show data over the run's time range, checked at its end (Grafana's
    /// $__rate_interval, $__interval, $__range and template variables resolved to match
    /// everything).
    #[arg(long, value_name = "DIR", requires = "prometheus")]
    dashboards: Option<PathBuf>,
}

impl MonitoringArgs {
    /// The monitoring stack to check against, if --prometheus is given.
    fn build(self) -> Result<Option<Monitoring>, String> {
        let Some(prometheus) = self.prometheus else { return Ok(None) };
        let tls = TlsConfig {
            ca_file: self.monitoring_ca_file,
            cert_file: self.monitoring_cert_file,
            key_file: self.monitoring_key_file,
            ..TlsConfig::default()
        };
        if let Some((field, why)) = tls.check().into_iter().next() {
            return Err(format!("--monitoring-{}: {why}", field.replace('_', "-")));
        }
        let monitoring = Monitoring::new(&prometheus, self.alertmanager.as_deref(), &tls)?;
        Ok(Some(match self.dashboards {
            Some(dir) => monitoring.with_panels(tickwatch_loadgen::dashboards::read(&dir)?),
            None => monitoring,
        }))
    }
}

fn parse_time(flag: &str, text: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|e| format!("{flag} `{text}` is not an RFC 3339 time ({e}); e.g. 2026-01-01T00:00:00Z"))
}

/// `--shard I/N`, or `auto`: TICKWATCH_SHARD=I/N, else JOB_COMPLETION_INDEX (Kubernetes'
/// Indexed Jobs) of `--shards N`.
fn parse_shard(text: &str, shards: Option<usize>) -> Result<Shard, String> {
    let (flag, text) = match text {
        "auto" => match (std::env::var("TICKWATCH_SHARD"), std::env::var("JOB_COMPLETION_INDEX"), shards) {
            (Ok(shard), _, _) => ("TICKWATCH_SHARD", shard),
            (_, Ok(index), Some(n)) => ("JOB_COMPLETION_INDEX", format!("{index}/{n}")),
            (_, Ok(_), None) => return Err("--shard auto with JOB_COMPLETION_INDEX needs --shards N".into()),
            _ => return Err("--shard auto: set TICKWATCH_SHARD=I/N, or run as an Indexed Job (JOB_COMPLETION_INDEX) with --shards N".into()),
        },
        other => ("--shard", other.to_owned()),
    };
    let (i, n) = text.split_once('/').ok_or_else(|| format!("{flag} `{text}`: write I/N, e.g. 0/2"))?;
    match (i.trim().parse::<usize>(), n.trim().parse::<usize>()) {
        (Ok(index), Ok(count)) if count > 0 && index < count => Ok(Shard { index, count }),
        _ => Err(format!("{flag} `{text}`: needs 0 <= I < N")),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a Tokio runtime starts")
}

fn fail(command: &str, message: &str) -> ExitCode {
    eprintln!("tickwatch-loadgen {command}: {message}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Check { scenario } => match load(&scenario) {
            Ok(s) => {
                println!(
                    "{}: OK ({} source(s), {} sink(s), {} phase(s))",
                    scenario.display(),
                    s.source.len(),
                    s.sink.len(),
                    s.phase.len()
                );
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Command::Run(args) => run_command(args),
        Command::Merge(args) => merge_command(args),
        Command::Record { url, subscribe, count, duration, out } => {
            let limit = match humantime::parse_duration(&duration) {
                Ok(d) => d,
                Err(e) => return fail("record", &format!("--duration `{duration}`: {e}")),
            };
            match runtime().block_on(record::record(&url, subscribe.as_deref(), count, limit, &out)) {
                Ok(n) => {
                    eprintln!("recorded {n} messages to {}", out.display());
                    ExitCode::SUCCESS
                }
                Err(e) => fail("record", &e),
            }
        }
        Command::Gen { kind, symbols, count, seed, start, venue, faults, planted, out } => {
            let start_ns = match parse_time("--start", &start) {
                Ok(t) => t.unix_timestamp_nanos() as i64,
                Err(e) => {
                    eprintln!("tickwatch-loadgen gen: {e}");
                    return ExitCode::from(2);
                }
            };
            let request = GenRequest { kind, symbols, count, seed, start_ns, venue, faults, out, planted_out: planted };
            match generate(&request) {
                Ok(summary) => {
                    let planted: Vec<String> =
                        summary.planted.iter().filter(|(_, n)| *n > 0).map(|(k, n)| format!("{k}={n}")).collect();
                    let planted = if planted.is_empty() { "none".to_owned() } else { planted.join(", ") };
                    eprintln!(
                        "wrote {} records to {} (faults planted: {planted})",
                        summary.records,
                        request.out.display()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("tickwatch-loadgen gen: {e}");
                    ExitCode::from(2)
                }
            }
        }
    }
}

/// The scenario at `path`, or exit 1 with every problem printed (file, key, why).
fn load(path: &std::path::Path) -> Result<scenario::Scenario, ExitCode> {
    scenario::load(path).map_err(|e| {
        eprintln!("{e}");
        ExitCode::FAILURE
    })
}

fn run_command(args: RunArgs) -> ExitCode {
    let scenario = match load(&args.scenario) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let shard = match parse_shard(&args.shard, args.shards) {
        Ok(s) => s,
        Err(e) => return fail("run", &e),
    };
    let start_ns = match args.start.as_deref().map(|t| parse_time("--start", t)).transpose() {
        Ok(t) => t.map(|t| t.unix_timestamp_nanos() as i64),
        Err(e) => return fail("run", &e),
    };
    let start_at = match args.start_at.as_deref().map(|t| parse_time("--start-at", t)).transpose() {
        Ok(t) => t.map(std::time::SystemTime::from),
        Err(e) => return fail("run", &e),
    };
    if !(args.duration_scale > 0.0 && args.duration_scale.is_finite()) {
        return fail("run", "--duration-scale must be more than zero");
    }
    if args.web_config_file.is_some() && args.metrics_address.is_none() {
        return fail("run", "--web.config.file guards the --metrics-address endpoint: set that too");
    }
    let monitoring = match args.monitoring.build() {
        Ok(m) => m,
        Err(e) => return fail("run", &e),
    };
    let options = RunOptions {
        report_dir: args.report_dir,
        seed: args.seed,
        duration_scale: args.duration_scale,
        shard,
        metrics_address: args.metrics_address,
        web_config_file: args.web_config_file,
        start_ns,
        start_at,
        no_thresholds: args.no_thresholds,
        monitoring,
    };
    let name = scenario.name.clone();
    match runtime().block_on(run(scenario, options)) {
        Ok(outcome) => verdict_exit("run", &name, &outcome.verdict, args.junit.as_deref()),
        Err(e) => fail("run", &e),
    }
}

fn merge_command(args: MergeArgs) -> ExitCode {
    let scenario = match load(&args.scenario) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let monitoring = match args.monitoring.build() {
        Ok(m) => m,
        Err(e) => return fail("merge", &e),
    };
    match runtime().block_on(merge(&scenario, &args.dirs, &args.out, monitoring.as_ref())) {
        Ok(outcome) => verdict_exit("merge", &scenario.name, &outcome.verdict, args.junit.as_deref()),
        Err(e) => fail("merge", &e),
    }
}

/// Writes the JUnit file when asked; 0 when the verdict passed, 99 when it failed.
fn verdict_exit(command: &str, name: &str, verdict: &Verdict, junit: Option<&std::path::Path>) -> ExitCode {
    if let Some(file) = junit
        && let Err(e) = std::fs::write(file, verdict.junit(name))
    {
        return fail(command, &format!("--junit {}: {e}", file.display()));
    }
    if verdict.passed { ExitCode::SUCCESS } else { ExitCode::from(FAILED_EXIT) }
}
