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
    /// A finite number and its text.
    Number(f64, &'a str),
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
            let (number, text) = s.float_and_text()?;
            FlatValue::Number(number, text)
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
            ("p", FlatValue::Number(1.5e3, "1.5e3")),
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
