//! The latency of each second of a run, for the HdrHistogram interval log and the
//! per-second chart. A full histogram (3 significant digits up to an hour) has ~23,500
//! counters of 8 bytes (188 KB), so one per second per sink would hold 680 MB for a
//! 30-minute run with two sinks (the soak run saw +21 MiB a minute), and even kept encoded
//! they grew a long run by 18.5 MiB an hour (the next soak run; about 2.5 KB a second a
//! sink, derived from that slope). Only the second being recorded is a histogram in
//! memory; a second that has passed is written, V2-encoded, to an unnamed temporary file
//! and read back for the report, so memory stays flat however long the run. If the file
//! cannot be made or written, the encodings stay in memory: nothing is lost.

use super::pace::histogram;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use std::fs::File;
use std::os::unix::fs::FileExt;

/// Where a passed second's encoding is.
#[derive(Debug)]
enum Stored {
    Spilled { offset: u64, len: usize },
    Held(Vec<u8>),
}

#[derive(Debug, Default)]
pub struct Intervals {
    /// Seconds 0..closed.len().
    closed: Vec<Stored>,
    /// The temporary file and how much of it is written; None before the first second
    /// passes, or after it failed.
    spill: Option<(File, u64)>,
    spill_failed: bool,
    /// Second `closed.len()`, while there is one.
    current: Option<Histogram<u64>>,
}

fn encode(h: &Histogram<u64>) -> Vec<u8> {
    let mut bytes = Vec::new();
    V2Serializer::new().serialize(h, &mut bytes).expect("a histogram encodes into memory");
    bytes
}

fn decode(bytes: &[u8]) -> Histogram<u64> {
    Deserializer::new().deserialize(&mut &bytes[..]).expect("our own encoding decodes")
}

impl Intervals {
    /// Seconds covered so far.
    pub fn len(&self) -> usize {
        self.closed.len() + usize::from(self.current.is_some())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Makes `second` the one being recorded, closing the ones before it; a second that
    /// has passed can be reached only through [`add`](Self::add).
    pub fn reach(&mut self, second: usize) {
        while self.len() <= second {
            if let Some(done) = self.current.take() {
                let stored = self.store(encode(&done));
                self.closed.push(stored);
            }
            self.current = Some(histogram());
        }
    }

    /// Writes `bytes` to the temporary file, or keeps them if it cannot.
    fn store(&mut self, bytes: Vec<u8>) -> Stored {
        if self.spill.is_none() && !self.spill_failed {
            match tempfile::tempfile() {
                Ok(file) => self.spill = Some((file, 0)),
                Err(e) => self.spill_failed(&e),
            }
        }
        let Some((file, end)) = &mut self.spill else { return Stored::Held(bytes) };
        let offset = *end;
        match file.write_all_at(&bytes, offset) {
            Ok(()) => {
                *end += bytes.len() as u64;
                Stored::Spilled { offset, len: bytes.len() }
            }
            Err(e) => {
                self.spill_failed(&e);
                Stored::Held(bytes)
            }
        }
    }

    fn spill_failed(&mut self, e: &std::io::Error) {
        eprintln!(
            "tickwatch-loadgen: cannot write per-second latencies to a temporary file ({e}); keeping them in memory"
        );
        self.spill = None;
        self.spill_failed = true;
    }

    fn load(&self, stored: &Stored) -> Histogram<u64> {
        match stored {
            Stored::Held(bytes) => decode(bytes),
            Stored::Spilled { offset, len } => {
                let (file, _) = self.spill.as_ref().expect("spilled seconds have their file");
                let mut bytes = vec![0; *len];
                file.read_exact_at(&mut bytes, *offset).expect("the temporary file reads back what was written");
                decode(&bytes)
            }
        }
    }

    /// Records one latency into the current second.
    pub fn record(&mut self, latency_us: u64) {
        self.current.get_or_insert_with(histogram).saturating_record(latency_us.max(1));
    }

    /// Adds `h` to `second` (merging shards' logs, where seconds come in any order).
    pub fn add(&mut self, second: usize, h: &Histogram<u64>) -> Result<(), String> {
        self.reach(second);
        if second == self.closed.len() {
            return self.current.get_or_insert_with(histogram).add(h).map_err(|e| e.to_string());
        }
        let mut sum = self.load(&self.closed[second]);
        sum.add(h).map_err(|e| e.to_string())?;
        self.closed[second] = self.store(encode(&sum));
        Ok(())
    }

    /// Every second's histogram, in order.
    pub fn histograms(&self) -> impl Iterator<Item = Histogram<u64>> + '_ {
        self.closed.iter().map(|s| self.load(s)).chain(self.current.iter().cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::Intervals;
    use crate::run::pace::histogram;

    #[test]
    fn passed_seconds_are_kept_small_and_exact() {
        let mut intervals = Intervals::default();
        for second in 0..100 {
            intervals.reach(second);
            for i in 0..1000u64 {
                intervals.record(100 + i * (second as u64 + 1));
            }
        }
        assert!(
            intervals.closed.iter().all(|s| matches!(s, super::Stored::Spilled { .. })),
            "passed seconds are on disk"
        );
        let written = intervals.spill.as_ref().unwrap().1;
        assert!(written < 99 * 4096, "{written} bytes for 99 passed seconds");
        let mut late = histogram();
        late.record(7).unwrap();
        intervals.add(3, &late).unwrap();
        intervals.add(120, &late).unwrap();
        let all: Vec<_> = intervals.histograms().collect();
        assert_eq!(all.len(), 121);
        assert_eq!(all[3].len(), 1001);
        assert_eq!(all[3].max(), intervals_max(3));
        assert_eq!(all[99].len(), 1000);
        assert!(all[100].is_empty() && all[120].len() == 1);
    }

    fn intervals_max(second: u64) -> u64 {
        let mut h = histogram();
        h.record(100 + 999 * (second + 1)).unwrap();
        h.max()
    }
}
