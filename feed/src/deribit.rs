//! Deribit's option instrument names, `BTC-27DEC24-60000-C` (underlying, expiry date
//! with the day unpadded, strike with `d` for a decimal point, C or P), and the currency
//! an option is quoted in: the loadgen's Deribit gateway writes them and the exporter's
//! Deribit ticker reader reads them.

use time::{Date, Month};

const MONTHS: [&str; 12] = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];

/// An option as its name tells it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OptionName<'a> {
    pub underlying: &'a str,
    pub expiry: Date,
    pub strike: f64,
    pub call: bool,
}

impl<'a> OptionName<'a> {
    /// The option `name` names; None for another kind of instrument or a malformed name.
    pub fn parse(name: &'a str) -> Option<OptionName<'a>> {
        let mut parts = name.rsplitn(4, '-');
        let call = match parts.next()? {
            "C" => true,
            "P" => false,
            _ => return None,
        };
        let strike: f64 = parts.next()?.replace('d', ".").parse().ok()?;
        let expiry = parse_date(parts.next()?)?;
        let underlying = parts.next().filter(|u| !u.is_empty())?;
        (strike > 0.0 && strike.is_finite()).then_some(OptionName { underlying, expiry, strike, call })
    }

    /// The option's expiry as Deribit writes it in names: `27DEC24`.
    pub fn expiry_code(&self) -> String {
        let month = MONTHS[usize::from(u8::from(self.expiry.month())) - 1];
        format!("{}{month}{:02}", self.expiry.day(), self.expiry.year().rem_euclid(100))
    }
}

impl std::fmt::Display for OptionName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let strike = self.strike.to_string().replace('.', "d");
        let kind = if self.call { 'C' } else { 'P' };
        write!(f, "{}-{}-{strike}-{kind}", self.underlying, self.expiry_code())
    }
}

/// (base currency, quote currency) of an option underlying: `BTC` options are quoted in
/// BTC (so their prices are the USD price divided by the index), `SOL_USDC` ones in USDC.
pub fn currencies(underlying: &str) -> (&str, &str) {
    underlying.split_once('_').unwrap_or((underlying, underlying))
}

/// Whether the options of `underlying` are quoted in its coin (`BTC`) rather than in a
/// stable coin (`SOL_USDC`).
pub fn quoted_in_coin(underlying: &str) -> bool {
    let (base, quote) = currencies(underlying);
    base == quote
}

/// `27DEC24` (years 2000 to 2099).
fn parse_date(code: &str) -> Option<Date> {
    let split = code.find(|c: char| c.is_ascii_alphabetic())?;
    let (day, rest) = code.split_at(split);
    let (month, year) = rest.split_at_checked(3)?;
    let month = MONTHS.iter().position(|m| *m == month)?;
    let month = Month::try_from(u8::try_from(month + 1).ok()?).ok()?;
    let year: i32 = year.parse().ok().filter(|_| year.len() == 2)?;
    Date::from_calendar_date(2000 + year, month, day.parse().ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn names_are_written_and_read_as_deribit_does() {
        let option = OptionName { underlying: "BTC", expiry: date!(2024 - 12 - 27), strike: 60_000.0, call: true };
        assert_eq!(option.to_string(), "BTC-27DEC24-60000-C");
        assert_eq!(OptionName::parse("BTC-27DEC24-60000-C"), Some(option));
        let put = OptionName::parse("XRP_USDC-5JUL24-0d625-P").unwrap();
        assert_eq!(
            (put.underlying, put.expiry, put.strike, put.call),
            ("XRP_USDC", date!(2024 - 07 - 05), 0.625, false)
        );
        assert_eq!(put.to_string(), "XRP_USDC-5JUL24-0d625-P");
        for other in
            ["BTC-PERPETUAL", "BTC-27DEC24", "BTC-27DEC24-60000-X", "-27DEC24-1-C", "BTC-31FEB24-1-C", "BTC-1XYZ24-1-C"]
        {
            assert_eq!(OptionName::parse(other), None, "{other}");
        }
    }
}
