use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// One per-symbol generator: it knows when its next record is due and makes it.
pub(super) trait Scheduled {
    type Record;
    /// Exchange time of the next record.
    fn next_ns(&self) -> i64;
    /// Makes the next record and schedules the one after.
    fn emit(&mut self) -> Self::Record;
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
}

impl<S: Scheduled> Merged<S> {
    pub(super) fn new(streams: Vec<S>) -> Self {
        let due = streams.iter().enumerate().map(|(i, s)| Reverse((s.next_ns(), i))).collect();
        Merged { streams, due }
    }

    pub(super) fn streams(&self) -> &[S] {
        &self.streams
    }
}

impl<S: Scheduled> Iterator for Merged<S> {
    type Item = S::Record;

    fn next(&mut self) -> Option<S::Record> {
        let Reverse((_, i)) = self.due.pop()?;
        let record = self.streams[i].emit();
        self.due.push(Reverse((self.streams[i].next_ns(), i)));
        Some(record)
    }
}
