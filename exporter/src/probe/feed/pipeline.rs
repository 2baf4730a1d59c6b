//! One feed's quality state: per symbol the checks' memory, the rolling score and the
//! metric handles, so that a message costs a hash lookup and a few atomic adds.

use super::decode::{DecodedTrade, Rejection, TradeDecoder};
use super::deribit_chains::DeribitChains;
use super::{FeedFormat, FeedKind, FeedTarget};
use crate::shared::Shared;
use prometheus::{Gauge, GaugeVec, IntCounter, IntCounterVec, IntGaugeVec};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tickwatch_feed::OptionChain;
use tickwatch_feed::codec::decode_chain_into;
use tickwatch_feed::quality::{ChainThresholds, RollingScore, Staleness, SymbolQuality, TradeThresholds, check_chain};

/// The feed families, registered once.
pub struct FeedMetrics {
    score: GaugeVec,
    checks: IntCounterVec,
    anomalies: IntCounterVec,
    decoded: IntCounterVec,
    rejected: IntCounterVec,
    pcr: GaugeVec,
    pub connected: IntGaugeVec,
}

impl FeedMetrics {
    pub fn register(shared: &Shared) -> FeedMetrics {
        let counter = |name: &str, help: &str, labels: &[&str]| shared.counter_vec(name, help, labels);
        let gauge = |name: &str, help: &str, labels: &[&str]| shared.gauge_vec(name, help, labels);
        let connected =
            shared.int_gauge_vec("data_feed_connected", "Whether the feed's source is connected.", &["feed"]);
        FeedMetrics {
            score: gauge(
                "data_quality_score",
                "Weighted share of passed checks over the last score_window messages of the symbol, in [0, 1].",
                &["feed", "symbol"],
            ),
            checks: counter(
                "data_quality_checks_total",
                "Checks run, by check and result (pass, fail).",
                &["feed", "symbol", "check", "result"],
            ),
            anomalies: counter(
                "data_anomalies_detected_total",
                "Anomalies found, by kind (one per planted fault).",
                &["feed", "symbol", "kind"],
            ),
            decoded: counter("data_feed_messages_decoded_total", "Messages decoded and checked.", &["feed"]),
            rejected: counter(
                "data_feed_messages_rejected_total",
                "Messages not checked, by reason.",
                &["feed", "reason"],
            ),
            pcr: gauge(
                "option_chain_pcr",
                "Put-call ratio by open interest of the latest chain.",
                &["feed", "underlying", "expiry"],
            ),
            connected,
        }
    }
}

/// Unix milliseconds of the last message per symbol, read by scrapes.
#[derive(Default)]
pub struct LastSeen {
    symbols: Mutex<Vec<(String, Arc<AtomicU64>)>>,
}

impl LastSeen {
    fn add(&self, symbol: &str) -> Arc<AtomicU64> {
        let cell = Arc::new(AtomicU64::new(0));
        self.symbols.lock().expect("not poisoned").push((symbol.to_owned(), Arc::clone(&cell)));
        cell
    }

    /// (symbol, unix ms of its last message) for every symbol seen.
    pub fn snapshot(&self) -> Vec<(String, u64)> {
        self.symbols.lock().expect("not poisoned").iter().map(|(s, c)| (s.clone(), c.load(Ordering::Relaxed))).collect()
    }
}

/// Metric handles of one symbol, indexed like the feed kind's checks.
struct Handles {
    pass: Vec<IntCounter>,
    fail: Vec<IntCounter>,
    anomalies: Vec<IntCounter>,
    score: Gauge,
}

impl Handles {
    fn new(metrics: &FeedMetrics, feed: &str, symbol: &str, labels: &[&str]) -> Handles {
        let per = |result: &str| {
            labels.iter().map(|c| metrics.checks.with_label_values(&[feed, symbol, c, result])).collect()
        };
        Handles {
            pass: per("pass"),
            fail: per("fail"),
            anomalies: labels.iter().map(|k| metrics.anomalies.with_label_values(&[feed, symbol, k])).collect(),
            score: metrics.score.with_label_values(&[feed, symbol]),
        }
    }

    /// Counts one message's results and moves the score.
    fn record(&self, score: &mut RollingScore, weights: &[f64], results: &[Option<bool>], anomalies: &[bool]) {
        let (mut passed, mut total) = (0.0, 0.0);
        for (i, result) in results.iter().enumerate() {
            match result {
                Some(true) => {
                    self.pass[i].inc();
                    passed += weights[i];
                    total += weights[i];
                }
                Some(false) => {
                    self.fail[i].inc();
                    total += weights[i];
                }
                None => {}
            }
            if anomalies[i] {
                self.anomalies[i].inc();
            }
        }
        score.observe(passed, total);
        self.score.set(score.score());
    }
}

struct Symbol<Q> {
    quality: Q,
    staleness: Staleness,
    score: RollingScore,
    handles: Handles,
    last_ms: Arc<AtomicU64>,
}

/// The longest symbol (or underlying) a feed takes; longer ones are rejected as `bad_field`.
const MAX_SYMBOL_BYTES: usize = 128;

/// Everything one feed keeps; fed by its source task.
pub struct Pipeline {
    feed: String,
    kind: FeedKind,
    decoder: Arc<TradeDecoder>,
    trade_th: TradeThresholds,
    chain_th: ChainThresholds,
    weights: Vec<f64>,
    labels: Vec<&'static str>,
    stale_after_ns: i64,
    score_window: usize,
    max_symbols: usize,
    max_message_bytes: usize,
    trades: HashMap<String, Symbol<SymbolQuality>>,
    chains: HashMap<String, Symbol<()>>,
    /// `format = "deribit"` chains: the tickers of each chain's current round.
    deribit_chains: Option<DeribitChains>,
    /// The last chain checked: its buffers are reused by the next one's decoding.
    decoded_chain: OptionChain,
    metrics: Arc<FeedMetrics>,
    decoded: IntCounter,
    pub last_seen: Arc<LastSeen>,
}

impl Pipeline {
    pub fn new(target: &FeedTarget, metrics: Arc<FeedMetrics>) -> Pipeline {
        let labels = target.kind.checks();
        let weights = labels.iter().map(|l| target.weights.get(*l).copied().unwrap_or(1.0)).collect();
        Pipeline {
            feed: target.name.clone(),
            kind: target.kind,
            decoder: Arc::new(TradeDecoder::new(target.format, target.fields.as_ref())),
            trade_th: TradeThresholds {
                spike_mads: target.spike_mads,
                spike_min_fraction: target.spike_min_fraction,
                max_clock_drift_ns: target.max_clock_drift.as_nanos() as i64,
            },
            chain_th: ChainThresholds { iv_max: target.iv_max, ..ChainThresholds::default() },
            weights,
            labels,
            stale_after_ns: target.stale_after.as_nanos() as i64,
            score_window: target.score_window,
            max_symbols: target.max_symbols,
            max_message_bytes: target.max_message_bytes,
            trades: HashMap::new(),
            chains: HashMap::new(),
            deribit_chains: (target.format == FeedFormat::Deribit).then(DeribitChains::default),
            decoded_chain: OptionChain::default(),
            decoded: metrics.decoded.with_label_values(&[&target.name]),
            metrics,
            last_seen: Arc::new(LastSeen::default()),
        }
    }

    /// Checks one message that arrived at `arrival_ns` (Unix nanoseconds).
    pub fn handle(&mut self, message: &[u8], arrival_ns: i64) {
        let outcome = match self.kind {
            _ if message.len() > self.max_message_bytes => Err("too_large"),
            FeedKind::Trade => self.handle_trade(message, arrival_ns),
            FeedKind::OptionChain => self.handle_chain(message, arrival_ns),
        };
        match outcome {
            Ok(()) => self.decoded.inc(),
            Err(reason) => self.metrics.rejected.with_label_values(&[&self.feed, reason]).inc(),
        }
    }

    fn handle_trade(&mut self, message: &[u8], arrival_ns: i64) -> Result<(), Rejection> {
        // A handle of its own, so the trades it gives can be checked against `self`.
        let decoder = Arc::clone(&self.decoder);
        decoder.decode_each(message, &mut |trade| self.check_trade(trade, arrival_ns))
    }

    fn check_trade(&mut self, trade: DecodedTrade, arrival_ns: i64) -> Result<(), Rejection> {
        // One lookup per trade of a known symbol (a second only for a new one).
        let s = match self.trades.get_mut(trade.symbol.as_ref()) {
            Some(s) => s,
            None => {
                let symbol = self.new_symbol(&trade.symbol, SymbolQuality::default())?;
                self.trades.entry(trade.symbol.clone().into_owned()).or_insert(symbol)
            }
        };
        s.staleness.arrived(arrival_ns);
        s.last_ms.store((arrival_ns / 1_000_000) as u64, Ordering::Relaxed);
        let v = s.quality.check(&trade.tick, arrival_ns, &self.trade_th);
        s.handles.record(&mut s.score, &self.weights, &v.results, &v.anomalies);
        Ok(())
    }

    fn handle_chain(&mut self, message: &[u8], arrival_ns: i64) -> Result<(), Rejection> {
        let chain = match &mut self.deribit_chains {
            None => {
                let mut chain = std::mem::take(&mut self.decoded_chain);
                decode_chain_into(message, &mut chain).map_err(|_| "bad_field")?;
                chain
            }
            Some(rounds) => match rounds.ticker(message)? {
                Some(chain) => chain,
                // The ticker joined its chain's round; the chain is checked when it ends.
                None => return Ok(()),
            },
        };
        let outcome = self.check_chain(&chain, arrival_ns);
        self.decoded_chain = chain;
        outcome
    }

    fn check_chain(&mut self, chain: &OptionChain, arrival_ns: i64) -> Result<(), Rejection> {
        if !self.chains.contains_key(&chain.underlying) {
            let symbol = self.new_symbol(&chain.underlying, ())?;
            self.chains.insert(chain.underlying.clone(), symbol);
        }
        let s = self.chains.get_mut(&chain.underlying).expect("inserted above");
        s.staleness.arrived(arrival_ns);
        s.last_ms.store((arrival_ns / 1_000_000) as u64, Ordering::Relaxed);
        let v = check_chain(chain, &self.chain_th);
        let anomalies = v.results.map(|r| r == Some(false));
        s.handles.record(&mut s.score, &self.weights, &v.results, &anomalies);
        if let Some(pcr) = chain.pcr_open_interest() {
            let expiry = chain.expiry.to_string();
            self.metrics.pcr.with_label_values(&[&self.feed, &chain.underlying, &expiry]).set(pcr);
        }
        Ok(())
    }

    fn new_symbol<Q>(&self, name: &str, quality: Q) -> Result<Symbol<Q>, Rejection> {
        // A symbol becomes a label value of every per-symbol series: a hostile one must not
        // make them huge.
        if name.is_empty() || name.len() > MAX_SYMBOL_BYTES {
            return Err("bad_field");
        }
        if self.trades.len() + self.chains.len() >= self.max_symbols {
            return Err("symbol_cap");
        }
        Ok(Symbol {
            quality,
            staleness: Staleness::default(),
            score: RollingScore::new(self.score_window),
            handles: Handles::new(&self.metrics, &self.feed, name, &self.labels),
            last_ms: self.last_seen.add(name),
        })
    }

    /// Judges staleness of every symbol at `now_ns`; call about once a second.
    pub fn tick(&mut self, now_ns: i64) {
        let stale = self.labels.iter().position(|l| *l == "stale").expect("both kinds check staleness");
        let (weights, stale_after) = (&self.weights, self.stale_after_ns);
        let judge = |staleness: &mut Staleness, score: &mut RollingScore, handles: &Handles| {
            if let Some((passed, new_spell)) = staleness.check(now_ns, stale_after) {
                let mut results = vec![None; weights.len()];
                let mut anomalies = vec![false; weights.len()];
                results[stale] = Some(passed);
                anomalies[stale] = new_spell;
                handles.record(score, weights, &results, &anomalies);
            }
        };
        for s in self.trades.values_mut() {
            judge(&mut s.staleness, &mut s.score, &s.handles);
        }
        for s in self.chains.values_mut() {
            judge(&mut s.staleness, &mut s.score, &s.handles);
        }
    }
}
