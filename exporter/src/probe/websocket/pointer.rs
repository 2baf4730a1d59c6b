//! Reads one number out of a JSON message by JSON pointer without building the document:
//! the path is followed with serde, everything beside it is skipped unparsed. This keeps
//! per-message work to a few hundred nanoseconds and allocation-free.

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// A compiled JSON pointer (RFC 6901) to a number or a numeric string.
#[derive(Debug, Clone)]
pub struct Pointer {
    segments: Vec<String>,
}

impl Pointer {
    /// Compiles `/a/b/0`; `~1` and `~0` stand for `/` and `~`.
    pub fn parse(pointer: &str) -> Option<Pointer> {
        let rest = pointer.strip_prefix('/')?;
        let segments = rest.split('/').map(|s| s.replace("~1", "/").replace("~0", "~")).collect();
        Some(Pointer { segments })
    }

    /// The number at the pointer, or `None` when the message is not JSON, the path is
    /// missing, or the value is neither a number nor a numeric string.
    pub fn number(&self, message: &[u8]) -> Option<f64> {
        let mut de = serde_json::Deserializer::from_slice(message);
        Step { path: &self.segments }.deserialize(&mut de).ok().flatten()
    }
}

/// Follows the remaining `path`, yielding the leaf number if found.
struct Step<'p> {
    path: &'p [String],
}

impl<'de> DeserializeSeed<'de> for Step<'_> {
    type Value = Option<f64>;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Option<f64>, D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Step<'_> {
    type Value = Option<f64>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<f64>, A::Error> {
        let Some((head, tail)) = self.path.split_first() else { return skip_map(map) };
        let mut found = None;
        // A key given twice: the last one counts, as for serde_json and JavaScript.
        while let Some(is_head) = map.next_key_seed(KeyIs(head))? {
            if is_head {
                found = map.next_value_seed(Step { path: tail })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<f64>, A::Error> {
        let index = self.path.first().and_then(|h| array_index(h));
        let mut found = None;
        let mut i = 0;
        loop {
            if Some(i) == index {
                match seq.next_element_seed(Step { path: &self.path[1..] })? {
                    Some(v) => found = v,
                    None => break,
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
            i += 1;
        }
        Ok(found)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Option<f64>, E> {
        Ok(self.path.is_empty().then_some(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Option<f64>, E> {
        Ok(self.path.is_empty().then_some(v as f64))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Option<f64>, E> {
        Ok(self.path.is_empty().then_some(v as f64))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<f64>, E> {
        Ok(if self.path.is_empty() { v.trim().parse().ok().filter(|n: &f64| n.is_finite()) } else { None })
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Option<f64>, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<f64>, E> {
        Ok(None)
    }
}

/// An array index as RFC 6901 spells it: `0`, or digits without a leading zero (`01`
/// and `+1` name no element).
fn array_index(segment: &str) -> Option<usize> {
    let digits = segment.bytes().all(|b| b.is_ascii_digit());
    (digits && (segment == "0" || !segment.starts_with('0'))).then(|| segment.parse().ok()).flatten()
}

fn skip_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<Option<f64>, A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(None)
}

/// Reads a map key and tells whether it equals `0` (no allocation, escaped keys too).
struct KeyIs<'s>(&'s str);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<bool, D::Error> {
        de.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIs<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        Ok(v == self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::Pointer;

    #[test]
    fn finds_numbers_and_numeric_strings_along_the_path() {
        let msg =
            br#"{"e":"trade","s":"BTCUSDT","p":"42000.10","T":1700000000000,"d":{"x":[1,{"t":"17"}]},"z":{"T":2}}"#;
        assert_eq!(Pointer::parse("/T").unwrap().number(msg), Some(1_700_000_000_000.0));
        assert_eq!(Pointer::parse("/p").unwrap().number(msg), Some(42000.10));
        assert_eq!(Pointer::parse("/d/x/1/t").unwrap().number(msg), Some(17.0));
        assert_eq!(Pointer::parse("/d/x/0").unwrap().number(msg), Some(1.0));
        assert_eq!(Pointer::parse("/s").unwrap().number(msg), None);
        assert_eq!(Pointer::parse("/missing").unwrap().number(msg), None);
        assert_eq!(Pointer::parse("/T").unwrap().number(b"not json"), None);
        assert_eq!(Pointer::parse("/a~1b").unwrap().number(br#"{"a/b":3}"#), Some(3.0));
        assert_eq!(Pointer::parse("/k").unwrap().number(br#"{"\u006b":5}"#), Some(5.0), "escaped keys match");
        assert!(Pointer::parse("T").is_none());
    }

    /// Found by the json_pointer fuzz target: `/+000000` read element 0 of `[4]`.
    #[test]
    fn reads_array_indexes_and_duplicate_keys_as_rfc_6901_and_serde_json_do() {
        assert_eq!(Pointer::parse("/+000000").unwrap().number(b"[4]"), None);
        assert_eq!(Pointer::parse("/01").unwrap().number(b"[4,5]"), None);
        assert_eq!(Pointer::parse("/1").unwrap().number(b"[4,5]"), Some(5.0));
        assert_eq!(Pointer::parse("/0").unwrap().number(b"[4,5]"), Some(4.0));
        assert_eq!(Pointer::parse("/T").unwrap().number(br#"{"T":1,"T":2}"#), Some(2.0), "the last key counts");
        assert_eq!(Pointer::parse("/T").unwrap().number(br#"{"T":"NaN"}"#), None, "only finite numbers");
    }
}
