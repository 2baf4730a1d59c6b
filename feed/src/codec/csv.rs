use super::jsonl::open_maybe_gzip;
use super::{DecodeError, OnError};
use crate::model::Trade;
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};

/// Streams trades from CSV with a header row naming the `Trade` fields (`venue, symbol,
/// seq, ts_ns, price, qty, side`, in any order). Gzip input is recognised by its bytes.
/// Errors name the file, line and column; reading goes on past a bad row unless
/// [`OnError::Stop`] is chosen.
pub struct CsvTradeReader {
    reader: csv::Reader<Box<dyn BufRead + Send>>,
    headers: csv::StringRecord,
    record: csv::StringRecord,
    file: Option<PathBuf>,
    on_error: OnError,
    done: bool,
}

impl CsvTradeReader {
    /// Opens a `.csv` or `.csv.gz` file and reads its header row.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, DecodeError> {
        let path = path.as_ref();
        let file = Some(path.to_owned());
        let input = open_maybe_gzip(path)
            .map_err(|e| DecodeError { file: file.clone(), ..DecodeError::new(format!("cannot open: {e}")) })?;
        Self::with_name(input, file)
    }

    /// Reads from any buffered source.
    pub fn from_reader(input: impl BufRead + Send + 'static) -> Result<Self, DecodeError> {
        Self::with_name(Box::new(input), None)
    }

    fn with_name(input: Box<dyn BufRead + Send>, file: Option<PathBuf>) -> Result<Self, DecodeError> {
        let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(input);
        let headers = reader
            .headers()
            .map_err(|e| DecodeError::new(format!("cannot read the header row: {e}")).at(file.as_ref(), 1))?
            .clone();
        Ok(CsvTradeReader {
            reader,
            headers,
            record: csv::StringRecord::new(),
            file,
            on_error: OnError::default(),
            done: false,
        })
    }

    /// Chooses whether a bad row ends the stream.
    pub fn on_error(mut self, on_error: OnError) -> Self {
        self.on_error = on_error;
        self
    }

    fn error(&self, e: &csv::Error) -> DecodeError {
        let line = e.position().map(|p| p.line()).unwrap_or(0);
        let field = match e.kind() {
            csv::ErrorKind::Deserialize { err, .. } => err
                .field()
                .and_then(|i| self.headers.get(i as usize))
                .or_else(|| self.column_quoted_in(&err.kind().to_string()))
                .map(str::to_owned),
            _ => None,
        };
        let message = match e.kind() {
            csv::ErrorKind::Deserialize { err, .. } => err.kind().to_string(),
            _ => e.to_string(),
        };
        DecodeError { field, ..DecodeError::new(format!("not a valid trade: {message}")) }.at(self.file.as_ref(), line)
    }
}

impl CsvTradeReader {
    /// csv cannot tell which column a custom error (an unknown `side`, say) came from, but
    /// serde quotes the bad value in backticks: find the column holding it.
    fn column_quoted_in(&self, message: &str) -> Option<&str> {
        let value = message.split('`').nth(1)?;
        let column = self.record.iter().position(|v| v == value)?;
        self.headers.get(column)
    }
}

impl Iterator for CsvTradeReader {
    type Item = Result<Trade, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let result = match self.reader.read_record(&mut self.record) {
            Ok(false) => {
                self.done = true;
                return None;
            }
            Ok(true) => self.record.deserialize::<Trade>(Some(&self.headers)).map_err(|e| self.error(&e)),
            Err(e) => {
                // Broken framing or I/O: the rest of the file cannot be trusted.
                self.done = !matches!(e.kind(), csv::ErrorKind::UnequalLengths { .. });
                Err(self.error(&e))
            }
        };
        if result.is_err() && self.on_error == OnError::Stop {
            self.done = true;
        }
        Some(result)
    }
}

/// Writes trades as CSV with a header row.
pub struct CsvTradeWriter<W: Write> {
    writer: csv::Writer<W>,
}

impl CsvTradeWriter<std::io::BufWriter<std::fs::File>> {
    /// Creates (or truncates) `path`.
    pub fn create(path: impl AsRef<Path>) -> io::Result<Self> {
        Ok(Self::to_writer(std::io::BufWriter::new(std::fs::File::create(path)?)))
    }
}

impl<W: Write> CsvTradeWriter<W> {
    /// Writes to any sink.
    pub fn to_writer(output: W) -> Self {
        CsvTradeWriter { writer: csv::Writer::from_writer(output) }
    }

    /// Appends one trade (the header row goes before the first).
    pub fn write(&mut self, trade: &Trade) -> io::Result<()> {
        self.writer.serialize(trade).map_err(io::Error::other)
    }

    /// Flushes everything written so far.
    pub fn finish(mut self) -> io::Result<()> {
        self.writer.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Side;

    #[test]
    fn round_trips_through_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        let trades: Vec<Trade> = (0..10)
            .map(|i| Trade {
                venue: "nse".into(),
                symbol: "NIFTY".into(),
                seq: i,
                ts_ns: 1_700_000_000_000_000_000 + i as i64,
                price: 24000.05 + i as f64,
                qty: 75.0,
                side: if i % 2 == 0 { Side::Buy } else { Side::Sell },
            })
            .collect();
        let mut w = CsvTradeWriter::create(&path).unwrap();
        trades.iter().for_each(|t| w.write(t).unwrap());
        w.finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("venue,symbol,seq,ts_ns,price,qty,side\n"), "{text}");
        let back: Vec<Trade> = CsvTradeReader::open(&path).unwrap().map(Result::unwrap).collect();
        assert_eq!(back, trades);
    }

    #[test]
    fn a_bad_row_names_file_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.csv");
        std::fs::write(
            &path,
            "venue,symbol,seq,ts_ns,price,qty,side\nv,S,1,10,1.5,2,buy\nv,S,2,11,1.5,2,sideways\nv,S,3,12,1.5,2,sell\n",
        )
        .unwrap();
        let items: Vec<_> = CsvTradeReader::open(&path).unwrap().collect();
        assert_eq!(items.len(), 3);
        let err = items[1].as_ref().unwrap_err();
        assert_eq!((err.line, err.field.as_deref()), (Some(3), Some("side")));
        assert!(err.to_string().starts_with(&format!("{}:3: field `side`", path.display())), "{err}");
        assert_eq!(items[2].as_ref().unwrap().seq, 3);
    }
}
