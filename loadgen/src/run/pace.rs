//! Open-loop pacing (wrk2's model): every message has an intended send time from the
//! phase's rate (or the replay's recorded times), and its latency is measured from that
//! time to the completion of its send. A sink that stalls therefore shows up as latency,
//! and the messages due meanwhile are sent late, never silently dropped: the achieved
//! rate stays honest.

use super::intervals::Intervals;
use super::observe::ledger::Ledger;
use super::sinks::{Deliveries, Sink};
use super::source::{Feed, Outgoing};
use crate::scenario::Phase;
use hdrhistogram::Histogram;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Latencies are recorded in microseconds, up to an hour, with 3 significant digits.
const MAX_LATENCY_US: u64 = 3_600_000_000;

pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid bounds")
}

/// Counts and latencies of one phase (or of the whole run).
#[derive(Debug, Clone)]
pub struct Tally {
    pub attempted: u64,
    pub sent: u64,
    pub failed: u64,
    /// Microseconds from intended send time to completion.
    pub latency: Histogram<u64>,
    /// Seconds the tally is scheduled to cover (the phase's duration, or the run's length).
    pub seconds: f64,
    /// Seconds it took on the wall clock: from the phase's scheduled start to the end of
    /// its last send (for the whole run, the run's length), so a sink that falls behind
    /// shows a lower rate.
    pub wall_seconds: f64,
}

impl Default for Tally {
    fn default() -> Self {
        Tally { attempted: 0, sent: 0, failed: 0, latency: histogram(), seconds: 0.0, wall_seconds: 0.0 }
    }
}

impl Tally {
    fn record(&mut self, ok: bool, latency_us: u64) {
        self.attempted += 1;
        if ok {
            self.sent += 1;
        } else {
            self.failed += 1;
        }
        self.latency.saturating_record(latency_us.max(1));
    }
}

/// Everything one sink's run produced.
#[derive(Debug)]
pub struct SinkRun {
    pub phases: Vec<Tally>,
    pub total: Tally,
    /// One histogram per second of the run (for the HdrHistogram interval log).
    pub intervals: Intervals,
    /// Messages sent per second of the run (for the rate chart).
    pub sent_per_second: Vec<u64>,
    /// First error seen, for the report.
    pub first_error: Option<String>,
    /// What the sink's subscribers got (gateways only).
    pub deliveries: Option<Deliveries>,
}

impl SinkRun {
    /// Nothing sent yet in any of `phases`.
    pub fn empty(phases: &[Phase]) -> SinkRun {
        SinkRun {
            phases: phases.iter().map(|p| Tally { seconds: p.duration.as_secs_f64(), ..Tally::default() }).collect(),
            total: Tally::default(),
            intervals: Intervals::default(),
            sent_per_second: Vec::new(),
            first_error: None,
            deliveries: None,
        }
    }
}

/// When each phase is scheduled to begin and the run to end, in seconds from its start.
#[derive(Clone)]
pub(crate) struct Timeline {
    starts: Vec<f64>,
    end: f64,
}

impl Timeline {
    pub(crate) fn new(phases: &[Phase]) -> Timeline {
        let mut starts = Vec::with_capacity(phases.len());
        let mut end = 0.0;
        for p in phases {
            starts.push(end);
            end += p.duration.as_secs_f64();
        }
        Timeline { starts, end }
    }

    /// The phase scheduled `t` seconds in (the last one from the end on).
    pub(crate) fn phase_at(&self, t: f64) -> usize {
        self.starts.partition_point(|&s| s <= t).saturating_sub(1)
    }

    /// How many phases there are.
    pub(crate) fn phases(&self) -> usize {
        self.starts.len()
    }
}

/// When the next message is due.
enum Schedule<'p> {
    Rate { phases: &'p [Phase], phase: usize, index: u64, phase_start: f64 },
    Replay(Timeline),
}

impl Schedule<'_> {
    /// (seconds from the run start, phase index) of the next slot; `None` when done.
    fn peek(&mut self, feed: &mut Feed) -> Option<(f64, usize)> {
        match self {
            Schedule::Rate { phases, phase, index, phase_start } => loop {
                let p = phases.get(*phase)?;
                if *index < p.total() {
                    return Some((*phase_start + p.due_at(*index), *phase));
                }
                // Slots passed beyond the phase's end (a duplicate's) carry over.
                *index -= p.total();
                *phase_start += p.duration.as_secs_f64();
                *phase += 1;
            },
            Schedule::Replay(timeline) => {
                let offset = feed.recorded_offset()?;
                (offset < timeline.end).then(|| (offset, timeline.phase_at(offset)))
            }
        }
    }

    /// Slots left in the phase of the slot peeked at.
    fn left_in_phase(&self) -> u64 {
        match self {
            Schedule::Rate { phases, phase, index, .. } => phases[*phase].total() - index,
            Schedule::Replay(_) => u64::MAX,
        }
    }

    /// Moves past `slots` slots (a replay moves as its feed reads).
    fn pass(&mut self, slots: u64) {
        if let Schedule::Rate { index, .. } = self {
            *index += slots;
        }
    }
}

/// What a driver follows: the phases, when the run started (as an instant and as the
/// exchange time of the first message), and how each send is bounded.
pub struct Plan<'p> {
    pub phases: &'p [Phase],
    pub start: Instant,
    pub start_ns: i64,
    pub timeout: Duration,
    pub max_batch: usize,
    /// Where the sends are written down for the observers of this sink's source.
    pub ledger: Option<&'p Ledger>,
}

/// One message of this sink with its slot: seconds from the run start and phase index.
struct Due {
    offset: f64,
    phase: usize,
    message: Outgoing,
}

/// The sink's own messages in schedule order. Each slot's message is made with the faults
/// of the slot's phase; another shard's slot passes at once, so a shard spends its time
/// (and its sleeps) only on the messages it sends.
struct OwnMessages<'p> {
    schedule: Schedule<'p>,
    phases: &'p [Phase],
    start_ns: i64,
    fault_phase: usize,
}

/// Most slots passed at once, so a shard running through many others' slots lets the
/// other sinks' tasks run in between.
const PASS_AT_ONCE: u64 = 4096;

impl OwnMessages<'_> {
    async fn next(&mut self, feed: &mut Feed) -> Option<Due> {
        let mut replayed_for_others = 0u64;
        loop {
            let (offset, phase) = self.schedule.peek(feed)?;
            if phase != self.fault_phase {
                self.fault_phase = phase;
                feed.set_faults(&self.phases[phase].fault_mix);
            }
            let passed = feed.pass_others(self.schedule.left_in_phase().min(PASS_AT_ONCE));
            if passed > 0 {
                self.schedule.pass(passed);
                if passed >= PASS_AT_ONCE {
                    tokio::task::yield_now().await;
                }
                continue;
            }
            self.schedule.pass(1);
            match feed.next(self.start_ns + (offset * 1e9) as i64)? {
                Some(message) => return Some(Due { offset, phase, message }),
                // A replay's message of another shard passes here.
                None => {
                    replayed_for_others += 1;
                    if replayed_for_others % PASS_AT_ONCE == 0 {
                        tokio::task::yield_now().await;
                    }
                }
            }
        }
    }
}

/// Which phase the live metrics show: the one whose scheduled time it is, also when this
/// sink has nothing to send in it (a pause, or a shard owning none of its messages).
struct LivePhase<'p> {
    phases: &'p [Phase],
    timeline: Timeline,
    shown: usize,
}

impl<'p> LivePhase<'p> {
    fn new(phases: &'p [Phase], timeline: Timeline) -> Self {
        LivePhase { phases, timeline, shown: usize::MAX }
    }

    fn show(&mut self, elapsed: f64, live: &super::live::LiveSink) {
        let now = self.timeline.phase_at(elapsed);
        if now != self.shown {
            self.shown = now;
            live.set_phase(&self.phases[now]);
        }
    }

    /// Sleeps until `offset` seconds into the run (or until cancelled), showing each phase
    /// as its start passes.
    async fn wait_until(
        &mut self,
        offset: f64,
        start: Instant,
        live: &super::live::LiveSink,
        cancel: &mut watch::Receiver<bool>,
    ) {
        let until = start + Duration::from_secs_f64(offset.max(0.0));
        loop {
            self.show(start.elapsed().as_secs_f64(), live);
            if *cancel.borrow() || Instant::now() >= until {
                return;
            }
            let next_phase = self.timeline.starts.get(self.shown + 1);
            let wake = next_phase.map_or(until, |&s| until.min(start + Duration::from_secs_f64(s)));
            tokio::select! {
                _ = tokio::time::sleep_until(wake.into()) => {}
                changed = cancel.changed() => if changed.is_err() { return },
            }
        }
    }
}

/// Drives one sink through every phase; stops early when `cancel` turns true.
pub async fn drive(
    sink: &mut dyn Sink,
    feed: &mut Feed,
    plan: &Plan<'_>,
    mut cancel: watch::Receiver<bool>,
    live: &super::live::LiveSink,
) -> SinkRun {
    let Plan { phases, start, start_ns, timeout, max_batch, ledger } = *plan;
    let mut run = SinkRun::empty(phases);
    let timeline = Timeline::new(phases);
    let schedule = match feed.recorded_offset() {
        Some(_) => Schedule::Replay(timeline.clone()),
        None => Schedule::Rate { phases, phase: 0, index: 0, phase_start: 0.0 },
    };
    let mut live_phase = LivePhase::new(phases, timeline);
    let paced_by_rate = matches!(schedule, Schedule::Rate { .. });
    let mut own = OwnMessages { schedule, phases, start_ns, fault_phase: usize::MAX };
    let mut pending = own.next(feed).await;
    let mut batch = Vec::with_capacity(max_batch);
    let mut due = Vec::with_capacity(max_batch);
    while let Some(first) = &pending {
        if *cancel.borrow() {
            break;
        }
        let first_offset = first.offset;
        let elapsed = start.elapsed().as_secs_f64();
        live_phase.show(elapsed, live);
        if first_offset > elapsed {
            live_phase.wait_until(first_offset, start, live, &mut cancel).await;
            continue;
        }
        batch.clear();
        due.clear();
        while let Some(next) = pending.take_if(|n| n.offset <= elapsed && batch.len() < max_batch) {
            batch.push(next.message);
            due.push((next.offset, next.phase));
            pending = own.next(feed).await;
        }
        if let Some(ledger) = ledger {
            ledger.sending(&batch, &due, start.elapsed().as_secs_f64());
        }
        let outcome = match tokio::time::timeout(timeout, sink.send(&batch)).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {timeout:?}")),
        };
        if let (Some(ledger), Err(_)) = (ledger, &outcome) {
            ledger.failed(&batch);
        }
        let done = start.elapsed();
        let ok = outcome.is_ok();
        if let Err(e) = outcome {
            run.first_error.get_or_insert(e);
        }
        let second = done.as_secs() as usize;
        if second >= run.intervals.len() {
            // A new second: what thresholds judged while running see.
            live.publish(&run.phases);
        }
        run.intervals.reach(second);
        run.sent_per_second.resize(run.sent_per_second.len().max(second + 1), 0);
        for &(offset, phase) in &due {
            let latency_us = (done.as_secs_f64() - offset).max(0.0) * 1e6;
            let latency_us = latency_us as u64;
            run.phases[phase].record(ok, latency_us);
            run.phases[phase].wall_seconds = done.as_secs_f64() - live_phase.timeline.starts[phase];
            run.total.record(ok, latency_us);
            run.intervals.record(latency_us);
        }
        if ok {
            run.sent_per_second[second] += due.len() as u64;
        }
        live.record(ok, &due, done.as_secs_f64());
        // A send that completes at once (a gateway's publish, a file's buffered write)
        // never gives the runtime back: behind schedule, this loop would starve the
        // gateway's own subscribers, the progress line and the live metrics.
        tokio::task::yield_now().await;
    }
    // A trailing pause (rate 0) is part of the run: the sink stays up, a gateway keeps its
    // clients, until the schedule ends. So is a shard's share of the run after its last message.
    if paced_by_rate {
        let end = live_phase.timeline.end;
        live_phase.wait_until(end, start, live, &mut cancel).await;
    }
    if let Err(e) = sink.finish().await {
        run.first_error.get_or_insert(e);
    }
    run.deliveries = sink.deliveries();
    run.total.seconds = start.elapsed().as_secs_f64();
    run.total.wall_seconds = run.total.seconds;
    run
}
