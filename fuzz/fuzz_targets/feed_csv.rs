//! CSV trade files: reading ends, and every trade read writes back as CSV that reads as
//! the same trade.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::io::Cursor;
use tickwatch_feed::codec::{CsvTradeReader, CsvTradeWriter};

fuzz_target!(|data: &[u8]| {
    let Ok(reader) = CsvTradeReader::from_reader(Cursor::new(data.to_vec())) else { return };
    let lines = data.split(|b| *b == b'\n').count();
    for trade in reader.take(lines + 1).flatten() {
        let mut written = Vec::new();
        let mut writer = CsvTradeWriter::to_writer(&mut written);
        writer.write(&trade).expect("writes to memory");
        writer.finish().expect("writes to memory");
        let mut again = CsvTradeReader::from_reader(Cursor::new(written)).expect("our own header reads");
        assert_eq!(again.next().map(|r| r.expect("our own row reads")), Some(trade.clone()));
    }
});
