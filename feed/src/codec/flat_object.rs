//! A fast path for the form most exchanges write a trade in: one flat JSON object, every
//! value a string, number, boolean or null. Keys and strings are borrowed, numbers parsed
//! correctly rounded in the same pass (as serde_json's `float_roundtrip` reads them).
//! Anything else (a nested value, an escape, a number out of range, invalid JSON) is left
//! to serde, so a caller that falls back reads exactly what serde reads.

use super::scanner::Scanner;

/// A member's value, as written.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FlatValue<'a> {
    Str(&'a str),
    /// A finite number, and its value as an integer when written as digits only (no
    /// sign, point or exponent) within a u64, as serde reads an integer field.
    Number(f64, Option<u64>),
    Bool(bool),
    Null,
}

/// Reads `bytes` as one flat object, giving `each` every member in order. `None` when the
/// bytes are not such an object or when `each` gives up (returns `None`).
pub fn read_flat_object<'a>(bytes: &'a [u8], mut each: impl FnMut(&'a str, FlatValue<'a>) -> Option<()>) -> Option<()> {
    let mut s = Scanner::new(bytes)?;
    s.skip_whitespace();
    s.literal("{")?;
    s.skip_whitespace();
    if !s.take(b'}') {
        loop {
            let key = s.string()?;
            s.skip_whitespace();
            s.literal(":")?;
            s.skip_whitespace();
            each(key, value(&mut s)?)?;
            s.skip_whitespace();
            if !s.take(b',') {
                break;
            }
            s.skip_whitespace();
        }
        s.literal("}")?;
    }
    s.skip_whitespace();
    s.at_end()
}

fn value<'a>(s: &mut Scanner<'a>) -> Option<FlatValue<'a>> {
    Some(match s.peek()? {
        b'"' => FlatValue::Str(s.string()?),
        b't' => s.literal("true").map(|()| FlatValue::Bool(true))?,
        b'f' => s.literal("false").map(|()| FlatValue::Bool(false))?,
        b'n' => s.literal("null").map(|()| FlatValue::Null)?,
        _ => {
            let (number, unsigned) = s.float_and_unsigned()?;
            FlatValue::Number(number, unsigned)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(text: &str) -> Option<Vec<(&str, FlatValue<'_>)>> {
        let mut seen = Vec::new();
        read_flat_object(text.as_bytes(), |k, v| {
            seen.push((k, v));
            Some(())
        })?;
        Some(seen)
    }

    #[test]
    fn reads_every_scalar_with_or_without_whitespace() {
        let expected = vec![
            ("s", FlatValue::Str("BTCUSDT")),
            ("p", FlatValue::Number(1.5e3, None)),
            ("m", FlatValue::Bool(true)),
            ("x", FlatValue::Bool(false)),
            ("n", FlatValue::Null),
        ];
        assert_eq!(members(r#"{"s":"BTCUSDT","p":1.5e3,"m":true,"x":false,"n":null}"#), Some(expected.clone()));
        assert_eq!(
            members(" {\n \"s\" : \"BTCUSDT\" ,\t\"p\":1.5e3,\"m\":true,\"x\":false,\"n\":null }\r\n"),
            Some(expected)
        );
        assert_eq!(members("{}"), Some(vec![]));
    }

    /// A number written as digits only carries its integer, as serde reads an integer
    /// field; its float is the one serde reads for a float field.
    #[test]
    fn integers_carry_their_value_and_floats_read_as_serde_does() {
        for (text, integer) in [
            ("0", Some(0)),
            ("12", Some(12)),
            ("1767225600000000001", Some(1_767_225_600_000_000_001)),
            ("9999999999999999999", Some(9_999_999_999_999_999_999)),
            ("18446744073709551615", Some(u64::MAX)),
            ("18446744073709551616", None),
            ("-1", None),
            ("1.0", None),
            ("1e3", None),
        ] {
            let json = format!(r#"{{"n":{text}}}"#);
            let read = members(&json);
            let Some([("n", FlatValue::Number(float, unsigned))]) = read.as_deref() else { panic!("{text}: not read") };
            assert_eq!(*unsigned, integer, "{text}");
            let serde: f64 = serde_json::from_str(text).unwrap();
            assert_eq!(float.to_bits(), serde.to_bits(), "{text}");
        }
    }

    /// Each of these is serde's to read or to refuse.
    #[test]
    fn leaves_anything_else_to_serde() {
        for text in [
            r#"{"a":{"b":1}}"#,
            r#"{"a":[1]}"#,
            r#"{"a":"\u0041"}"#,
            r#"{"\n":1}"#,
            r#"{"a":1e400}"#,
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":+1}"#,
            r#"{"a":NaN}"#,
            r#"{"a":truex}"#,
            r#"{"a":1,}"#,
            r#"{"a":1}x"#,
            r#"{"a" 1}"#,
            r#"[1]"#,
            "",
        ] {
            assert_eq!(members(text), None, "{text}");
        }
    }
}
