//! `tickwatch-loadgen gen`: writes a seeded synthetic feed to a file, optionally with
//! faults planted and a second file listing exactly what was planted.
//!
//! The output format follows the file name: `.jsonl`, `.jsonl.gz` (gzip) or `.csv`
//! (trades only). The same request always writes the same bytes.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use tickwatch_feed::Trade;
use tickwatch_feed::codec::{CsvTradeWriter, JsonlWriter};
use tickwatch_feed::faults::{
    ChainFault, ChainFaults, FaultKind, FaultMix, Planted, TradeFault, TradeFaultParams, TradeFaults,
};
use tickwatch_feed::synth::{ChainSpec, ChainSynth, SymbolSpec, TradeSynth};

/// Which feed to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FeedKind {
    /// Trades per symbol (GBM prices, Poisson arrivals).
    Trades,
    /// Option-chain snapshots per underlying (Black-Scholes with a smile).
    Chains,
}

/// Everything `gen` needs.
#[derive(Debug, Clone)]
pub struct GenRequest {
    pub kind: FeedKind,
    /// Symbols (trades) or underlyings (chains); presets are used for their parameters.
    pub symbols: Vec<String>,
    /// How many records to write.
    pub count: u64,
    pub seed: u64,
    /// Exchange time of the start of the feed.
    pub start_ns: i64,
    /// Venue name written into trades.
    pub venue: String,
    /// Faults to plant, as `kind=rate,...` (see `tickwatch_feed::faults`).
    pub faults: Option<String>,
    pub out: PathBuf,
    /// Where to write the planted faults, one JSON object per line.
    pub planted_out: Option<PathBuf>,
}

/// What was written.
#[derive(Debug, Clone, PartialEq)]
pub struct GenSummary {
    pub records: u64,
    /// Planted faults by config name, in the order of `FaultKind::ALL`.
    pub planted: Vec<(&'static str, u64)>,
}

/// Writes the feed; errors name the flag or file that is wrong.
pub fn generate(request: &GenRequest) -> Result<GenSummary, String> {
    let csv = request.out.extension().is_some_and(|e| e == "csv");
    if csv && request.kind == FeedKind::Chains {
        return Err(format!("{}: CSV holds trades only; write chains as .jsonl or .jsonl.gz", request.out.display()));
    }
    let out_error = |e: std::io::Error| format!("{}: cannot write: {e}", request.out.display());
    match request.kind {
        FeedKind::Trades => {
            let specs = request.symbols.iter().map(|s| SymbolSpec::preset(s)).collect();
            let synth = TradeSynth::new(&request.venue, specs, request.start_ns, request.seed)
                .map_err(|p| format!("--symbols: {}", p.join("; ")))?;
            let mix: FaultMix<TradeFault> = parse_mix(&request.faults)?;
            let mut faults = TradeFaults::new(mix, TradeFaultParams::default(), request.seed);
            let mut file = TradeFile::create(&request.out, csv).map_err(out_error)?;
            let mut pending = Vec::with_capacity(2);
            let mut written = 0u64;
            'feed: for trade in synth {
                faults.apply(trade, &mut |t| pending.push(t));
                for t in pending.drain(..) {
                    if written == request.count {
                        break 'feed;
                    }
                    file.write(&t).map_err(out_error)?;
                    written += 1;
                }
            }
            file.finish().map_err(out_error)?;
            finish(request, written, faults.planted())
        }
        FeedKind::Chains => {
            let specs = request.symbols.iter().map(|s| ChainSpec::preset(s)).collect();
            let synth = ChainSynth::new(specs, request.start_ns, request.seed)
                .map_err(|p| format!("--symbols: {}", p.join("; ")))?;
            let mix: FaultMix<ChainFault> = parse_mix(&request.faults)?;
            let mut faults = ChainFaults::new(mix, 60_000, request.seed);
            let mut w = JsonlWriter::create(&request.out).map_err(out_error)?;
            for chain in synth.take(request.count as usize) {
                w.write(&faults.apply(chain)).map_err(out_error)?;
            }
            w.finish().map_err(out_error)?;
            finish(request, request.count, faults.planted())
        }
    }
}

fn parse_mix<K: FaultKind>(faults: &Option<String>) -> Result<FaultMix<K>, String> {
    match faults {
        None => Ok(FaultMix::none()),
        Some(text) => text.parse().map_err(|e| format!("--faults: {e}")),
    }
}

fn finish<K: FaultKind>(request: &GenRequest, records: u64, planted: &[Planted<K>]) -> Result<GenSummary, String> {
    // A fault planted on a record past the requested count was never written.
    let planted: Vec<&Planted<K>> = planted.iter().filter(|p| p.index < records).collect();
    if let Some(path) = &request.planted_out {
        write_planted(path, &planted).map_err(|e| format!("{}: cannot write: {e}", path.display()))?;
    }
    let counts = K::ALL
        .iter()
        .map(|&(kind, name, _)| (name, planted.iter().filter(|p| p.kind == kind).count() as u64))
        .collect();
    Ok(GenSummary { records, planted: counts })
}

fn write_planted<K: FaultKind>(path: &Path, planted: &[&Planted<K>]) -> std::io::Result<()> {
    let mut out = BufWriter::new(File::create(path)?);
    for p in planted {
        let line = serde_json::json!({
            "index": p.index,
            "fault": p.kind.name(),
            "anomaly": p.kind.anomaly(),
            "key": p.key,
            "detail": p.detail,
        });
        writeln!(out, "{line}")?;
    }
    out.flush()
}

/// A trade file in either of its formats.
enum TradeFile {
    Csv(Box<CsvTradeWriter<BufWriter<File>>>),
    Jsonl(JsonlWriter<Trade>),
}

impl TradeFile {
    fn create(path: &Path, csv: bool) -> std::io::Result<TradeFile> {
        Ok(if csv {
            TradeFile::Csv(Box::new(CsvTradeWriter::create(path)?))
        } else {
            TradeFile::Jsonl(JsonlWriter::create(path)?)
        })
    }

    fn write(&mut self, trade: &Trade) -> std::io::Result<()> {
        match self {
            TradeFile::Csv(w) => w.write(trade),
            TradeFile::Jsonl(w) => w.write(trade),
        }
    }

    fn finish(self) -> std::io::Result<()> {
        match self {
            TradeFile::Csv(w) => (*w).finish(),
            TradeFile::Jsonl(w) => w.finish(),
        }
    }
}
