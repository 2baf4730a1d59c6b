//! A fast path for the one message the exporter decodes most bytes of: an option chain in
//! exactly the canonical form [`super::encode`] writes (keys in order, no whitespace, no
//! escapes). serde_json spends most of a 50-strike chain matching ~700 keys and building
//! numbers through its generic visitors; here each key is one comparison with the
//! expected bytes and each number is read by JSON's grammar and parsed in the same pass by
//! lexical-core (correctly rounded, so round trips stay exact). The chain's buffers are
//! reused.
//! Anything else, valid or not, falls back to serde ([`super::decode`]), which takes any
//! key order and names a bad field, so both paths accept exactly the same chains (the
//! `feed_json` fuzz target checks that).

use super::{DecodeError, decode};
use crate::model::{OptionChain, Quote, StrikeRow};
use lexical_core::{FromLexicalWithOptions, ParseFloatOptions, ParseIntegerOptions};
use time::{Date, Month};

/// JSON's number grammar: no leading `+` or zeros, digits on both sides of a point, no NaN.
const JSON: u128 = lexical_core::format::JSON;
const FLOAT: ParseFloatOptions = ParseFloatOptions::new();
const INTEGER: ParseIntegerOptions = ParseIntegerOptions::new();

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
    Scanner { rest: bytes }.chain(chain).is_some()
}

/// The unread bytes; every method consumes what it matched or returns `None` (the caller
/// then gives up on the fast path, so a half-filled chain is never used).
struct Scanner<'a> {
    rest: &'a [u8],
}

impl<'a> Scanner<'a> {
    fn chain(&mut self, chain: &mut OptionChain) -> Option<()> {
        self.literal(b"{\"underlying\":")?;
        let underlying = self.string()?;
        chain.underlying.clear();
        chain.underlying.push_str(underlying);
        self.literal(b",\"expiry\":")?;
        chain.expiry = self.date()?;
        self.literal(b",\"ts_ns\":")?;
        chain.ts_ns = self.integer()?;
        self.literal(b",\"spot\":")?;
        chain.spot = self.float()?;
        self.literal(b",\"rows\":[")?;
        chain.rows.clear();
        if !self.take(b']') {
            loop {
                chain.rows.push(self.row()?);
                if !self.take(b',') {
                    break;
                }
            }
            self.literal(b"]")?;
        }
        self.literal(b"}")?;
        self.rest.is_empty().then_some(())
    }

    fn row(&mut self) -> Option<StrikeRow> {
        self.literal(b"{\"strike\":")?;
        let strike = self.float()?;
        self.literal(b",\"call\":")?;
        let call = self.quote()?;
        self.literal(b",\"put\":")?;
        let put = self.quote()?;
        self.literal(b"}")?;
        Some(StrikeRow { strike, call, put })
    }

    fn quote(&mut self) -> Option<Quote> {
        self.literal(b"{\"bid\":")?;
        let bid = self.float()?;
        self.literal(b",\"ask\":")?;
        let ask = self.float()?;
        self.literal(b",\"last\":")?;
        let last = self.float()?;
        self.literal(b",\"iv\":")?;
        let iv = self.float()?;
        self.literal(b",\"oi\":")?;
        let oi = self.unsigned()?;
        self.literal(b",\"volume\":")?;
        let volume = self.unsigned()?;
        self.literal(b"}")?;
        Some(Quote { bid, ask, last, iv, oi, volume })
    }

    fn literal(&mut self, expected: &[u8]) -> Option<()> {
        self.rest = self.rest.strip_prefix(expected)?;
        Some(())
    }

    fn take(&mut self, byte: u8) -> bool {
        self.literal(&[byte]).is_some()
    }

    /// A string without escapes or control characters (serde takes the others).
    fn string(&mut self) -> Option<&'a str> {
        self.literal(b"\"")?;
        let end = self.rest.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        let (text, rest) = self.rest.split_at(end);
        self.rest = rest;
        self.literal(b"\"")?;
        std::str::from_utf8(text).ok()
    }

    /// `"YYYY-MM-DD"`, as the `time` crate writes a date.
    fn date(&mut self) -> Option<Date> {
        self.literal(b"\"")?;
        let (text, rest) = self.rest.split_at_checked(11)?;
        let [y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1, b'"'] = *text else { return None };
        self.rest = rest;
        let year = digits(&[y0, y1, y2, y3])?;
        let month = Month::try_from(digits(&[m0, m1])? as u8).ok()?;
        Date::from_calendar_date(year as i32, month, digits(&[d0, d1])? as u8).ok()
    }

    /// A number by JSON's grammar, up to the first byte that cannot continue it.
    fn number<N: FromLexicalWithOptions>(&mut self, options: &N::Options) -> Option<N> {
        let (value, read) = lexical_core::parse_partial_with_options::<N, JSON>(self.rest, options).ok()?;
        self.rest = &self.rest[read..];
        Some(value)
    }

    fn integer(&mut self) -> Option<i64> {
        // serde_json reads `-0` as a float, which an integer field refuses.
        if self.rest.starts_with(b"-0") {
            return None;
        }
        self.number(&INTEGER)
    }

    fn unsigned(&mut self) -> Option<u64> {
        self.number(&INTEGER)
    }

    fn float(&mut self) -> Option<f64> {
        self.number(&FLOAT).filter(|v: &f64| v.is_finite())
    }
}

/// The value of ASCII decimal digits (all of them digits).
fn digits(bytes: &[u8]) -> Option<u32> {
    bytes.iter().try_fold(0u32, |n, &b| b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0')))
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
        let written =
            ["0.1", "9007199254740993", "1e22", "1e23", "4.9e-324", "2.2250738585072014e-308", "1e-400", "-0"];
        let random = (0..20_000).map(|i| match i % 3 {
            0 => f64::from_bits(rng.random()).to_string(),
            1 => format!("{:e}", rng.random_range(-1e6..1e6)),
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
        assert!(taken > 19_900, "the fast path took {taken} of 20,008");
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
