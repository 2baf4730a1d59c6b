//! JSON Lines files of trades, chains and recorded documents: every line yields at most
//! one record or error, and reading always ends.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::io::Cursor;
use tickwatch_feed::codec::{FeedRecord, JsonlReader, OnError};
use tickwatch_feed::{OptionChain, Trade};

fuzz_target!(|data: &[u8]| {
    let lines = data.split(|b| *b == b'\n').count();
    read::<Trade>(data, lines);
    read::<OptionChain>(data, lines);
    read::<serde_json::Value>(data, lines);
});

fn read<T: FeedRecord>(data: &[u8], lines: usize) {
    for on_error in [OnError::Continue, OnError::Stop] {
        let items =
            JsonlReader::<T>::from_reader(Cursor::new(data.to_vec())).on_error(on_error).take(lines + 1).count();
        assert!(items <= lines, "{items} items from {lines} lines");
    }
}
