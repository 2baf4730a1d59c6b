//! The messages one sink sends: a synthetic feed (trades or chains, faults per phase,
//! stamped with each message's intended send time so the feed looks live) or a replayed
//! file (paced by its recorded times, scaled by `speed`).

use crate::scenario::{OnBadRow, PhaseFaults, ReplayFormat, SourceConfig, SourceKind, TardisDataType};
use serde_json::{Value, json};
use std::collections::{HashSet, VecDeque};
use std::io::BufRead;
use tickwatch_feed::codec::{TardisChainReader, TardisMachineReader, TardisTradeReader, encode, open_maybe_gzip};
use tickwatch_feed::faults::{ChainFaults, FaultMix, TradeFaultParams, TradeFaults};
use tickwatch_feed::synth::{ChainSpec, ChainSynth, Slot, SymbolSpec, TradeSynth};
use tickwatch_feed::{OptionChain, Trade};

/// One message to send.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The bytes on the wire (canonical JSON, or a recorded message as it was).
    pub payload: Vec<u8>,
    /// What the payload holds, for sinks that template over its fields.
    pub record: Record,
}

/// The record behind a message.
#[derive(Debug, Clone)]
pub enum Record {
    Trade(Trade),
    Chain(Box<OptionChain>),
    /// A recorded foreign message, with the symbol or underlying it names (empty when none).
    Raw {
        key: String,
    },
}

impl Outgoing {
    /// Symbol or underlying (for `{symbol}` keys and WebSocket subscriptions), read from the
    /// record, so a synthesized message does not carry a copy of its symbol.
    pub fn key(&self) -> &str {
        match &self.record {
            Record::Trade(t) => &t.symbol,
            Record::Chain(c) => &c.underlying,
            Record::Raw { key } => key,
        }
    }

    /// The message's fields by name (built only when a sink asks: Celery arguments).
    pub fn fields(&self) -> Value {
        match &self.record {
            Record::Trade(t) => json!({"symbol": t.symbol, "seq": t.seq, "price": t.price, "qty": t.qty,
                "ts_ns": t.ts_ns, "side": t.side, "venue": t.venue}),
            Record::Chain(c) => {
                json!({"underlying": c.underlying, "symbol": c.underlying, "expiry": c.expiry.to_string(),
                "spot": c.spot, "ts_ns": c.ts_ns, "pcr": c.pcr_open_interest()})
            }
            Record::Raw { .. } => serde_json::from_slice(&self.payload).unwrap_or(Value::Null),
        }
    }
}

/// `--shard I/N`: this process sends the messages of the symbols whose position in the
/// sorted symbol list is I mod N. Every shard makes the whole feed on the whole schedule
/// and sends only its own symbols' messages, so N shards together send exactly the
/// single-process feed, at the same times, with the same bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// The symbols this shard owns, of `symbols` with their message rates: the heaviest
    /// first, each to the shard with the least rate so far (ties to the lower index, names
    /// break rate ties), so the shards' shares of the feed come out near even.
    fn owned(&self, symbols: &[(String, f64)]) -> HashSet<String> {
        let mut sorted = symbols.to_vec();
        sorted.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        sorted.dedup_by(|a, b| a.0 == b.0);
        let mut load = vec![0.0_f64; self.count];
        let mut mine = HashSet::new();
        for (symbol, rate) in sorted {
            let lightest = (0..self.count).min_by(|&a, &b| load[a].total_cmp(&load[b])).expect("at least one shard");
            load[lightest] += rate;
            if lightest == self.index {
                mine.insert(symbol);
            }
        }
        mine
    }

    /// For keys not in any symbol list (replays): a stable hash of the key picks the shard.
    fn owns_unlisted(&self, key: &str) -> bool {
        tickwatch_feed::synth::fnv1a(key.as_bytes()) % self.count as u64 == self.index as u64
    }
}

/// A stream of messages for one sink.
pub struct Feed {
    kind: FeedKind,
    /// Whose messages this feed sends (synthetic feeds make only their own symbols'
    /// messages; replays read everything and keep the keys the shard's hash owns).
    shard: Shard,
    /// How far exchange times lie behind send times (the source's `lag`).
    lag_ns: i64,
}

enum FeedKind {
    /// `pending`: what the last slot made (two trades when one is duplicated), `None` for
    /// another shard's.
    Trades {
        synth: TradeSynth,
        faults: TradeFaults,
        pending: VecDeque<Option<Trade>>,
    },
    Chains {
        synth: ChainSynth,
        faults: ChainFaults,
    },
    Replay(Replay),
}

impl Feed {
    /// Builds the feed of `source` for this shard; `start_ns` is the time of the first
    /// message. Errors name the source.
    pub fn new(source: &SourceConfig, seed: u64, shard: Shard, start_ns: i64) -> Result<Feed, String> {
        let symbols = &source.symbols;
        let name = &source.name;
        let kind = match source.kind {
            SourceKind::SyntheticTrades => FeedKind::Trades {
                synth: {
                    let specs: Vec<SymbolSpec> = symbols.iter().map(|s| SymbolSpec::preset(s)).collect();
                    let owned =
                        shard.owned(&specs.iter().map(|s| (s.symbol.clone(), s.trades_per_second)).collect::<Vec<_>>());
                    let mut synth = TradeSynth::new(&source.venue, specs, start_ns, seed)
                        .map_err(|p| format!("source {name}: {}", p.join("; ")))?;
                    synth.make_only(|s| owned.contains(s));
                    synth
                },
                faults: TradeFaults::new(FaultMix::none(), TradeFaultParams::default(), seed),
                pending: VecDeque::new(),
            },
            SourceKind::SyntheticChains => FeedKind::Chains {
                synth: {
                    let specs: Vec<ChainSpec> = symbols.iter().map(|s| ChainSpec::preset(s)).collect();
                    let owned = shard.owned(
                        &specs.iter().map(|s| (s.underlying.clone(), s.chains_per_second())).collect::<Vec<_>>(),
                    );
                    let mut synth = ChainSynth::new(specs, start_ns, seed)
                        .map_err(|p| format!("source {name}: {}", p.join("; ")))?;
                    synth.make_only(|s| owned.contains(s));
                    synth
                },
                faults: ChainFaults::new(FaultMix::none(), 60_000, seed),
            },
            SourceKind::Replay => FeedKind::Replay(Replay::open(source)?),
        };
        Ok(Feed { kind, shard, lag_ns: source.lag.as_nanos() as i64 })
    }

    /// Switches to a phase's faults; each feed takes those of its own kind.
    pub fn set_faults(&mut self, faults: &PhaseFaults) {
        match &mut self.kind {
            FeedKind::Trades { faults: injector, .. } => injector.set_mix(faults.trades.clone()),
            FeedKind::Chains { faults: injector, .. } => injector.set_mix(faults.chains.clone()),
            FeedKind::Replay(_) => {}
        }
    }

    /// For replays with a speed: seconds from the start of the replay at which the next
    /// message is due. `None` for feeds paced by the phase rate.
    pub fn recorded_offset(&mut self) -> Option<f64> {
        match &mut self.kind {
            FeedKind::Replay(r) if r.speed > 0.0 => r.next_offset(),
            _ => None,
        }
    }

    /// Passes other shards' messages up to this shard's next one, or until `limit` slots
    /// have passed (one more when the last passed is duplicated), drawing what their
    /// faults draw; returns how many slots passed. Replays pass theirs in [`Feed::next`].
    pub fn pass_others(&mut self, limit: u64) -> u64 {
        match &mut self.kind {
            FeedKind::Trades { synth, faults, pending } if pending.is_empty() => {
                synth.pass_others(limit, |symbol| faults.pass(symbol))
            }
            FeedKind::Chains { synth, .. } => synth.pass_others(limit),
            _ => 0,
        }
    }

    /// The next message, stamped (synthetic feeds) with `now_ns` as its exchange time:
    /// `None` at the end of a replay, `Some(None)` for a message of another shard (its
    /// slot in the schedule passes unsent; a synthetic feed does not even make it, only
    /// the draws that keep its place).
    pub fn next(&mut self, now_ns: i64) -> Option<Option<Outgoing>> {
        let stamp = now_ns - self.lag_ns;
        match &mut self.kind {
            FeedKind::Trades { synth, faults, pending } => {
                if pending.is_empty() {
                    match synth.next_slot()? {
                        Slot::Made(mut trade) => {
                            trade.ts_ns = stamp;
                            faults.apply(trade, &mut |t| pending.push_back(Some(t)));
                        }
                        Slot::Passed(i) => pending.extend((0..faults.pass(synth.symbol(i))).map(|_| None)),
                    }
                }
                pending.pop_front().map(|t| t.map(trade_message))
            }
            FeedKind::Chains { synth, faults } => match synth.next_slot()? {
                Slot::Made(mut chain) => {
                    chain.ts_ns = stamp;
                    Some(Some(chain_message(faults.apply(chain))))
                }
                Slot::Passed(_) => Some(None),
            },
            FeedKind::Replay(r) => {
                let message = r.next()?;
                Some(self.shard.owns_unlisted(message.key()).then_some(message))
            }
        }
    }
}

/// A trade as a message.
pub fn trade_message(t: Trade) -> Outgoing {
    let mut payload = Vec::with_capacity(160);
    encode(&t, &mut payload);
    Outgoing { payload, record: Record::Trade(t) }
}

fn chain_message(c: OptionChain) -> Outgoing {
    let mut payload = Vec::with_capacity(16 * 1024);
    encode(&c, &mut payload);
    Outgoing { payload, record: Record::Chain(Box::new(c)) }
}

/// One line of a replay file: a canonical trade or chain, or a recorded message.
struct Recorded {
    time_ns: i64,
    message: Outgoing,
}

/// The malformed rows of a replay file: counted, the first kept for the warning; with
/// `on_error = "stop"` the first one is the error that stops the run.
struct BadRows {
    on_error: OnBadRow,
    count: u64,
    first: Option<String>,
}

impl BadRows {
    fn add(&mut self, why: String) -> Result<(), String> {
        if self.on_error == OnBadRow::Stop {
            return Err(why);
        }
        self.count += 1;
        self.first.get_or_insert(why);
        Ok(())
    }
}

/// A replay file, read whole (replays are bounded files), played in order.
pub struct Replay {
    lines: Vec<Recorded>,
    next: usize,
    speed: f64,
    looping: bool,
    /// Seconds added per completed loop, so time keeps moving forward.
    loop_offset: f64,
}

impl Replay {
    fn open(source: &SourceConfig) -> Result<Replay, String> {
        let path = source.file.as_ref().ok_or_else(|| format!("source {}: no file", source.name))?;
        let reader = open_maybe_gzip(path).map_err(|e| format!("{}: cannot open: {e}", path.display()))?;
        let mut bad = BadRows { on_error: source.on_error, count: 0, first: None };
        let mut lines = Vec::new();
        match (source.format, source.data_type) {
            (ReplayFormat::Jsonl, _) => {
                for (number, line) in reader.lines().enumerate() {
                    let at = |why: String| format!("{}:{}: {why}", path.display(), number + 1);
                    let line = line.map_err(|e| at(format!("read failed: {e}")))?;
                    if line.trim().is_empty() {
                        continue;
                    }
                    let record = serde_json::from_str(&line).map_err(|e| format!("not JSON: {e}")).and_then(recorded);
                    match record {
                        Ok(record) => lines.push(record),
                        Err(why) => bad.add(at(why))?,
                    }
                }
            }
            (ReplayFormat::TardisCsv, Some(TardisDataType::Trades)) => {
                let rows = TardisTradeReader::new(reader, Some(path.clone())).map_err(|e| e.to_string())?;
                collect_rows(rows, trade_message, &mut bad, &mut lines)?;
            }
            (ReplayFormat::TardisCsv, Some(TardisDataType::OptionsChain)) => {
                let chains = TardisChainReader::new(reader, Some(path.clone())).map_err(|e| e.to_string())?;
                collect_rows(chains, chain_message, &mut bad, &mut lines)?;
            }
            (ReplayFormat::TardisMachine, _) => {
                let mut trades = TardisMachineReader::new(reader, Some(path.clone()));
                collect_rows(trades.by_ref(), trade_message, &mut bad, &mut lines)?;
                if trades.other_types() > 0 {
                    eprintln!(
                        "tickwatch-loadgen: source {}: left out {} messages of {} that are not trades",
                        source.name,
                        trades.other_types(),
                        path.display()
                    );
                }
            }
            (ReplayFormat::TardisCsv, None) => {
                return Err(format!(
                    "source {}: a tardis-csv replay needs data_type = \"trades\" or \"options_chain\"",
                    source.name
                ));
            }
        }
        if let Some(first) = &bad.first {
            eprintln!(
                "tickwatch-loadgen: source {}: skipped {} malformed rows of {}; the first: {first}",
                source.name,
                bad.count,
                path.display()
            );
        }
        if lines.is_empty() {
            return Err(format!("{}: no messages to replay", path.display()));
        }
        Ok(Replay { lines, next: 0, speed: source.speed, looping: source.loop_, loop_offset: 0.0 })
    }

    fn span_seconds(&self) -> f64 {
        let first = self.lines.first().map_or(0, |l| l.time_ns);
        let last = self.lines.last().map_or(0, |l| l.time_ns);
        let mean_gap = (last - first) as f64 / self.lines.len().max(1) as f64;
        ((last - first) as f64 + mean_gap) / 1e9
    }

    fn wrap(&mut self) -> bool {
        if self.next < self.lines.len() {
            return true;
        }
        if !self.looping {
            return false;
        }
        self.loop_offset += self.span_seconds() / self.speed.max(f64::MIN_POSITIVE);
        self.next = 0;
        true
    }

    fn next_offset(&mut self) -> Option<f64> {
        if !self.wrap() {
            return None;
        }
        let first = self.lines[0].time_ns;
        Some(self.loop_offset + (self.lines[self.next].time_ns - first) as f64 / 1e9 / self.speed)
    }

    fn next(&mut self) -> Option<Outgoing> {
        if !self.wrap() {
            return None;
        }
        self.next += 1;
        Some(self.lines[self.next - 1].message.clone())
    }
}

/// Keeps a tardis reader's timed records as replay lines and its malformed rows in `bad`.
fn collect_rows<T, E: std::fmt::Display>(
    rows: impl Iterator<Item = Result<(i64, T), E>>,
    message: fn(T) -> Outgoing,
    bad: &mut BadRows,
    lines: &mut Vec<Recorded>,
) -> Result<(), String> {
    for row in rows {
        match row {
            Ok((time_ns, record)) => lines.push(Recorded { time_ns, message: message(record) }),
            Err(e) => bad.add(e.to_string())?,
        }
    }
    Ok(())
}

/// Reads one replay line: `{"arrival_ns": N, "message": "..."}` from `record`, or a
/// canonical trade or chain (timed by its `ts_ns`).
fn recorded(value: Value) -> Result<Recorded, String> {
    if let (Some(arrival), Some(message)) = (value.get("arrival_ns").and_then(Value::as_i64), value.get("message")) {
        let payload = match message {
            Value::String(s) => s.clone().into_bytes(),
            other => other.to_string().into_bytes(),
        };
        let key = serde_json::from_slice::<Value>(&payload)
            .ok()
            .and_then(|m| {
                ["/s", "/symbol", "/underlying"].iter().find_map(|p| m.pointer(p)?.as_str().map(str::to_owned))
            })
            .unwrap_or_default();
        return Ok(Recorded { time_ns: arrival, message: Outgoing { payload, record: Record::Raw { key } } });
    }
    if value.get("rows").is_some() {
        let chain: OptionChain = serde_json::from_value(value).map_err(|e| format!("not a valid option chain: {e}"))?;
        return Ok(Recorded { time_ns: chain.ts_ns, message: chain_message(chain) });
    }
    let trade: Trade = serde_json::from_value(value)
        .map_err(|e| format!("not a trade, an option chain or a recorded message: {e}"))?;
    Ok(Recorded { time_ns: trade.ts_ns, message: trade_message(trade) })
}

#[cfg(test)]
mod tests {
    use super::Shard;
    use std::collections::HashSet;

    #[test]
    fn shards_split_the_symbols_exactly_once_and_by_rate() {
        let symbols: Vec<(String, f64)> =
            [("SOL", 20.0), ("BTC", 50.0), ("ETH", 30.0), ("ADA", 10.0), ("XRP", 10.0), ("BTC", 50.0), ("AAPL", 20.0)]
                .iter()
                .map(|(s, r)| (s.to_string(), *r))
                .collect();
        let shards: Vec<_> = (0..3).map(|index| Shard { index, count: 3 }.owned(&symbols)).collect();
        let mut all: Vec<String> = shards.iter().flatten().cloned().collect();
        all.sort();
        assert_eq!(all, ["AAPL", "ADA", "BTC", "ETH", "SOL", "XRP"], "every symbol in exactly one shard");
        let rate = |shard: &HashSet<String>| {
            symbols[..5].iter().chain(&symbols[6..]).filter(|(s, _)| shard.contains(s)).map(|(_, r)| r).sum::<f64>()
        };
        let rates: Vec<f64> = shards.iter().map(rate).collect();
        assert_eq!(rates, [50.0, 50.0, 40.0], "heaviest first, each to the lightest shard: {shards:?}");
        assert_eq!(Shard::ALL.owned(&symbols).len(), 6);
    }

    #[test]
    fn unlisted_keys_belong_to_exactly_one_shard() {
        for key in ["BTCUSDT", "NIFTY", "x", ""] {
            let owners = (0..4).filter(|&index| Shard { index, count: 4 }.owns_unlisted(key)).count();
            assert_eq!(owners, 1, "{key}");
        }
    }
}
