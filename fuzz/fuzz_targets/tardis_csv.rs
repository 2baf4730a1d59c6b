//! tardis.dev CSV datasets (trades, options_chain) and tardis-machine's normalized NDJSON:
//! reading always ends, every row or line gives at most one trade or error, and every
//! chain holds rows in increasing strike order.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::io::{BufRead, Cursor};
use tickwatch_feed::codec::{TardisChainReader, TardisMachineReader, TardisTradeReader};

fn input(data: &[u8]) -> Box<dyn BufRead + Send> {
    Box::new(Cursor::new(data.to_vec()))
}

fuzz_target!(|data: &[u8]| {
    // The csv crate ends a record at \n, \r or \r\n.
    let lines = data.iter().filter(|b| matches!(b, b'\n' | b'\r')).count() + 1;
    if let Ok(trades) = TardisTradeReader::new(input(data), None) {
        assert!(trades.take(lines + 1).count() <= lines);
    }
    if let Ok(chains) = TardisChainReader::new(input(data), None) {
        for (_, chain) in chains.take(lines + 1).flatten() {
            assert!(chain.rows.windows(2).all(|w| w[0].strike < w[1].strike), "strikes out of order");
        }
    }
    // NDJSON lines end at \n only.
    let ndjson_lines = data.iter().filter(|&&b| b == b'\n').count() + 1;
    assert!(TardisMachineReader::new(input(data), None).take(ndjson_lines + 1).count() <= ndjson_lines);
});
