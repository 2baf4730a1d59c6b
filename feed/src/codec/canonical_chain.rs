//! A fast path for the one message the exporter decodes most bytes of: an option chain in
//! exactly the canonical form [`super::encode`] writes (keys in order, no whitespace, no
//! escapes). serde_json spends most of a 50-strike chain matching ~700 keys and building
//! numbers through its generic visitors; here each key is one comparison with the
//! expected bytes and each number is read by the shared [`Scanner`] (short decimals by
//! exact arithmetic, others by lexical-core; correctly rounded either way, so round trips
//! stay exact). The chain's buffers are reused.
//! Anything else, valid or not, falls back to serde ([`super::decode`]), which takes any
//! key order and names a bad field, so both paths accept exactly the same chains (the
//! `feed_json` fuzz target checks that).

use super::scanner::Scanner;
use super::{DecodeError, decode};
use crate::model::{OptionChain, Quote, StrikeRow};

/// Decodes one option chain into `chain`, reusing its row and name buffers.
pub fn decode_chain_into(bytes: &[u8], chain: &mut OptionChain) -> Result<(), DecodeError> {
    if !read_canonical_chain(bytes, chain) {
        *chain = decode(bytes)?;
    }
    Ok(())
}

/// The fast path alone: whether `bytes` were a chain in exactly the canonical form (then
/// `chain` holds it; otherwise its content is unspecified).
pub fn read_canonical_chain(bytes: &[u8], chain: &mut OptionChain) -> bool {
    Scanner::new(bytes).and_then(|mut s| s.chain(chain)).is_some()
}

impl Scanner<'_> {
    fn chain(&mut self, chain: &mut OptionChain) -> Option<()> {
        self.literal("{\"underlying\":")?;
        let underlying = self.string()?;
        chain.underlying.clear();
        chain.underlying.push_str(underlying);
        self.literal(",\"expiry\":")?;
        chain.expiry = self.date()?;
        self.literal(",\"ts_ns\":")?;
        chain.ts_ns = self.integer()?;
        self.literal(",\"spot\":")?;
        chain.spot = self.float()?;
        self.literal(",\"rows\":[")?;
        chain.rows.clear();
        if !self.take(b']') {
            loop {
                chain.rows.push(self.row()?);
                if !self.take(b',') {
                    break;
                }
            }
            self.literal("]")?;
        }
        self.literal("}")?;
        self.at_end()
    }

    fn row(&mut self) -> Option<StrikeRow> {
        self.literal("{\"strike\":")?;
        let strike = self.float()?;
        self.literal(",\"call\":")?;
        let call = self.quote()?;
        self.literal(",\"put\":")?;
        let put = self.quote()?;
        self.literal("}")?;
        Some(StrikeRow { strike, call, put })
    }

    fn quote(&mut self) -> Option<Quote> {
        self.literal("{\"bid\":")?;
        let bid = self.float()?;
        self.literal(",\"ask\":")?;
        let ask = self.float()?;
        self.literal(",\"last\":")?;
        let last = self.float()?;
        self.literal(",\"iv\":")?;
        let iv = self.float()?;
        self.literal(",\"oi\":")?;
        let oi = self.unsigned()?;
        self.literal(",\"volume\":")?;
        let volume = self.unsigned()?;
        self.literal("}")?;
        Some(Quote { bid, ask, last, iv, oi, volume })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::encode;
    use crate::synth::{ChainSpec, ChainSynth};

    fn fast(bytes: &[u8]) -> Option<OptionChain> {
        let mut chain = OptionChain::default();
        read_canonical_chain(bytes, &mut chain).then_some(chain)
    }

    #[test]
    fn reads_every_float_as_serde_does() {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let template = r#"{"underlying":"X","expiry":"2026-12-31","ts_ns":1,"spot":SPOT,"rows":[]}"#;
        let written = [
            "0.1",
            "9007199254740993",
            "1e22",
            "1e23",
            "4.9e-324",
            "2.2250738585072014e-308",
            "1e-400",
            "-0",
            "0",
            "0.5",
            "00",
            "1.",
            "1.5.3",
            "123456789012345",
            "1234567890123456",
            "0.00000000000001",
            "9.99999999999999",
            "0.000000000000001",
            "24000.0",
            "1767225600000000001",
            "9999999999999999999",
            "18446744073709551615",
            "18446744073709551616",
            "12345678901234567.5",
        ];
        let random = (0..20_000).map(|i| match i % 4 {
            0 => f64::from_bits(rng.random()).to_string(),
            1 => format!("{:e}", rng.random_range(-1e6..1e6)),
            2 => rng.random::<u64>().to_string(),
            _ => format!("{:.2}", rng.random_range(0.0..100_000.0)),
        });
        let mut taken = 0;
        for spot in written.iter().map(|s| s.to_string()).chain(random) {
            let text = template.replace("SPOT", &spot);
            match (fast(text.as_bytes()), decode::<OptionChain>(text.as_bytes())) {
                (Some(fast), Ok(serde)) => {
                    assert_eq!(fast.spot.to_bits(), serde.spot.to_bits(), "{spot}");
                    taken += 1;
                }
                (None, _) => {}
                (Some(_), Err(e)) => panic!("{spot}: the fast path took what serde refuses ({e})"),
            }
        }
        // Only NaN and the infinities (1 in 2,048 random bit patterns) are left to serde.
        assert!(taken > 19_900, "the fast path took {taken} of 20,013");
    }

    #[test]
    fn takes_every_synthesized_chain_as_serde_does() {
        let chains =
            ChainSynth::new(vec![ChainSpec::preset("NIFTY"), ChainSpec::preset("BTC")], 1_767_225_600_000_000_000, 7)
                .unwrap()
                .take(50);
        let mut reused = OptionChain::default();
        for chain in chains {
            let mut bytes = Vec::new();
            encode(&chain, &mut bytes);
            assert_eq!(fast(&bytes).as_ref(), Some(&chain), "{}", String::from_utf8_lossy(&bytes));
            decode_chain_into(&bytes, &mut reused).unwrap();
            assert_eq!(reused, chain);
        }
    }

    #[test]
    fn leaves_other_forms_to_serde() {
        let canonical = r#"{"underlying":"NIFTY","expiry":"2026-12-31","ts_ns":-5,"spot":1.5e3,"rows":[{"strike":100,"call":{"bid":1.0,"ask":1.1,"last":1.05,"iv":0.2,"oi":0,"volume":7},"put":{"bid":0,"ask":-0.0,"last":2,"iv":1E-2,"oi":3,"volume":4}}]}"#;
        let chain = fast(canonical.as_bytes()).expect("canonical");
        assert_eq!(chain, decode::<OptionChain>(canonical.as_bytes()).unwrap());
        for other in [
            canonical.replace(r#""ts_ns":-5"#, r#""ts_ns":-0"#),
            canonical.replace(r#"{"underlying""#, r#"{ "underlying""#),
            canonical.replace("NIFTY", r"NI\u0046TY"),
            canonical.replace(r#""oi":0"#, r#""oi":00"#),
            canonical.replace(r#""oi":0"#, r#""oi":-1"#),
            canonical.replace(r#""oi":0"#, r#""oi":1.0"#),
            canonical.replace("1.05", "1."),
            canonical.replace("1.05", ".5"),
            canonical.replace("1.05", "1e999"),
            canonical.replace("1.05", "+1"),
            canonical.replace("2026-12-31", "2026-02-30"),
            canonical.replace(r#""oi":3,"volume":4"#, r#""volume":4,"oi":3"#),
            format!("{canonical} "),
        ] {
            assert_eq!(fast(other.as_bytes()), None, "{other}");
        }
        let reordered = canonical.replace(r#""oi":3,"volume":4"#, r#""volume":4,"oi":3"#);
        let mut into = chain.clone();
        decode_chain_into(reordered.as_bytes(), &mut into).unwrap();
        assert_eq!(into, chain, "serde takes what the fast path leaves");
        let err = decode_chain_into(canonical.replace("0.2", "\"high\"").as_bytes(), &mut into).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("rows[0].call.iv"));
    }
}
