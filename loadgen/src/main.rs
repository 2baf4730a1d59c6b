//! `tickwatch-loadgen`: market-data load for staging platforms.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use tickwatch_loadgen::generate::{FeedKind, GenRequest, generate};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[derive(Parser)]
#[command(
    name = "tickwatch-loadgen",
    version,
    about = "Market-data load for staging: synthetic or replayed trade and option-chain feeds, faults planted on purpose."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Gen { kind, symbols, count, seed, start, venue, faults, planted, out } => {
            let start_ns = match OffsetDateTime::parse(&start, &Rfc3339) {
                Ok(t) => t.unix_timestamp_nanos() as i64,
                Err(e) => {
                    eprintln!(
                        "tickwatch-loadgen gen: --start `{start}` is not an RFC 3339 time ({e}); e.g. 2026-01-01T00:00:00Z"
                    );
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
