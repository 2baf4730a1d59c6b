//! A cursor over JSON text for the decoders' fast paths: each method reads one token of
//! the simple form those paths take (no escapes in strings, numbers by JSON's grammar) and
//! consumes it, or returns `None` and the caller falls back to serde, which takes every
//! form and names what is wrong. The text is checked to be UTF-8 once, up front (a message
//! that is not goes to serde), so strings are borrowed without checking each again.

use lexical_core::{FromLexicalWithOptions, ParseFloatOptions, ParseIntegerOptions};
use time::{Date, Month};

/// JSON's number grammar: no leading `+` or zeros, digits on both sides of a point, no NaN.
const JSON: u128 = lexical_core::format::JSON;
const FLOAT: ParseFloatOptions = ParseFloatOptions::new();
const INTEGER: ParseIntegerOptions = ParseIntegerOptions::new();

/// The powers of ten an f64 holds exactly, up to the most decimals a short number has.
const EXACT_POWERS_OF_TEN: [f64; 16] =
    [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];

/// The unread text.
pub(crate) struct Scanner<'a> {
    rest: &'a str,
}

impl<'a> Scanner<'a> {
    /// A scanner of `bytes`, if they are UTF-8.
    pub(crate) fn new(bytes: &'a [u8]) -> Option<Scanner<'a>> {
        Some(Scanner { rest: std::str::from_utf8(bytes).ok()? })
    }

    /// Whether everything was read.
    #[inline]
    pub(crate) fn at_end(&self) -> Option<()> {
        self.rest.is_empty().then_some(())
    }

    #[inline]
    pub(crate) fn literal(&mut self, expected: &str) -> Option<()> {
        self.rest = self.rest.strip_prefix(expected)?;
        Some(())
    }

    #[inline]
    pub(crate) fn take(&mut self, ascii: u8) -> bool {
        let taken = self.peek() == Some(ascii);
        if taken {
            self.rest = &self.rest[1..];
        }
        taken
    }

    /// The next byte, not consumed.
    #[inline]
    pub(crate) fn peek(&self) -> Option<u8> {
        self.rest.as_bytes().first().copied()
    }

    /// Skips JSON's whitespace.
    #[inline]
    pub(crate) fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.rest = &self.rest[1..];
        }
    }

    /// A string without escapes or control characters (serde takes the others).
    #[inline]
    pub(crate) fn string(&mut self) -> Option<&'a str> {
        if !self.take(b'"') {
            return None;
        }
        // An ASCII byte, so the text splits there.
        let end = self.rest.bytes().position(|b| b == b'"' || b == b'\\' || b < 0x20)?;
        let (text, rest) = self.rest.split_at(end);
        self.rest = rest;
        self.take(b'"').then_some(text)
    }

    /// `"YYYY-MM-DD"`, as the `time` crate writes a date.
    pub(crate) fn date(&mut self) -> Option<Date> {
        self.literal("\"")?;
        let (text, rest) = self.rest.split_at_checked(11)?;
        let [y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1, b'"'] = *text.as_bytes() else { return None };
        self.rest = rest;
        let year = digits(&[y0, y1, y2, y3])?;
        let month = Month::try_from(digits(&[m0, m1])? as u8).ok()?;
        Date::from_calendar_date(year as i32, month, digits(&[d0, d1])? as u8).ok()
    }

    /// A number by JSON's grammar, up to the first byte that cannot continue it.
    fn number<N: FromLexicalWithOptions>(&mut self, options: &N::Options) -> Option<N> {
        let (value, read) = lexical_core::parse_partial_with_options::<N, JSON>(self.rest.as_bytes(), options).ok()?;
        // The grammar's bytes are ASCII, so `read` is a boundary.
        self.rest = self.rest.get(read..)?;
        Some(value)
    }

    pub(crate) fn integer(&mut self) -> Option<i64> {
        // serde_json reads `-0` as a float, which an integer field refuses.
        if self.rest.starts_with("-0") {
            return None;
        }
        self.number(&INTEGER)
    }

    pub(crate) fn unsigned(&mut self) -> Option<u64> {
        match self.short_decimal() {
            Some((value, 0, read)) => {
                self.rest = &self.rest[read..];
                Some(value)
            }
            _ => self.number(&INTEGER),
        }
    }

    /// A finite number, correctly rounded (as serde_json's `float_roundtrip` reads it).
    pub(crate) fn float(&mut self) -> Option<f64> {
        match self.short_decimal() {
            // An integer's conversion is correctly rounded; with a point, both operands are
            // exact, so the one division is correctly rounded (Clinger's fast path).
            Some((digits, decimals, read)) => {
                self.rest = &self.rest[read..];
                Some(digits as f64 / EXACT_POWERS_OF_TEN[decimals])
            }
            None => self.any_float(),
        }
    }

    /// [`Self::float`], and the number's value as an integer when it is written as digits
    /// only (no sign, point or exponent) and fits a u64: one pass gives both, so a field
    /// read as an integer is not parsed a second time.
    pub(crate) fn float_and_unsigned(&mut self) -> Option<(f64, Option<u64>)> {
        match self.short_decimal() {
            Some((digits, decimals, read)) => {
                self.rest = &self.rest[read..];
                Some((digits as f64 / EXACT_POWERS_OF_TEN[decimals], (decimals == 0).then_some(digits)))
            }
            None => {
                let before = self.rest;
                let value = self.any_float()?;
                let text = &before[..before.len() - self.rest.len()];
                let unsigned = text.bytes().all(|b| b.is_ascii_digit()).then(|| text.parse().ok()).flatten();
                Some((value, unsigned))
            }
        }
    }

    /// A finite number of any form JSON allows, by lexical-core.
    #[inline]
    fn any_float(&mut self) -> Option<f64> {
        self.number(&FLOAT).filter(|v: &f64| v.is_finite())
    }

    /// The forms prices, sizes, sequence numbers and timestamps are written in: a
    /// non-negative integer of at most 19 digits (a u64 holds them all), or a number of at
    /// most 15 digits with a point (an f64 holds them exactly), no exponent, as (digits as
    /// an integer, digits after the point, bytes read). Anything else is for lexical-core,
    /// which reads every form.
    #[inline]
    fn short_decimal(&self) -> Option<(u64, usize, usize)> {
        let bytes = self.rest.as_bytes();
        let (mut digits, mut count, mut read) = (0u64, 0, 0);
        let mut decimals = None;
        while let Some(&b) = bytes.get(read) {
            match b {
                b'0'..=b'9' if count == 19 || (count == 15 && decimals.is_some()) => return None,
                b'0'..=b'9' => {
                    digits = digits * 10 + u64::from(b - b'0');
                    count += 1;
                }
                b'.' if decimals.is_none() && count > 15 => return None,
                b'.' if decimals.is_none() && count > 0 => decimals = Some(count),
                b'e' | b'E' => return None,
                _ => break,
            }
            read += 1;
        }
        let decimals = decimals.map_or(0, |at| count - at);
        let leading_zero = bytes.first() == Some(&b'0') && bytes.get(1).is_some_and(u8::is_ascii_digit);
        let point_last = read > 0 && bytes[read - 1] == b'.';
        (count > 0 && !leading_zero && !point_last).then_some((digits, decimals, read))
    }
}

/// The value of ASCII decimal digits (all of them digits).
fn digits(bytes: &[u8]) -> Option<u32> {
    bytes.iter().try_fold(0u32, |n, &b| b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0')))
}
