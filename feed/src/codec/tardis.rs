//! tardis.dev's downloadable CSV datasets (plain or gzip), as recorded market data users
//! already own: `trades` rows become canonical trades, `options_chain` rows are grouped
//! into chains by timestamp, underlying and expiration. Times are microseconds; each
//! record keeps its `local_timestamp` (when it was received) as its replay time.
//!
//! A malformed row is an error naming the line and column; reading goes on past it unless
//! [`OnError::Stop`] is chosen.

use super::{DecodeError, OnError};
use crate::model::{OptionChain, Quote, Side, StrikeRow, Trade};
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::PathBuf;
use time::{Date, OffsetDateTime};

/// A record and the time it was received (Unix nanoseconds).
pub type Received<T> = (i64, T);

/// Rows of a tardis CSV file, with its header's columns found by name.
struct Rows {
    reader: csv::Reader<Box<dyn BufRead + Send>>,
    record: csv::StringRecord,
    /// Where each of `names` is in the header.
    columns: Vec<usize>,
    names: &'static [&'static str],
    file: Option<PathBuf>,
    on_error: OnError,
    done: bool,
}

/// One row, read by column name.
struct Row<'a> {
    record: &'a csv::StringRecord,
    columns: &'a [usize],
    names: &'static [&'static str],
}

impl Row<'_> {
    fn text(&self, column: usize) -> &str {
        self.record.get(self.columns[column]).unwrap_or("")
    }

    fn bad(&self, column: usize, why: impl Into<String>) -> DecodeError {
        DecodeError { field: Some(self.names[column].to_owned()), ..DecodeError::new(why) }
    }

    fn number(&self, column: usize) -> Result<f64, DecodeError> {
        let text = self.text(column);
        text.parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .ok_or_else(|| self.bad(column, format!("`{text}` is not a number")))
    }

    /// An optional number: empty is `default`.
    fn number_or(&self, column: usize, default: f64) -> Result<f64, DecodeError> {
        if self.text(column).is_empty() { Ok(default) } else { self.number(column) }
    }

    /// Microseconds since the epoch, as nanoseconds.
    fn micros(&self, column: usize) -> Result<i64, DecodeError> {
        let text = self.text(column);
        text.parse::<i64>()
            .ok()
            .and_then(|us| us.checked_mul(1000))
            .ok_or_else(|| self.bad(column, format!("`{text}` is not a timestamp in microseconds")))
    }
}

impl Rows {
    /// Reads the header and finds `names` in it.
    fn open(
        input: Box<dyn BufRead + Send>,
        file: Option<PathBuf>,
        names: &'static [&'static str],
    ) -> Result<Rows, DecodeError> {
        let mut reader = csv::ReaderBuilder::new().from_reader(input);
        let headers = reader
            .headers()
            .map_err(|e| DecodeError::new(format!("cannot read the header row: {e}")).at(file.as_ref(), 1))?;
        let mut columns = Vec::with_capacity(names.len());
        for name in names {
            let found = headers.iter().position(|h| h == *name).ok_or_else(|| {
                DecodeError::new(format!(
                    "the header has no `{name}` column; is this a tardis.dev CSV of this data type?"
                ))
                .at(file.as_ref(), 1)
            })?;
            columns.push(found);
        }
        let record = csv::StringRecord::new();
        Ok(Rows { reader, record, columns, names, file, on_error: OnError::default(), done: false })
    }

    /// The next row given to `decode`, or the error of a malformed one.
    fn next_with<T>(
        &mut self,
        mut decode: impl FnMut(&Row) -> Result<T, DecodeError>,
    ) -> Option<Result<T, DecodeError>> {
        if self.done {
            return None;
        }
        let result = match self.reader.read_record(&mut self.record) {
            Ok(false) => {
                self.done = true;
                return None;
            }
            Ok(true) => decode(&Row { record: &self.record, columns: &self.columns, names: self.names }),
            Err(e) => {
                // Broken framing or I/O: the rest of the file cannot be trusted.
                self.done = !matches!(e.kind(), csv::ErrorKind::UnequalLengths { .. });
                Err(DecodeError::new(e.to_string()))
            }
        };
        let line = self.record.position().map_or(0, |p| p.line());
        if result.is_err() && self.on_error == OnError::Stop {
            self.done = true;
        }
        Some(result.map_err(|e| e.at(self.file.as_ref(), line)))
    }
}

const TRADE_COLUMNS: &[&str] = &["exchange", "symbol", "timestamp", "local_timestamp", "id", "side", "price", "amount"];

/// The trades of a tardis `trades` CSV. A trade id that is not a number (some venues use
/// UUIDs) is replaced by the trade's position in its symbol's stream, counted from 1.
pub struct TardisTradeReader {
    rows: Rows,
    positions: BTreeMap<String, u64>,
}

impl TardisTradeReader {
    pub fn new(input: Box<dyn BufRead + Send>, file: Option<PathBuf>) -> Result<Self, DecodeError> {
        let rows = Rows::open(input, file, TRADE_COLUMNS)?;
        Ok(TardisTradeReader { rows, positions: BTreeMap::new() })
    }

    pub fn on_error(mut self, on_error: OnError) -> Self {
        self.rows.on_error = on_error;
        self
    }
}

fn trade(row: &Row, positions: &mut BTreeMap<String, u64>) -> Result<Received<Trade>, DecodeError> {
    let [exchange, symbol, timestamp, local_timestamp, id, side, price, amount] = [0, 1, 2, 3, 4, 5, 6, 7];
    let fields = TradeFields {
        exchange: row.text(exchange),
        symbol: row.text(symbol),
        id: row.text(id),
        side: row.text(side),
        ts_ns: row.micros(timestamp)?,
        price: row.number(price)?,
        amount: row.number(amount)?,
    };
    Ok((row.micros(local_timestamp)?, fields.trade(positions)?))
}

/// A tardis trade's fields as written (the CSV columns and tardis-machine's normalized
/// `trade` share their names and meaning).
pub(super) struct TradeFields<'a> {
    pub exchange: &'a str,
    pub symbol: &'a str,
    pub id: &'a str,
    pub side: &'a str,
    pub ts_ns: i64,
    pub price: f64,
    pub amount: f64,
}

impl TradeFields<'_> {
    /// The canonical trade. `positions` counts each symbol's trades, the sequence number
    /// of a trade whose id is not a number.
    pub(super) fn trade(&self, positions: &mut BTreeMap<String, u64>) -> Result<Trade, DecodeError> {
        let bad = |field: &str, why: String| DecodeError { field: Some(field.to_owned()), ..DecodeError::new(why) };
        let side = match self.side {
            "buy" => Side::Buy,
            "sell" => Side::Sell,
            other => return Err(bad("side", format!("`{other}`: only buy and sell trades can be replayed"))),
        };
        if self.symbol.is_empty() {
            return Err(bad("symbol", "is empty".into()));
        }
        let position = positions.entry(self.symbol.to_owned()).or_insert(0);
        *position += 1;
        Ok(Trade {
            venue: self.exchange.to_owned(),
            symbol: self.symbol.to_owned(),
            seq: self.id.parse().unwrap_or(*position),
            ts_ns: self.ts_ns,
            price: self.price,
            qty: self.amount,
            side,
        })
    }
}

impl Iterator for TardisTradeReader {
    type Item = Result<Received<Trade>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        let positions = &mut self.positions;
        self.rows.next_with(|row| trade(row, positions))
    }
}

const CHAIN_COLUMNS: &[&str] = &[
    "symbol",
    "timestamp",
    "local_timestamp",
    "type",
    "strike_price",
    "expiration",
    "open_interest",
    "last_price",
    "bid_price",
    "ask_price",
    "mark_iv",
    "underlying_price",
];

/// One option of a chain row.
struct OptionRow {
    local_ns: i64,
    underlying: String,
    expiry: Date,
    strike: f64,
    call: bool,
    quote: Quote,
    spot: f64,
}

fn option_row(row: &Row) -> Result<(i64, OptionRow), DecodeError> {
    let [symbol, timestamp, local_timestamp, kind, strike, expiration, oi, last, bid, ask, mark_iv, spot] =
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
    let call = match row.text(kind) {
        "call" => true,
        "put" => false,
        other => return Err(row.bad(kind, format!("`{other}` is neither call nor put"))),
    };
    // Deribit's `BTC-27DEC24-60000-C`: the underlying is what comes before the first dash.
    let underlying = row.text(symbol).split('-').next().unwrap_or("").to_owned();
    if underlying.is_empty() {
        return Err(row.bad(symbol, "names no underlying"));
    }
    let expiry_ns = row.micros(expiration)?;
    let expiry = OffsetDateTime::from_unix_timestamp_nanos(i128::from(expiry_ns))
        .map_err(|e| row.bad(expiration, e.to_string()))?
        .date();
    let open_interest = row.number_or(oi, 0.0)?;
    let quote = Quote {
        bid: row.number_or(bid, 0.0)?,
        ask: row.number_or(ask, 0.0)?,
        last: row.number_or(last, 0.0)?,
        // tardis gives implied volatility in percent.
        iv: row.number_or(mark_iv, 0.0)? / 100.0,
        oi: open_interest.max(0.0).round() as u64,
        volume: 0,
    };
    let strike_price = row.number(strike)?;
    if strike_price <= 0.0 {
        return Err(row.bad(strike, "must be above zero"));
    }
    let option = OptionRow {
        local_ns: row.micros(local_timestamp)?,
        underlying,
        expiry,
        strike: strike_price,
        call,
        quote,
        spot: row.number_or(spot, 0.0)?,
    };
    Ok((row.micros(timestamp)?, option))
}

/// Chains being assembled from the rows of one timestamp, by (underlying, expiry).
type Assembling = BTreeMap<(String, Date), (i64, f64, BTreeMap<u64, (Option<Quote>, Option<Quote>)>)>;

/// The option chains of a tardis `options_chain` CSV: the rows of one timestamp, one
/// underlying and one expiration make a chain, in increasing strike order. A strike whose
/// call or put is missing at that timestamp is left out (a chain row holds both).
pub struct TardisChainReader {
    rows: Rows,
    timestamp: Option<i64>,
    assembling: Assembling,
    ready: std::collections::VecDeque<Received<OptionChain>>,
}

impl TardisChainReader {
    pub fn new(input: Box<dyn BufRead + Send>, file: Option<PathBuf>) -> Result<Self, DecodeError> {
        let rows = Rows::open(input, file, CHAIN_COLUMNS)?;
        Ok(TardisChainReader { rows, timestamp: None, assembling: BTreeMap::new(), ready: Default::default() })
    }

    pub fn on_error(mut self, on_error: OnError) -> Self {
        self.rows.on_error = on_error;
        self
    }

    /// Moves the chains of the current timestamp to `ready`.
    fn complete(&mut self) {
        let Some(ts_ns) = self.timestamp else { return };
        for ((underlying, expiry), (local_ns, spot, strikes)) in std::mem::take(&mut self.assembling) {
            let rows: Vec<StrikeRow> = strikes
                .into_iter()
                .filter_map(|(bits, quotes)| match quotes {
                    (Some(call), Some(put)) => Some(StrikeRow { strike: f64::from_bits(bits), call, put }),
                    _ => None,
                })
                .collect();
            if !rows.is_empty() {
                self.ready.push_back((local_ns, OptionChain { underlying, expiry, ts_ns, spot, rows }));
            }
        }
    }
}

impl Iterator for TardisChainReader {
    type Item = Result<Received<OptionChain>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(chain) = self.ready.pop_front() {
                return Some(Ok(chain));
            }
            let Some(row) = self.rows.next_with(option_row) else {
                self.complete();
                self.timestamp = None;
                return self.ready.pop_front().map(Ok);
            };
            let (ts_ns, option) = match row {
                Ok(row) => row,
                Err(e) => return Some(Err(e)),
            };
            if self.timestamp != Some(ts_ns) {
                self.complete();
                self.timestamp = Some(ts_ns);
            }
            let entry = self.assembling.entry((option.underlying, option.expiry)).or_insert((
                option.local_ns,
                0.0,
                BTreeMap::new(),
            ));
            entry.0 = entry.0.max(option.local_ns);
            if option.spot > 0.0 {
                entry.1 = option.spot;
            }
            // Strikes are positive, so their bit patterns sort as the numbers do.
            let strike = entry.2.entry(option.strike.to_bits()).or_default();
            if option.call {
                strike.0 = Some(option.quote);
            } else {
                strike.1 = Some(option.quote);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::OnError;

    fn input(text: &str) -> Box<dyn BufRead + Send> {
        Box::new(std::io::Cursor::new(text.as_bytes().to_vec()))
    }

    const TRADES: &str = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n\
        binance,BTCUSDT,1585699200245000,1585699200355000,271455971,sell,6410.29,0.002\n\
        binance,BTCUSDT,1585699200246000,1585699200356000,271455972,buy,oops,0.5\n\
        coinbase,BTC-USD,1585699200247000,1585699200357000,a1b2-c3,buy,6411.5,1.25\n\
        binance,BTCUSDT,1585699200248000,1585699200358000,271455974,unknown,6410,1\n";

    #[test]
    fn trades_read_row_for_row_and_name_the_bad_column() {
        let all: Vec<_> = TardisTradeReader::new(input(TRADES), Some("t.csv".into())).unwrap().collect();
        assert_eq!(all.len(), 4);
        let (local, first) = all[0].as_ref().unwrap();
        assert_eq!(*local, 1_585_699_200_355_000_000);
        assert_eq!(
            *first,
            Trade {
                venue: "binance".into(),
                symbol: "BTCUSDT".into(),
                seq: 271_455_971,
                ts_ns: 1_585_699_200_245_000_000,
                price: 6410.29,
                qty: 0.002,
                side: Side::Sell,
            }
        );
        let bad = all[1].as_ref().unwrap_err();
        assert_eq!(bad.to_string(), "t.csv:3: field `price`: `oops` is not a number");
        let (_, uuid) = all[2].as_ref().unwrap();
        assert_eq!((uuid.seq, uuid.side, uuid.qty), (1, Side::Buy, 1.25), "a UUID id: the position in its symbol");
        assert_eq!(all[3].as_ref().unwrap_err().field.as_deref(), Some("side"));
        let stopped = TardisTradeReader::new(input(TRADES), None).unwrap().on_error(OnError::Stop).count();
        assert_eq!(stopped, 2, "strict reading ends at the first bad row");
    }

    #[test]
    fn a_file_of_another_data_type_is_named_as_such() {
        let e = TardisChainReader::new(input(TRADES), None).err().unwrap();
        assert!(e.to_string().contains("no `type` column"), "{e}");
    }

    const HEADER: &str = "exchange,symbol,timestamp,local_timestamp,type,strike_price,expiration,open_interest,last_price,\
        bid_price,bid_amount,bid_iv,ask_price,ask_amount,ask_iv,mark_price,mark_iv,underlying_index,underlying_price,delta,gamma,vega,theta,rho\n";

    fn option(symbol: &str, ts: u64, kind: &str, strike: u32, bid: f64) -> String {
        format!(
            "deribit,{symbol},{ts},{},{kind},{strike},1735286400000000,12.5,0.05,{bid},1,60,{},1,62,0.06,61.5,BTC-27DEC24,95000.5,0.5,0.0001,10,-5,1\n",
            ts + 100,
            bid + 0.01
        )
    }

    #[test]
    fn chain_rows_group_by_timestamp_underlying_and_expiry() {
        let mut text = HEADER.to_owned();
        for (strike, bid) in [(90000, 0.1), (100000, 0.02)] {
            text += &option(&format!("BTC-27DEC24-{strike}-C"), 1_000, "call", strike, bid);
            text += &option(&format!("BTC-27DEC24-{strike}-P"), 1_000, "put", strike, bid / 2.0);
        }
        text += &option("BTC-27DEC24-110000-C", 1_000, "call", 110000, 0.01);
        text += &option("BTC-27DEC24-90000-C", 2_000, "call", 90000, 0.2);
        text += &option("BTC-27DEC24-90000-P", 2_000, "put", 90000, 0.1);
        let chains: Vec<_> = TardisChainReader::new(input(&text), None).unwrap().map(Result::unwrap).collect();
        assert_eq!(chains.len(), 2);
        let (local, first) = &chains[0];
        assert_eq!(*local, 1_100_000, "the last row's receive time");
        assert_eq!((first.underlying.as_str(), first.ts_ns, first.spot), ("BTC", 1_000_000, 95000.5));
        assert_eq!(first.expiry, time::macros::date!(2024 - 12 - 27));
        let strikes: Vec<f64> = first.rows.iter().map(|r| r.strike).collect();
        assert_eq!(strikes, [90000.0, 100000.0], "110000 has no put at this timestamp");
        assert_eq!(first.rows[0].call, Quote { bid: 0.1, ask: 0.11, last: 0.05, iv: 0.615, oi: 13, volume: 0 });
        assert_eq!(chains[1].1.rows.len(), 1);
        assert_eq!(chains[1].1.rows[0].call.bid, 0.2);
    }
}
