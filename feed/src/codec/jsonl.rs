use super::{DecodeError, FeedRecord, OnError, decode, encode};
use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

/// Opens `path` for buffered reading, transparently un-gzipping it when it starts with the
/// gzip magic bytes (whatever its name says).
pub fn open_maybe_gzip(path: &Path) -> io::Result<Box<dyn BufRead + Send>> {
    let mut file = BufReader::new(File::open(path)?);
    let is_gzip = file.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    Ok(if is_gzip { Box::new(BufReader::new(MultiGzDecoder::new(file))) } else { Box::new(file) })
}

/// Streams records from a JSON Lines source, one per line; blank lines are skipped.
///
/// Each item is a record or a [`DecodeError`] naming the file, line and field. With
/// [`OnError::Continue`] (the default) reading goes on after a bad line; with
/// [`OnError::Stop`] the stream ends after yielding the first error.
pub struct JsonlReader<T> {
    input: Box<dyn BufRead + Send>,
    file: Option<PathBuf>,
    line_number: u64,
    buffer: Vec<u8>,
    on_error: OnError,
    done: bool,
    _record: PhantomData<fn() -> T>,
}

impl<T: FeedRecord> JsonlReader<T> {
    /// Opens a `.jsonl` or gzip-compressed `.jsonl.gz` file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, DecodeError> {
        let path = path.as_ref();
        let input = open_maybe_gzip(path).map_err(|e| DecodeError {
            file: Some(path.to_owned()),
            ..DecodeError::new(format!("cannot open: {e}"))
        })?;
        Ok(Self::with_name(input, Some(path.to_owned())))
    }

    /// Reads from any buffered source (a socket, stdin, a test buffer).
    pub fn from_reader(input: impl BufRead + Send + 'static) -> Self {
        Self::with_name(Box::new(input), None)
    }

    fn with_name(input: Box<dyn BufRead + Send>, file: Option<PathBuf>) -> Self {
        JsonlReader {
            input,
            file,
            line_number: 0,
            buffer: Vec::with_capacity(512),
            on_error: OnError::default(),
            done: false,
            _record: PhantomData,
        }
    }

    /// Chooses whether a bad line ends the stream.
    pub fn on_error(mut self, on_error: OnError) -> Self {
        self.on_error = on_error;
        self
    }

    fn fail(&mut self, error: DecodeError) -> Option<Result<T, DecodeError>> {
        if self.on_error == OnError::Stop {
            self.done = true;
        }
        Some(Err(error.at(self.file.as_ref(), self.line_number)))
    }
}

impl<T: FeedRecord> Iterator for JsonlReader<T> {
    type Item = Result<T, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            self.buffer.clear();
            self.line_number += 1;
            match self.input.read_until(b'\n', &mut self.buffer) {
                Ok(0) => self.done = true,
                Ok(_) => {
                    let line = self.buffer.trim_ascii();
                    if line.is_empty() {
                        continue;
                    }
                    return match decode(line) {
                        Ok(record) => Some(Ok(record)),
                        Err(e) => self.fail(e),
                    };
                }
                Err(e) => {
                    // A broken file (truncated gzip, I/O error) cannot be resynchronised.
                    self.done = true;
                    return Some(Err(
                        DecodeError::new(format!("read failed: {e}")).at(self.file.as_ref(), self.line_number)
                    ));
                }
            }
        }
        None
    }
}

/// Writes records as JSON Lines, gzip-compressed when the file name ends in `.gz`.
pub struct JsonlWriter<T> {
    output: Box<dyn Write + Send>,
    line: Vec<u8>,
    _record: PhantomData<fn(T)>,
}

impl<T: FeedRecord> JsonlWriter<T> {
    /// Creates (or truncates) `path`.
    pub fn create(path: impl AsRef<Path>) -> io::Result<Self> {
        let path = path.as_ref();
        let file = BufWriter::new(File::create(path)?);
        let gzip = path.extension().is_some_and(|e| e == "gz");
        Ok(Self::to_writer(if gzip { Box::new(GzEncoder::new(file, Compression::default())) } else { Box::new(file) }))
    }

    /// Writes to any sink.
    pub fn to_writer(output: Box<dyn Write + Send>) -> Self {
        JsonlWriter { output, line: Vec::with_capacity(512), _record: PhantomData }
    }

    /// Appends one record and a newline.
    pub fn write(&mut self, record: &T) -> io::Result<()> {
        self.line.clear();
        encode(record, &mut self.line);
        self.line.push(b'\n');
        self.output.write_all(&self.line)
    }

    /// Flushes everything and, for gzip, writes the trailer. Dropping the writer without
    /// calling this may lose the tail of the file.
    pub fn finish(mut self) -> io::Result<()> {
        self.output.flush()?;
        drop(self.output);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Trade;

    fn trade(seq: u64) -> Trade {
        Trade {
            venue: "v".into(),
            symbol: "S".into(),
            seq,
            ts_ns: seq as i64,
            price: 1.5,
            qty: 2.0,
            side: crate::model::Side::Sell,
        }
    }

    #[test]
    fn plain_and_gzip_files_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["t.jsonl", "t.jsonl.gz"] {
            let path = dir.path().join(name);
            let mut w = JsonlWriter::create(&path).unwrap();
            for seq in 0..100 {
                w.write(&trade(seq)).unwrap();
            }
            w.finish().unwrap();
            let back: Vec<Trade> = JsonlReader::open(&path).unwrap().map(Result::unwrap).collect();
            assert_eq!(back, (0..100).map(trade).collect::<Vec<_>>(), "{name}");
        }
        let plain = std::fs::metadata(dir.path().join("t.jsonl")).unwrap().len();
        let gz = std::fs::metadata(dir.path().join("t.jsonl.gz")).unwrap().len();
        assert!(gz < plain / 4, "gzip file is really compressed: {gz} vs {plain}");
    }

    #[test]
    fn a_bad_line_names_file_line_and_field_and_reading_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.jsonl");
        let mut text = String::new();
        let mut line = Vec::new();
        encode(&trade(1), &mut line);
        let good = String::from_utf8(line).unwrap();
        text.push_str(&good);
        text.push_str("\n\n");
        text.push_str(&good.replace("\"qty\":2.0", "\"qty\":\"lots\""));
        text.push('\n');
        text.push_str(&good);
        text.push('\n');
        std::fs::write(&path, text).unwrap();

        let items: Vec<_> = JsonlReader::<Trade>::open(&path).unwrap().collect();
        assert_eq!(items.len(), 3);
        let err = items[1].as_ref().unwrap_err();
        assert_eq!(err.line, Some(3));
        assert_eq!(err.field.as_deref(), Some("qty"));
        let shown = err.to_string();
        assert!(shown.starts_with(&format!("{}:3: field `qty`:", path.display())), "{shown}");
        assert!(items[2].is_ok());

        let strict: Vec<_> = JsonlReader::<Trade>::open(&path).unwrap().on_error(OnError::Stop).collect();
        assert_eq!(strict.len(), 2, "strict reading ends at the bad line");
    }

    #[test]
    fn a_missing_file_is_an_error_naming_it() {
        let err = JsonlReader::<Trade>::open("/nonexistent/feed.jsonl").err().unwrap();
        assert!(err.to_string().contains("/nonexistent/feed.jsonl"), "{err}");
    }
}
