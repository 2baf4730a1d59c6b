//! What the run sent and what each observer's connections saw of it. The sinks write
//! each message's key (symbol and sequence number) with its intended and actual send
//! times before they send it; receivers look each arrival up by that key. A message is
//! judged for an observer once its deadline has passed since it was sent: every
//! connection subscribed to its symbol either saw it (delivered, counted on arrival) or
//! did not (lost). Judged messages leave the window, so memory is bounded by what is
//! in flight: a connection keeps one bit per message of the window.

use super::DeliveryTally;
use crate::run::live::LiveObserver;
use crate::run::pace::Timeline;
use crate::run::source::{Outgoing, Record};
use crate::scenario::Phase;
use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

/// One sent message, while some observer has yet to judge it.
struct Sent {
    symbol: u32,
    seq: u64,
    phase: usize,
    /// Seconds from the run's start: when the schedule meant it to go, when it went.
    intended: f64,
    sent: f64,
    /// Its send failed: expected only where it arrived all the same.
    failed: bool,
}

/// The first and last arrival of one message at an observer's connections (fan-out
/// skew), seconds from the run's start.
#[derive(Clone, Copy)]
struct Arrivals {
    first: f64,
    last: f64,
}

const NONE_ARRIVED: Arrivals = Arrivals { first: f64::INFINITY, last: f64::NEG_INFINITY };

/// One connection's view: what it subscribed to and which messages of the window it saw.
struct Connection {
    /// Symbol indexes it expects; every symbol when `None`.
    symbols: Option<Vec<u32>>,
    /// One bit per message id, from id `64 * Book::word_base`.
    seen: VecDeque<u64>,
    /// The highest sequence number seen per symbol index (out-of-order detection).
    last_seq: Vec<Option<u64>>,
    /// This connection's own delivered and lost counts.
    delivered: u64,
    lost: u64,
}

impl Connection {
    fn expects(&self, symbol: u32) -> bool {
        self.symbols.as_ref().is_none_or(|s| s.contains(&symbol))
    }
}

/// One observer's connections and figures.
struct ObserverBook {
    deadline: f64,
    connections: Vec<Connection>,
    /// The next message id this observer judges.
    judged: u64,
    /// Arrivals per message from id `judged` on.
    arrivals: VecDeque<Arrivals>,
    /// Per phase; the whole run's is their sum.
    phases: Vec<DeliveryTally>,
    /// The same counts on the live /metrics.
    live: LiveObserver,
}

impl ObserverBook {
    /// An arrival that matches no delivery owed: `late` (its deadline passed) or
    /// unexpected, counted in the phase of its arrival.
    fn count_stray(&mut self, phase: usize, late: bool) {
        let t = &mut self.phases[phase];
        *if late { &mut t.late } else { &mut t.unexpected } += 1;
        if late { &self.live.late } else { &self.live.unexpected }.inc();
    }
}

/// The symbols' indexes, and per index the highest sequence number already judged by
/// every observer (an arrival at or below it came after its deadline).
struct Symbols {
    index: HashMap<String, u32>,
    judged_up_to: Vec<Option<u64>>,
}

impl Symbols {
    fn intern(&mut self, symbol: &str) -> u32 {
        if let Some(&i) = self.index.get(symbol) {
            return i;
        }
        let i = self.index.len() as u32;
        self.index.insert(symbol.to_owned(), i);
        self.judged_up_to.push(None);
        i
    }
}

struct Book {
    symbols: Symbols,
    window: VecDeque<Sent>,
    /// The id of `window[0]`; ids count every message sent, from 0.
    base: u64,
    /// Every connection's `seen` starts at id `64 * word_base`.
    word_base: u64,
    ids: HashMap<(u32, u64), u64>,
    observers: Vec<ObserverBook>,
    /// The schedule's phases (the phase of an arrival that matches no message).
    timeline: Timeline,
}

/// The ledger of one source whose messages observers watch for.
pub struct Ledger {
    /// The run's start: every time in the ledger is seconds since this.
    start: OnceLock<Instant>,
    book: Mutex<Book>,
}

/// An observer's place in its ledger.
#[derive(Debug, Clone, Copy)]
pub struct ObserverId(usize);

/// A connection's subscription: every symbol, or these.
pub type Subscription = Option<Vec<String>>;

/// An observer's figures at the end of the run: per phase and in all, and the spread of
/// per-connection delivered and lost counts (min, max).
pub struct ObserverResult {
    pub phases: Vec<DeliveryTally>,
    pub total: DeliveryTally,
    pub per_connection_delivered: (u64, u64),
    pub per_connection_lost: (u64, u64),
}

impl Ledger {
    /// A ledger for a source with these known symbols (a synthetic source's, in order)
    /// and the run's `phases`.
    pub fn new(symbols: &[String], phases: &[Phase]) -> Ledger {
        let mut known = Symbols { index: HashMap::new(), judged_up_to: Vec::new() };
        for s in symbols {
            known.intern(s);
        }
        let book = Book {
            symbols: known,
            window: VecDeque::new(),
            base: 0,
            word_base: 0,
            ids: HashMap::new(),
            observers: Vec::new(),
            timeline: Timeline::new(phases),
        };
        Ledger { start: OnceLock::new(), book: Mutex::new(book) }
    }

    /// Adds an observer whose connections subscribe as `subscriptions` say, counting on
    /// `live` too.
    pub fn observer(&self, deadline: f64, subscriptions: &[Subscription], live: LiveObserver) -> ObserverId {
        let mut book = self.lock();
        let phases = vec![DeliveryTally::default(); book.timeline.phases()];
        let connections = subscriptions
            .iter()
            .map(|s| Connection {
                symbols: s.as_ref().map(|list| list.iter().map(|sym| book.symbols.intern(sym)).collect()),
                seen: VecDeque::new(),
                last_seq: Vec::new(),
                delivered: 0,
                lost: 0,
            })
            .collect();
        let judged = book.base + book.window.len() as u64;
        book.observers.push(ObserverBook { deadline, connections, judged, arrivals: VecDeque::new(), phases, live });
        ObserverId(book.observers.len() - 1)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Book> {
        // A panic while holding the lock leaves counts that are still whole numbers.
        self.book.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The run starts now (`start` is the schedule's instant zero).
    pub fn begin(&self, start: Instant) {
        let _ = self.start.set(start);
    }

    /// Seconds since the run's start, or `None` before it.
    pub fn now(&self) -> Option<f64> {
        self.start.get().map(|s| s.elapsed().as_secs_f64())
    }

    /// Writes down a batch about to be sent: each message's (offset, phase) in `due`, sent
    /// `now` seconds into the run. A key already in the window (a planted duplicate, or
    /// a second sink of the source) keeps its first send.
    pub fn sending(&self, batch: &[Outgoing], due: &[(f64, usize)], now: f64) {
        let mut book = self.lock();
        // Twice the keys it may hold: the tombstones removals leave are then always rehashed
        // in place, so a steady window never reallocates the index.
        let needed = 2 * (book.window.len() + batch.len());
        if book.ids.capacity() < needed {
            let additional = needed - book.ids.len();
            book.ids.reserve(additional);
        }
        for (message, &(intended, phase)) in batch.iter().zip(due) {
            let Record::Trade(trade) = &message.record else { continue };
            let symbol = book.symbols.intern(&trade.symbol);
            let id = book.base + book.window.len() as u64;
            if let Entry::Vacant(slot) = book.ids.entry((symbol, trade.seq)) {
                slot.insert(id);
                book.window.push_back(Sent { symbol, seq: trade.seq, phase, intended, sent: now, failed: false });
                for observer in &mut book.observers {
                    observer.arrivals.push_back(NONE_ARRIVED);
                }
            }
        }
    }

    /// The send of `batch` failed: its messages are not owed to the observers.
    pub fn failed(&self, batch: &[Outgoing]) {
        let mut guard = self.lock();
        let book = &mut *guard;
        for message in batch {
            let Record::Trade(trade) = &message.record else { continue };
            let Some(&symbol) = book.symbols.index.get(trade.symbol.as_str()) else { continue };
            if let Some(&id) = book.ids.get(&(symbol, trade.seq))
                && let Some(sent) = id.checked_sub(book.base).and_then(|i| book.window.get_mut(i as usize))
            {
                sent.failed = true;
            }
        }
    }

    /// An arrival at `connection` of `observer` at `now` seconds: the message of `symbol`
    /// with `seq`.
    pub fn arrived(&self, observer: ObserverId, connection: usize, symbol: &str, seq: u64, now: f64) {
        let mut guard = self.lock();
        let book = &mut *guard;
        let phase_now = book.timeline.phase_at(now);
        let ob = &mut book.observers[observer.0];
        let Some(&symbol) = book.symbols.index.get(symbol) else {
            ob.count_stray(phase_now, false);
            return;
        };
        let Some(&id) = book.ids.get(&(symbol, seq)) else {
            let late = book.symbols.judged_up_to[symbol as usize].is_some_and(|up_to| seq <= up_to);
            ob.count_stray(phase_now, late);
            return;
        };
        let conn = &mut ob.connections[connection];
        if id < ob.judged || !conn.expects(symbol) {
            // Judged already for this observer (came after its deadline), or not a
            // message this connection subscribed to.
            ob.count_stray(phase_now, id < ob.judged);
            return;
        }
        let sent = &book.window[(id - book.base) as usize];
        let (word, bit) = ((id / 64 - book.word_base) as usize, id % 64);
        if conn.seen.len() <= word {
            conn.seen.resize(word + 1, 0);
        }
        let tally = &mut ob.phases[sent.phase];
        if conn.seen[word] & (1 << bit) != 0 {
            tally.duplicated += 1;
            ob.live.duplicated.inc();
            return;
        }
        conn.seen[word] |= 1 << bit;
        conn.delivered += 1;
        let slot = symbol as usize;
        if conn.last_seq.len() <= slot {
            conn.last_seq.resize(slot + 1, None);
        }
        let out_of_order = conn.last_seq[slot].is_some_and(|last| seq < last);
        conn.last_seq[slot] = Some(conn.last_seq[slot].map_or(seq, |last| last.max(seq)));
        tally.delivered += 1;
        tally.out_of_order += u64::from(out_of_order);
        tally.latency.saturating_record(micros(now - sent.intended));
        tally.send_latency.saturating_record(micros(now - sent.sent));
        ob.live.delivered.inc();
        ob.live.out_of_order.inc_by(u64::from(out_of_order));
        ob.live.latency.observe((now - sent.intended).max(0.0));
        let arrivals = &mut ob.arrivals[(id - ob.judged) as usize];
        arrivals.first = arrivals.first.min(now);
        arrivals.last = arrivals.last.max(now);
    }

    /// Judges every message whose deadline has passed by `now` (all of them when `now` is
    /// infinite), and forgets the ones every observer has judged.
    pub fn judge(&self, now: f64) {
        let mut guard = self.lock();
        let book = &mut *guard;
        let end = book.base + book.window.len() as u64;
        for ob in &mut book.observers {
            while ob.judged < end {
                let sent = &book.window[(ob.judged - book.base) as usize];
                if now - sent.sent <= ob.deadline {
                    break;
                }
                let (word, bit) = ((ob.judged / 64 - book.word_base) as usize, ob.judged % 64);
                let tally = &mut ob.phases[sent.phase];
                for conn in ob.connections.iter_mut().filter(|c| c.expects(sent.symbol)) {
                    let seen = conn.seen.get(word).is_some_and(|w| w & (1 << bit) != 0);
                    if sent.failed && !seen {
                        continue;
                    }
                    tally.expected += 1;
                    ob.live.expected.inc();
                    if !seen {
                        tally.lost += 1;
                        conn.lost += 1;
                        ob.live.lost.inc();
                    }
                }
                let arrivals = ob.arrivals.pop_front().expect("one per message in the window");
                if arrivals.last >= arrivals.first {
                    tally.skew.saturating_record(micros(arrivals.last - arrivals.first));
                    ob.live.skew.observe(arrivals.last - arrivals.first);
                }
                ob.judged += 1;
            }
        }
        let judged_by_all = book.observers.iter().map(|o| o.judged).min().unwrap_or(end);
        while book.base < judged_by_all {
            let sent = book.window.pop_front().expect("the window holds ids base..end");
            book.ids.remove(&(sent.symbol, sent.seq));
            let up_to = &mut book.symbols.judged_up_to[sent.symbol as usize];
            *up_to = Some(up_to.map_or(sent.seq, |u| u.max(sent.seq)));
            book.base += 1;
        }
        let word_base = book.base / 64;
        let drop = (word_base - book.word_base) as usize;
        if drop > 0 {
            for conn in book.observers.iter_mut().flat_map(|o| o.connections.iter_mut()) {
                conn.seen.drain(..drop.min(conn.seen.len()));
            }
            book.word_base = word_base;
        }
    }

    /// The longest deadline of this ledger's observers, seconds.
    pub fn longest_deadline(&self) -> f64 {
        self.lock().observers.iter().map(|o| o.deadline).fold(0.0, f64::max)
    }

    /// Everything `observer` counted (call after judging everything).
    pub fn result(&self, observer: ObserverId) -> ObserverResult {
        let book = self.lock();
        let ob = &book.observers[observer.0];
        let spread = |count: fn(&Connection) -> u64| {
            let counts = ob.connections.iter().map(count);
            (counts.clone().min().unwrap_or(0), counts.max().unwrap_or(0))
        };
        ObserverResult {
            phases: ob.phases.clone(),
            total: DeliveryTally::sum(&ob.phases),
            per_connection_delivered: spread(|c| c.delivered),
            per_connection_lost: spread(|c| c.lost),
        }
    }

    /// `observer`'s figures so far, per phase (for abort thresholds).
    pub fn snapshot(&self, observer: ObserverId) -> Vec<DeliveryTally> {
        self.lock().observers[observer.0].phases.clone()
    }
}

/// Seconds as whole microseconds (a negative span as 0).
fn micros(seconds: f64) -> u64 {
    ((seconds.max(0.0)) * 1e6) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Phase;
    use tickwatch_feed::model::{Side, Trade};

    fn trade(symbol: &str, seq: u64) -> Outgoing {
        let trade =
            Trade { venue: "v".into(), symbol: symbol.into(), seq, ts_ns: 0, price: 1.0, qty: 1.0, side: Side::Buy };
        Outgoing { payload: Vec::new(), record: Record::Trade(trade) }
    }

    /// A ledger of two symbols and one phase, with an observer of two connections: one
    /// subscribed to A only, one to everything; deadline 1 s.
    fn ledger() -> (Ledger, ObserverId) {
        let phase: Phase = toml::from_str("name = \"p\"\nduration = \"10s\"\nrate = 1").unwrap();
        let ledger = Ledger::new(&["A".into(), "B".into()], &[phase]);
        let live = crate::run::live::LiveMetrics::new(0).observer("o");
        let id = ledger.observer(1.0, &[Some(vec!["A".into()]), None], live);
        (ledger, id)
    }

    #[test]
    fn every_delivery_owed_is_delivered_or_lost_and_the_rest_is_named() {
        let (ledger, ob) = ledger();
        let batch = [trade("A", 1), trade("B", 1), trade("A", 2), trade("A", 3)];
        ledger.sending(&batch, &[(0.0, 0), (0.0, 0), (0.1, 0), (0.1, 0)], 0.2);
        // Connection 0 (A only): A1, A3, A2 (out of order), A3 again, and B1 (not its symbol).
        for (seq, at) in [(1, 0.25), (3, 0.3), (2, 0.35), (3, 0.4)] {
            ledger.arrived(ob, 0, "A", seq, at);
        }
        ledger.arrived(ob, 0, "B", 1, 0.3);
        // Connection 1 (everything): A1 and B1; A2 and A3 never come. C1 and A9 were never sent.
        ledger.arrived(ob, 1, "A", 1, 0.5);
        ledger.arrived(ob, 1, "B", 1, 0.45);
        ledger.arrived(ob, 1, "C", 1, 0.5);
        ledger.arrived(ob, 1, "A", 9, 0.5);
        ledger.judge(1.0);
        assert_eq!(ledger.result(ob).total.expected, 0, "nothing is past its deadline yet");
        ledger.judge(1.3);
        // After judging: A2 arrives at connection 1, too late.
        ledger.arrived(ob, 1, "A", 2, 1.4);
        let r = ledger.result(ob);
        let t = &r.total;
        assert_eq!((t.expected, t.delivered, t.lost), (7, 5, 2), "A1..A3 twice, B1 once");
        assert_eq!((t.duplicated, t.out_of_order, t.unexpected, t.late), (1, 1, 3, 1));
        assert_eq!((r.per_connection_delivered, r.per_connection_lost), ((2, 3), (0, 2)));
        // Latency from the intended send time (least: A3, 0.1 → 0.3 s), and from the
        // send at 0.2 s (least: A1 at 0.25 s).
        assert!((199_800..=200_100).contains(&t.latency.min()), "{}", t.latency.min());
        assert!((49_900..=50_100).contains(&t.send_latency.min()), "{}", t.send_latency.min());
        // A1 reached connection 0 at 0.25 s and connection 1 at 0.5 s.
        assert!((249_000..=251_000).contains(&t.skew.max()), "{}", t.skew.max());
    }

    #[test]
    fn a_failed_send_is_owed_only_where_it_arrived_and_the_window_is_forgotten() {
        let (ledger, ob) = ledger();
        let batch = [trade("A", 1), trade("A", 2)];
        ledger.sending(&batch, &[(0.0, 0), (0.0, 0)], 0.0);
        ledger.failed(&batch);
        ledger.arrived(ob, 1, "A", 2, 0.1);
        for seq in 3..=200 {
            ledger.sending(&[trade("B", seq)], &[(0.0, 0)], 0.0);
        }
        ledger.judge(f64::INFINITY);
        let t = ledger.result(ob).total;
        assert_eq!((t.expected, t.delivered, t.lost), (1 + 198, 1, 198));
        let book = ledger.lock();
        assert!(book.window.is_empty() && book.ids.is_empty(), "judged messages are forgotten");
        assert!(book.observers[0].connections.iter().all(|c| c.seen.len() <= 1), "and their bits");
    }
}
