use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// One per-symbol generator: it knows when its next record is due and makes it.
pub(super) trait Scheduled {
    type Record;
    /// Exchange time of the next record.
    fn next_ns(&self) -> i64;
    /// Makes the next record and schedules the one after.
    fn emit(&mut self) -> Self::Record;
    /// Schedules the record after the next without making the next one (it is another
    /// shard's): the times come from their own random stream, so this costs a draw.
    fn skip(&mut self);
}

/// One record's place in the merged order: made here, or passed (another shard makes the
/// record of stream `index`).
#[derive(Debug, Clone, PartialEq)]
pub enum Slot<R> {
    Made(R),
    Passed(usize),
}

/// The specs of the streams to merge (symbols, underlyings) sorted by `name`, so the merge
/// order depends only on names and times; or every problem of every spec, each prefixed
/// with `what` and the spec's name.
pub(super) fn checked<T>(
    mut specs: Vec<T>,
    what: &str,
    name: impl Fn(&T) -> &str,
    problems: impl Fn(&T) -> Vec<String>,
) -> Result<Vec<T>, Vec<String>> {
    let mut found = Vec::new();
    for spec in &specs {
        found.extend(problems(spec).into_iter().map(|p| format!("{what} {}: {p}", name(spec))));
    }
    if specs.is_empty() {
        found.push(format!("{what}s: at least one {what} is needed"));
    }
    if !found.is_empty() {
        return Err(found);
    }
    specs.sort_by(|a, b| name(a).cmp(name(b)));
    Ok(specs)
}

/// Merges per-symbol generators by time; ties go to the generator listed first, and the
/// callers list them sorted by name, so the merge order depends only on names and times.
pub(super) struct Merged<S> {
    streams: Vec<S>,
    due: BinaryHeap<Reverse<(i64, usize)>>,
    /// Which streams this generator makes records of (all but another shard's).
    makes: Vec<bool>,
}

impl<S: Scheduled> Merged<S> {
    pub(super) fn new(streams: Vec<S>) -> Self {
        let due = streams.iter().enumerate().map(|(i, s)| Reverse((s.next_ns(), i))).collect();
        let makes = vec![true; streams.len()];
        Merged { streams, due, makes }
    }

    /// Makes records only for the streams `makes` says yes to; the others' slots pass.
    pub(super) fn make_only(&mut self, makes: impl Fn(&S) -> bool) {
        self.makes = self.streams.iter().map(makes).collect();
    }

    /// The next slot of the merged order: its record when this generator makes it.
    pub(super) fn next_slot(&mut self) -> Option<Slot<S::Record>> {
        let mut top = self.due.peek_mut()?;
        let i = top.0.1;
        let slot = if self.makes[i] {
            Slot::Made(self.streams[i].emit())
        } else {
            self.streams[i].skip();
            Slot::Passed(i)
        };
        // Replacing the top sifts it down once (a pop and a push would sift twice).
        *top = Reverse((self.streams[i].next_ns(), i));
        Some(slot)
    }

    /// Passes the slots of other shards' records up to the next one made here, or until
    /// `limit` slots have passed; `slots(stream)` says how many slots each passed record
    /// takes (two for a duplicated one, so the count can end one past `limit`). Returns
    /// the count. This is the shard's hot path: a sift of the heap and the stream's
    /// draw per passed record, nothing made.
    pub(super) fn pass_others(&mut self, limit: u64, mut slots: impl FnMut(&S) -> u64) -> u64 {
        let mut passed = 0;
        while passed < limit {
            let Some(mut top) = self.due.peek_mut() else { break };
            let i = top.0.1;
            if self.makes[i] {
                break;
            }
            let stream = &mut self.streams[i];
            stream.skip();
            passed += slots(stream);
            *top = Reverse((stream.next_ns(), i));
        }
        passed
    }

    pub(super) fn streams(&self) -> &[S] {
        &self.streams
    }
}

impl<S: Scheduled> Iterator for Merged<S> {
    type Item = S::Record;

    /// The next record made here (passing other shards' slots); none when this generator
    /// makes no stream's records.
    fn next(&mut self) -> Option<S::Record> {
        if !self.makes.contains(&true) {
            return None;
        }
        loop {
            if let Slot::Made(record) = self.next_slot()? {
                return Some(record);
            }
        }
    }
}
