//! The latency of each second of a run, for the HdrHistogram interval log and the
//! per-second chart. A full histogram (3 significant digits up to an hour) takes 188 KB,
//! so one per second per sink grew a 30-minute run with two sinks by 680 MB (the soak run
//! found it). Only the second being recorded is a full histogram; a second that has passed
//! is kept in its V2 encoding (tens to hundreds of bytes), exact and cheap to decode.

use super::pace::histogram;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};

#[derive(Debug, Clone, Default)]
pub struct Intervals {
    /// The encodings of seconds 0..closed.len().
    closed: Vec<Vec<u8>>,
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
                self.closed.push(encode(&done));
            }
            self.current = Some(histogram());
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
        let mut sum = decode(&self.closed[second]);
        sum.add(h).map_err(|e| e.to_string())?;
        self.closed[second] = encode(&sum);
        Ok(())
    }

    /// Every second's histogram, in order.
    pub fn histograms(&self) -> impl Iterator<Item = Histogram<u64>> + '_ {
        self.closed.iter().map(|b| decode(b)).chain(self.current.iter().cloned())
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
        let held: usize = intervals.closed.iter().map(Vec::len).sum();
        assert!(held < 99 * 4096, "{held} bytes for 99 closed seconds");
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
