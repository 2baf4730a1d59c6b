//! Turning a feed message into the fields the checks need, without allocating in the
//! common case: tickwatch's canonical JSON, or any JSON trade with a field mapping
//! (top-level fields are read in one pass with borrowed strings; nested pointers fall back
//! to a parsed document). A flat message in the canonical form, with a top-level mapping
//! or by Binance's preset is read by [`read_flat_object`] first; what it leaves goes to
//! serde, the reference the fast path must agree with
//! ([`TradeDecoder::decode_each_by_serde`]).

use super::{FeedFormat, FieldMap, TsUnit};
use crate::epoch::epoch_to_ms;
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use std::borrow::Cow;
use std::fmt;
use tickwatch_feed::codec::{FlatValue, read_flat_object};
use tickwatch_feed::quality::TradeTick;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A decoded trade: its symbol (borrowed from the message when possible) and fields.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedTrade<'a> {
    pub symbol: Cow<'a, str>,
    pub tick: TradeTick,
}

/// Why a message was rejected (the `reason` label).
pub type Rejection = &'static str;

/// Decodes the trades of one feed.
#[derive(Debug, Clone)]
pub enum TradeDecoder {
    Tickwatch,
    Mapped(Mapping),
    Binance,
    Coinbase,
    Deribit,
}

/// What is done with each trade of a message; an error stops the message there.
pub type EachTrade<'f, 'a> = dyn FnMut(DecodedTrade<'a>) -> Result<(), Rejection> + 'f;

impl TradeDecoder {
    pub fn new(format: FeedFormat, fields: Option<&FieldMap>) -> TradeDecoder {
        match (format, fields) {
            (FeedFormat::Mapped, Some(fields)) => TradeDecoder::Mapped(Mapping::new(fields)),
            (FeedFormat::Binance, _) => TradeDecoder::Binance,
            (FeedFormat::Coinbase, _) => TradeDecoder::Coinbase,
            (FeedFormat::Deribit, _) => TradeDecoder::Deribit,
            _ => TradeDecoder::Tickwatch,
        }
    }

    /// Gives `each` the trades of `message`: one, or (Deribit) every trade of the
    /// notification.
    pub fn decode_each<'a>(&self, message: &'a [u8], each: &mut EachTrade<'_, 'a>) -> Result<(), Rejection> {
        self.decode(message, Path::FastFirst, each)
    }

    /// [`TradeDecoder::decode_each`] by serde alone: the reference the fast paths are
    /// checked against (tests and the `feed_pipeline` fuzz target).
    pub fn decode_each_by_serde<'a>(&self, message: &'a [u8], each: &mut EachTrade<'_, 'a>) -> Result<(), Rejection> {
        self.decode(message, Path::Serde, each)
    }

    fn decode<'a>(&self, message: &'a [u8], path: Path, each: &mut EachTrade<'_, 'a>) -> Result<(), Rejection> {
        let trade = match self {
            TradeDecoder::Tickwatch => {
                let t = match path.fast(|| tickwatch_flat(message)) {
                    Some(t) => t,
                    None => serde_json::from_slice::<TickwatchTrade>(message).map_err(rejection)?,
                };
                DecodedTrade {
                    symbol: t.symbol,
                    tick: TradeTick { seq: Some(t.seq), ts_ns: t.ts_ns, price: t.price, qty: t.qty },
                }
            }
            TradeDecoder::Mapped(mapping) => mapping.decode(message, path)?,
            TradeDecoder::Binance => binance(message, path)?,
            TradeDecoder::Coinbase => coinbase(message)?,
            TradeDecoder::Deribit => return deribit(message, each),
        };
        each(trade)
    }
}

/// Whether a message is tried by a fast path before serde.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    FastFirst,
    Serde,
}

impl Path {
    /// What the fast path `read` makes of the message, if this path tries it.
    fn fast<T>(self, read: impl FnOnce() -> Option<T>) -> Option<T> {
        (self == Path::FastFirst).then(read).flatten()
    }
}

/// A Binance trade or aggTrade event; every field optional so that replies to SUBSCRIBE
/// and the like decode too (and are rejected as `not_trade`).
#[derive(Deserialize, Default)]
struct BinanceEvent<'a> {
    #[serde(rename = "e", borrow)]
    event: Option<Text<'a>>,
    #[serde(rename = "s", borrow)]
    symbol: Option<Text<'a>>,
    #[serde(rename = "t")]
    trade_id: Option<u64>,
    #[serde(rename = "a")]
    aggregate_id: Option<u64>,
    #[serde(rename = "p", borrow)]
    price: Option<Text<'a>>,
    #[serde(rename = "q", borrow)]
    qty: Option<Text<'a>>,
    #[serde(rename = "T")]
    time_ms: Option<i64>,
}

/// A combined stream's wrapper.
#[derive(Deserialize)]
struct BinanceCombined<'a> {
    #[serde(borrow)]
    data: BinanceEvent<'a>,
}

/// A price or size written as a decimal string, as exchanges do.
fn decimal(text: Option<Text>) -> Result<f64, Rejection> {
    text.ok_or("missing_field")?.0.parse::<f64>().map_err(|_| "bad_field")
}

fn binance(message: &[u8], path: Path) -> Result<DecodedTrade<'_>, Rejection> {
    let mut event = match path.fast(|| binance_flat(message)) {
        Some(event) => event,
        None => serde_json::from_slice::<BinanceEvent>(message).map_err(rejection)?,
    };
    if event.event.is_none() {
        // Not a raw stream's event: a combined stream's, or a reply.
        if let Ok(combined) = serde_json::from_slice::<BinanceCombined>(message) {
            event = combined.data;
        }
    }
    let seq = match event.event.as_ref().map(|e| e.0.as_ref()) {
        Some("trade") => event.trade_id,
        Some("aggTrade") => event.aggregate_id,
        _ => return Err("not_trade"),
    };
    Ok(DecodedTrade {
        symbol: event.symbol.ok_or("missing_field")?.0,
        tick: TradeTick {
            seq: Some(seq.ok_or("missing_field")?),
            ts_ns: event.time_ms.ok_or("missing_field")?.saturating_mul(1_000_000),
            price: decimal(event.price)?,
            qty: decimal(event.qty)?,
        },
    })
}

/// [`BinanceEvent`] from a flat object, as serde reads it.
fn binance_flat(message: &[u8]) -> Option<BinanceEvent<'_>> {
    let mut event = BinanceEvent::default();
    read_fields(message, &["e", "s", "t", "a", "p", "q", "T"], |field, value| {
        // Every field is an Option: null is an absent one.
        let optional_text = |value| match value {
            FlatValue::Null => Some(None),
            value => text(value).map(Some),
        };
        let optional_integer = |value| match value {
            FlatValue::Null => Some(None),
            value => unsigned(value).map(Some),
        };
        match field {
            0 => event.event = optional_text(value)?,
            1 => event.symbol = optional_text(value)?,
            2 => event.trade_id = optional_integer(value)?,
            3 => event.aggregate_id = optional_integer(value)?,
            4 => event.price = optional_text(value)?,
            5 => event.qty = optional_text(value)?,
            _ => event.time_ms = optional_integer(value)?.map(i64::try_from).transpose().ok()?,
        }
        Some(())
    })?;
    Some(event)
}

/// Gives `set` the index in `fields` and the value of each member of a flat object that
/// `fields` names (as a struct's serde derive names them), each at most once: serde
/// refuses a duplicate, so the fast path leaves it to serde.
fn read_fields<'a>(
    message: &'a [u8],
    fields: &[&str],
    mut set: impl FnMut(usize, FlatValue<'a>) -> Option<()>,
) -> Option<u64> {
    let mut seen = 0u64;
    read_flat_object(message, |key, value| {
        let Some(field) = fields.iter().position(|f| *f == key) else { return Some(()) };
        if seen & 1 << field != 0 {
            return None;
        }
        seen |= 1 << field;
        set(field, value)
    })?;
    Some(seen)
}

fn text(value: FlatValue<'_>) -> Option<Text<'_>> {
    match value {
        FlatValue::Str(s) => Some(Text(Cow::Borrowed(s))),
        _ => None,
    }
}

/// Digits only: serde reads `-0` and anything with a point or exponent as a float, which
/// an integer field refuses.
fn unsigned(value: FlatValue) -> Option<u64> {
    match value {
        FlatValue::Number(_, unsigned) => unsigned,
        _ => None,
    }
}

/// A number for a float field (serde reads integers into one as well).
fn float(value: FlatValue) -> Option<f64> {
    match value {
        FlatValue::Number(number, _) => Some(number),
        _ => None,
    }
}

/// A Coinbase Exchange message of the `matches` channel (or any other, rejected as
/// `not_trade`).
#[derive(Deserialize)]
struct CoinbaseMessage<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    product_id: Option<Text<'a>>,
    trade_id: Option<u64>,
    #[serde(borrow)]
    price: Option<Text<'a>>,
    #[serde(borrow)]
    size: Option<Text<'a>>,
    #[serde(borrow)]
    time: Option<Text<'a>>,
}

fn coinbase(message: &[u8]) -> Result<DecodedTrade<'_>, Rejection> {
    let m: CoinbaseMessage = serde_json::from_slice(message).map_err(rejection)?;
    if !matches!(m.kind.as_ref(), "match" | "last_match") {
        return Err("not_trade");
    }
    let text = m.time.ok_or("missing_field")?;
    let traded = OffsetDateTime::parse(&text.0, &Rfc3339).map_err(|_| "bad_field")?;
    Ok(DecodedTrade {
        symbol: m.product_id.ok_or("missing_field")?.0,
        tick: TradeTick {
            seq: Some(m.trade_id.ok_or("missing_field")?),
            ts_ns: i64::try_from(traded.unix_timestamp_nanos()).map_err(|_| "bad_field")?,
            price: decimal(m.price)?,
            qty: decimal(m.size)?,
        },
    })
}

/// A trade of Deribit's `trades.<instrument>.<interval>` channel.
#[derive(Deserialize)]
struct DeribitTrade<'a> {
    #[serde(borrow)]
    instrument_name: Text<'a>,
    trade_seq: u64,
    /// Milliseconds.
    timestamp: i64,
    price: f64,
    amount: f64,
}

/// Reads a Deribit JSON-RPC message in one pass, giving `each` every trade of a
/// `subscription` notification's `params.data` list; any other message (replies,
/// heartbeats, ticker notifications, whose `data` is an object) has none.
struct DeribitReader<'s, 'f, 'a> {
    each: &'s mut EachTrade<'f, 'a>,
    trades: usize,
    rejected: Option<Rejection>,
}

fn deribit<'a>(message: &'a [u8], each: &mut EachTrade<'_, 'a>) -> Result<(), Rejection> {
    let mut reader = DeribitReader { each, trades: 0, rejected: None };
    let mut de = serde_json::Deserializer::from_slice(message);
    let read = DeribitLevel::Root(&mut reader).deserialize(&mut de);
    match (read, reader.rejected, reader.trades) {
        (_, Some(rejected), _) => Err(rejected),
        (Err(e), None, _) => Err(rejection(e)),
        (Ok(()), None, 0) => Err("not_trade"),
        (Ok(()), None, _) => Ok(()),
    }
}

/// Where in a Deribit message the reader is: the message, its `params`, or `params.data`.
enum DeribitLevel<'r, 's, 'f, 'a> {
    Root(&'r mut DeribitReader<'s, 'f, 'a>),
    Params(&'r mut DeribitReader<'s, 'f, 'a>),
    Data(&'r mut DeribitReader<'s, 'f, 'a>),
}

impl<'de: 'a, 'a> DeserializeSeed<'de> for DeribitLevel<'_, '_, '_, 'a> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        match self {
            DeribitLevel::Data(_) => de.deserialize_any(self),
            _ => de.deserialize_map(self),
        }
    }
}

impl<'de: 'a, 'a> Visitor<'de> for DeribitLevel<'_, '_, '_, 'a> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Deribit JSON-RPC message")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let (reader, inner) = match self {
            DeribitLevel::Root(r) => (r, "params"),
            DeribitLevel::Params(r) => (r, "data"),
            // A ticker's data: no trades.
            DeribitLevel::Data(_) => {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                return Ok(());
            }
        };
        while let Some(key) = map.next_key::<Text<'de>>()? {
            match (key.0.as_ref() == inner, inner) {
                (true, "params") => map.next_value_seed(DeribitLevel::Params(&mut *reader))?,
                (true, _) => map.next_value_seed(DeribitLevel::Data(&mut *reader))?,
                (false, _) => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let DeribitLevel::Data(reader) = self else { return Err(de::Error::custom("a list where an object belongs")) };
        while let Some(t) = seq.next_element::<DeribitTrade<'de>>()? {
            reader.trades += 1;
            let trade = DecodedTrade {
                symbol: t.instrument_name.0,
                tick: TradeTick {
                    seq: Some(t.trade_seq),
                    ts_ns: t.timestamp.saturating_mul(1_000_000),
                    price: t.price,
                    qty: t.amount,
                },
            };
            if let Err(rejected) = (reader.each)(trade) {
                reader.rejected = Some(rejected);
                return Err(de::Error::custom(rejected));
            }
        }
        Ok(())
    }
}

/// The canonical trade, read borrowed (venue and side are not needed for the checks).
#[derive(Deserialize)]
struct TickwatchTrade<'a> {
    #[serde(borrow)]
    symbol: Cow<'a, str>,
    seq: u64,
    ts_ns: i64,
    price: f64,
    qty: f64,
}

/// [`TickwatchTrade`] from a flat object, as serde reads it: every field there.
fn tickwatch_flat(message: &[u8]) -> Option<TickwatchTrade<'_>> {
    let (mut symbol, mut seq, mut ts_ns, mut price, mut qty) = (Cow::Borrowed(""), 0, 0, 0.0, 0.0);
    let seen = read_fields(message, &["symbol", "seq", "ts_ns", "price", "qty"], |field, value| {
        match field {
            0 => symbol = text(value)?.0,
            1 => seq = unsigned(value)?,
            2 => ts_ns = unsigned(value)?.try_into().ok()?,
            3 => price = float(value)?,
            _ => qty = float(value)?,
        }
        Some(())
    })?;
    (seen == 0b11111).then_some(TickwatchTrade { symbol, seq, ts_ns, price, qty })
}

fn rejection(e: serde_json::Error) -> Rejection {
    match e.classify() {
        serde_json::error::Category::Data => "bad_field",
        _ => "not_json",
    }
}

/// Where the trade fields are in a foreign message.
#[derive(Debug, Clone)]
pub struct Mapping {
    /// Pointers in field order: symbol, seq, price, qty, ts.
    pointers: [Option<String>; 5],
    /// Milliseconds per unit of `ts`, or `None` to infer it from the value's size.
    ts_ms_per_unit: Option<f64>,
    /// All pointers name top-level fields: one pass over the message suffices.
    top_level: bool,
}

const SYMBOL: usize = 0;
const SEQ: usize = 1;
const PRICE: usize = 2;
const QTY: usize = 3;
const TS: usize = 4;

impl Mapping {
    pub fn new(fields: &FieldMap) -> Mapping {
        let pointers = [
            Some(fields.symbol.clone()),
            fields.seq.clone(),
            Some(fields.price.clone()),
            Some(fields.qty.clone()),
            Some(fields.ts.clone()),
        ];
        let top_level = pointers.iter().flatten().all(|p| p.matches('/').count() == 1 && !p.contains('~'));
        let ts_ms_per_unit = fields.ts_unit.map(TsUnit::in_ms);
        Mapping { pointers, ts_ms_per_unit, top_level }
    }

    /// Which mapped field (if any) a top-level key is.
    fn index_of(&self, key: &str) -> Option<usize> {
        // The first bytes first: exchanges' keys are short, often of one length.
        let named = |p: &str| p.as_bytes().get(1) == key.as_bytes().first() && &p[1..] == key;
        self.pointers.iter().position(|p| p.as_deref().is_some_and(named))
    }

    /// [`TopLevel`]'s fields from a flat object, as serde reads them.
    fn read_flat<'a>(&self, message: &'a [u8]) -> Option<Fields<'a>> {
        let mut fields = Fields::default();
        read_flat_object(message, |key, value| {
            match (self.index_of(key), value) {
                (None, _) => {}
                (Some(SYMBOL), FlatValue::Str(s)) => fields.symbol = Some(Cow::Borrowed(s)),
                (Some(SYMBOL), _) => return None,
                (Some(i), FlatValue::Number(number, _)) => fields.numbers[i] = Some(number),
                (Some(i), FlatValue::Str(s)) => fields.numbers[i] = s.trim().parse().ok(),
                (Some(i), FlatValue::Bool(_) | FlatValue::Null) => fields.numbers[i] = None,
            }
            Some(())
        })?;
        Some(fields)
    }

    fn decode<'a>(&self, message: &'a [u8], path: Path) -> Result<DecodedTrade<'a>, Rejection> {
        let mut fields = Fields::default();
        if let Some(flat) = path.fast(|| self.top_level.then(|| self.read_flat(message)).flatten()) {
            fields = flat;
        } else if self.top_level {
            let mut de = serde_json::Deserializer::from_slice(message);
            TopLevel { mapping: self, fields: &mut fields }.deserialize(&mut de).map_err(rejection)?;
        } else {
            let doc: serde_json::Value = serde_json::from_slice(message).map_err(rejection)?;
            for (i, pointer) in self.pointers.iter().enumerate() {
                let Some(value) = pointer.as_deref().and_then(|p| doc.pointer(p)) else { continue };
                if i == SYMBOL {
                    fields.symbol = value.as_str().map(|s| Cow::Owned(s.to_owned()));
                } else {
                    fields.numbers[i] = value.as_f64().or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()));
                }
            }
        }
        let symbol = fields.symbol.ok_or("missing_field")?;
        let number = |i: usize| fields.numbers[i].ok_or("missing_field");
        let (price, qty, ts) = (number(PRICE)?, number(QTY)?, number(TS)?);
        let seq = match self.pointers[SEQ] {
            Some(_) => Some(number(SEQ)? as u64),
            None => None,
        };
        let ts_ms = match self.ts_ms_per_unit {
            Some(scale) => ts * scale,
            None => epoch_to_ms(ts),
        };
        Ok(DecodedTrade { symbol, tick: TradeTick { seq, ts_ns: (ts_ms * 1e6) as i64, price, qty } })
    }
}

#[derive(Default)]
struct Fields<'a> {
    symbol: Option<Cow<'a, str>>,
    numbers: [Option<f64>; 5],
}

/// One pass over the top-level object, keeping the mapped fields.
struct TopLevel<'m, 'f, 'a> {
    mapping: &'m Mapping,
    fields: &'f mut Fields<'a>,
}

impl<'de: 'a, 'a> DeserializeSeed<'de> for TopLevel<'_, '_, 'a> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_map(self)
    }
}

impl<'de: 'a, 'a> Visitor<'de> for TopLevel<'_, '_, 'a> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(index) = map.next_key_seed(FieldIndex(self.mapping))? {
            match index {
                Some(SYMBOL) => self.fields.symbol = Some(map.next_value::<Text<'de>>()?.0),
                Some(i) => self.fields.numbers[i] = map.next_value::<Number>()?.0,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// Reads a key and says which mapped field (if any) it is.
struct FieldIndex<'m>(&'m Mapping);

impl<'de> DeserializeSeed<'de> for FieldIndex<'_> {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Option<usize>, D::Error> {
        de.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for FieldIndex<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Option<usize>, E> {
        Ok(self.0.index_of(key))
    }
}

/// A string value, borrowed from the message unless it holds escapes.
#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

/// A number written as a number or as a numeric string; `None` otherwise.
struct Number(Option<f64>);

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Number;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number or a numeric string")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Number, E> {
                Ok(Number(Some(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Number, E> {
                Ok(Number(Some(v as f64)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Number, E> {
                Ok(Number(Some(v as f64)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Number, E> {
                Ok(Number(v.trim().parse().ok()))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Number, E> {
                Ok(Number(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Number, E> {
                Ok(Number(None))
            }
        }
        de.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every trade of `message`, or its rejection.
    fn trades<'a>(decoder: &TradeDecoder, message: &'a [u8]) -> Result<Vec<DecodedTrade<'a>>, Rejection> {
        let mut all = Vec::new();
        decoder.decode_each(message, &mut |t| {
            all.push(t);
            Ok(())
        })?;
        Ok(all)
    }

    /// The one trade of `message`, or its rejection.
    fn one<'a>(decoder: &TradeDecoder, message: &'a [u8]) -> Result<DecodedTrade<'a>, Rejection> {
        trades(decoder, message).map(|mut all| {
            assert_eq!(all.len(), 1);
            all.remove(0)
        })
    }

    fn binance() -> FieldMap {
        FieldMap {
            symbol: "/s".into(),
            seq: Some("/t".into()),
            price: "/p".into(),
            qty: "/q".into(),
            ts: "/T".into(),
            ts_unit: Some(TsUnit::Ms),
        }
    }

    #[test]
    fn reads_binance_trades_by_mapping() {
        let decoder = TradeDecoder::new(FeedFormat::Mapped, Some(&binance()));
        let msg = br#"{"e":"trade","E":1,"s":"BTCUSDT","t":12345,"p":"42000.10","q":"0.5","T":1700000000000,"m":true}"#;
        let t = one(&decoder, msg).unwrap();
        assert!(matches!(t.symbol, Cow::Borrowed("BTCUSDT")), "borrowed, not copied");
        assert_eq!(t.tick, TradeTick { seq: Some(12345), ts_ns: 1_700_000_000_000_000_000, price: 42000.10, qty: 0.5 });
        assert_eq!(one(&decoder, br#"{"s":"X","p":"1"}"#), Err("missing_field"));
        assert_eq!(one(&decoder, b"{not json"), Err("not_json"));
        assert_eq!(one(&decoder, br#"[1,2]"#), Err("bad_field"));
    }

    #[test]
    fn nested_mappings_work_too() {
        let fields = FieldMap {
            symbol: "/data/s".into(),
            price: "/data/p".into(),
            ts: "/data/T".into(),
            seq: None,
            ..binance()
        };
        let decoder = TradeDecoder::new(FeedFormat::Mapped, Some(&fields));
        let t = one(&decoder, br#"{"stream":"x","data":{"s":"ETH","p":2300.5,"q":"2","T":1700000000}}"#);
        assert_eq!(t, Err("missing_field"), "qty is still /q at the top");
        let fields = FieldMap { qty: "/data/q".into(), ts_unit: None, ..fields };
        let decoder = TradeDecoder::new(FeedFormat::Mapped, Some(&fields));
        let t = one(&decoder, br#"{"stream":"x","data":{"s":"ETH","p":2300.5,"q":"2","T":1700000000}}"#).unwrap();
        assert_eq!(t.tick.ts_ns, 1_700_000_000_000_000_000, "seconds inferred from the size");
        assert_eq!(t.tick.seq, None);
    }

    #[test]
    fn the_binance_preset_reads_raw_and_combined_trades_and_agg_trades() {
        let decoder = TradeDecoder::new(FeedFormat::Binance, None);
        let raw = br#"{"e":"trade","E":1700000000001,"s":"BTCUSDT","t":12345,"p":"42000.10","q":"0.5","T":1700000000000,"m":true,"M":true}"#;
        let t = one(&decoder, raw).unwrap();
        assert!(matches!(t.symbol, Cow::Borrowed("BTCUSDT")));
        assert_eq!(t.tick, TradeTick { seq: Some(12345), ts_ns: 1_700_000_000_000_000_000, price: 42000.10, qty: 0.5 });
        let combined = br#"{"stream":"ethusdt@aggTrade","data":{"e":"aggTrade","E":2,"s":"ETHUSDT","a":77,"p":"2300.5","q":"2","f":100,"l":105,"T":1700000000500,"m":false}}"#;
        let t = one(&decoder, combined).unwrap();
        assert_eq!((t.symbol.as_ref(), t.tick.seq, t.tick.price), ("ETHUSDT", Some(77), 2300.5));
        assert_eq!(one(&decoder, br#"{"result":null,"id":1}"#), Err("not_trade"));
        assert_eq!(one(&decoder, br#"{"e":"24hrTicker","s":"BTCUSDT"}"#), Err("not_trade"));
        assert_eq!(one(&decoder, br#"{"e":"trade","s":"BTCUSDT","t":1,"p":"x","q":"1","T":1}"#), Err("bad_field"));
        assert_eq!(one(&decoder, br#"{"e":"trade","s":"BTCUSDT","p":"1","q":"1","T":1}"#), Err("missing_field"));
    }

    /// Every message made from `base` by giving one member (or one more, repeated or
    /// new) each of many values, written compact and spaced.
    fn variants(base: &[(&str, &str)]) -> Vec<String> {
        let values = [
            r#""trade""#,
            r#""aggTrade""#,
            r#""ETH""#,
            r#"" 1.5 ""#,
            r#""x""#,
            r#""NaN""#,
            r#""-0""#,
            "1",
            "0",
            "-0",
            "-1",
            "1.5",
            "1e3",
            "2.5E-3",
            "18446744073709551615",
            "18446744073709551616",
            "9223372036854775808",
            "123456789012345678901234567890",
            "9007199254740993",
            "true",
            "false",
            "null",
            r#"{"a":1}"#,
            "[1]",
            r#""a\"b""#,
            r#""\u00e9""#,
            "1e400",
            "1e-400",
            "01",
        ];
        let write = |members: &[(&str, &str)], spaced: bool| {
            let body: Vec<String> = members
                .iter()
                .map(|(k, v)| if spaced { format!("\"{k}\" : {v}") } else { format!("\"{k}\":{v}") })
                .collect();
            format!("{{{}}}", body.join(if spaced { " , " } else { "," }))
        };
        let mut messages = Vec::new();
        for spaced in [false, true] {
            messages.push(write(base, spaced));
            for (i, (key, _)) in base.iter().enumerate().chain([(base.len(), &("new", ""))]) {
                for value in values {
                    let mut replaced = base.to_vec();
                    match replaced.get_mut(i) {
                        Some(member) => member.1 = value,
                        None => replaced.push((key, value)),
                    }
                    let mut doubled = base.to_vec();
                    doubled.push((key, value));
                    messages.extend([write(&replaced, spaced), write(&doubled, spaced)]);
                }
            }
        }
        messages
    }

    /// The flat-object fast paths read every variant of a trade as serde alone does
    /// (Debug compared, so -0.0 and NaN count), and take a good share of them.
    #[test]
    fn the_fast_paths_read_as_serde_does() {
        let binance_trade = [
            ("e", r#""trade""#),
            ("E", "1"),
            ("s", r#""BTCUSDT""#),
            ("t", "12345"),
            ("p", r#""42000.10""#),
            ("q", r#""0.5""#),
            ("T", "1700000000000"),
            ("m", "true"),
        ];
        let canonical_trade = [
            ("venue", r#""binance""#),
            ("symbol", r#""BTCUSDT""#),
            ("seq", "12345"),
            ("ts_ns", "1700000000000000000"),
            ("price", "42000.1"),
            ("qty", "0.5"),
            ("side", r#""buy""#),
        ];
        let all = |decoder: &TradeDecoder, message: &[u8], by_serde: bool| {
            let mut seen = Vec::new();
            let mut each = |t: DecodedTrade| {
                seen.push(format!("{t:?}"));
                Ok(())
            };
            let outcome = match by_serde {
                true => decoder.decode_each_by_serde(message, &mut each),
                false => decoder.decode_each(message, &mut each),
            };
            (outcome, seen)
        };
        let check = |decoder: TradeDecoder, base: &[(&str, &str)], fast: &dyn Fn(&[u8]) -> bool, least_percent| {
            let messages = variants(base);
            let mut taken = 0;
            for message in &messages {
                let m = message.as_bytes();
                assert_eq!(all(&decoder, m, false), all(&decoder, m, true), "{decoder:?}: {message}");
                taken += usize::from(fast(m));
            }
            let share = format!("{decoder:?}: {taken} of {} by the fast path", messages.len());
            assert!(taken * 100 > messages.len() * least_percent, "{share}");
        };
        let mapping = Mapping::new(&binance());
        check(TradeDecoder::Mapped(mapping.clone()), &binance_trade, &|m| mapping.read_flat(m).is_some(), 70);
        // Half the messages repeat a field, which serde refuses in a struct.
        check(TradeDecoder::Binance, &binance_trade, &|m| binance_flat(m).is_some(), 25);
        check(TradeDecoder::Tickwatch, &canonical_trade, &|m| tickwatch_flat(m).is_some(), 25);
    }

    #[test]
    fn the_coinbase_preset_reads_matches() {
        let decoder = TradeDecoder::new(FeedFormat::Coinbase, None);
        let m = br#"{"type":"match","trade_id":10,"sequence":50,"maker_order_id":"ac928c66","taker_order_id":"132fb6ae","time":"2014-11-07T08:19:27.028459Z","product_id":"BTC-USD","size":"5.23512","price":"400.23","side":"sell"}"#;
        let t = one(&decoder, m).unwrap();
        assert!(matches!(t.symbol, Cow::Borrowed("BTC-USD")));
        assert_eq!(t.tick, TradeTick { seq: Some(10), ts_ns: 1_415_348_367_028_459_000, price: 400.23, qty: 5.23512 });
        let last = br#"{"type":"last_match","trade_id":9,"time":"2014-11-07T08:19:27Z","product_id":"BTC-USD","size":"1","price":"400"}"#;
        assert_eq!(one(&decoder, last).unwrap().tick.seq, Some(9));
        assert_eq!(one(&decoder, br#"{"type":"heartbeat","sequence":90,"last_trade_id":20}"#), Err("not_trade"));
        assert_eq!(one(&decoder, br#"{"type":"subscriptions","channels":[]}"#), Err("not_trade"));
        let late = br#"{"type":"match","trade_id":1,"time":"yesterday","product_id":"BTC-USD","size":"1","price":"1"}"#;
        assert_eq!(one(&decoder, late), Err("bad_field"));
    }

    #[test]
    fn the_deribit_preset_reads_every_trade_of_a_notification() {
        let decoder = TradeDecoder::new(FeedFormat::Deribit, None);
        let notification = br#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"trades.BTC-PERPETUAL.raw","data":[
            {"trade_seq":30289432,"trade_id":"48079254","timestamp":1590484156350,"tick_direction":0,"price":8950.0,"mark_price":8948.9,"instrument_name":"BTC-PERPETUAL","index_price":8955.88,"direction":"sell","amount":10.0},
            {"trade_seq":30289433,"trade_id":"48079255","timestamp":1590484156351,"tick_direction":1,"price":8950.5,"mark_price":8948.9,"instrument_name":"BTC-PERPETUAL","index_price":8955.88,"direction":"buy","amount":20.0}]}}"#;
        let all = trades(&decoder, notification).unwrap();
        assert_eq!(all.len(), 2);
        assert!(matches!(all[0].symbol, Cow::Borrowed("BTC-PERPETUAL")));
        assert_eq!(
            all[1].tick,
            TradeTick { seq: Some(30289433), ts_ns: 1_590_484_156_351_000_000, price: 8950.5, qty: 20.0 }
        );
        let ticker = br#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"ticker.BTC-27DEC24-90000-C.100ms","data":{"mark_iv":55.1,"greeks":{"delta":0.5}}}}"#;
        assert_eq!(trades(&decoder, ticker).map(|t| t.len()), Err("not_trade"));
        assert_eq!(
            trades(&decoder, br#"{"jsonrpc":"2.0","id":42,"result":["trades.BTC-PERPETUAL.raw"]}"#).map(|t| t.len()),
            Err("not_trade")
        );
        assert_eq!(
            trades(&decoder, br#"{"jsonrpc":"2.0","method":"heartbeat","params":{"type":"test_request"}}"#)
                .map(|t| t.len()),
            Err("not_trade")
        );
        let bad = br#"{"method":"subscription","params":{"data":[{"instrument_name":"X","trade_seq":1,"timestamp":1,"price":"high","amount":1}]}}"#;
        assert_eq!(trades(&decoder, bad).map(|t| t.len()), Err("bad_field"));
        // The first rejected trade stops the message with its reason.
        let mut seen = 0;
        let stopped = decoder.decode_each(notification, &mut |_| {
            seen += 1;
            Err("symbol_cap")
        });
        assert_eq!((stopped, seen), (Err("symbol_cap"), 1));
    }

    #[test]
    fn reads_the_canonical_form_borrowed() {
        let decoder = TradeDecoder::new(FeedFormat::Tickwatch, None);
        let msg = br#"{"venue":"v","symbol":"BTCUSDT","seq":7,"ts_ns":5,"price":1.5,"qty":2.0,"side":"buy"}"#;
        let t = one(&decoder, msg).unwrap();
        assert!(matches!(t.symbol, Cow::Borrowed("BTCUSDT")));
        assert_eq!(t.tick.seq, Some(7));
        assert_eq!(one(&decoder, br#"{"symbol":"X","seq":"seven"}"#), Err("bad_field"));
    }
}
