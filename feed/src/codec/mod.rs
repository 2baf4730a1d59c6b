//! Wire and file forms of feed records.
//!
//! - `json`: the canonical JSON form of one [`Trade`] or [`OptionChain`] (serde names in
//!   `model`), used on every socket and in every file.
//! - `canonical_chain`: a fast path for option chains in exactly that form.
//! - `flat_object`: a fast path for flat JSON objects (exchanges' trades), over the same
//!   `scanner`.
//! - `jsonl`: JSON Lines files, plain or gzip, read and written as streams.
//! - `csv`: trades as CSV with a header row.
//! - `tardis`: tardis.dev's CSV datasets of trades and options chains (replay input).
//! - `tardis_machine`: tardis-machine's normalized NDJSON trades (replay input).
//!
//! Malformed input is a [`DecodeError`] naming the file, the line and the field; readers
//! go on past a bad line unless the caller asks for strict reading.

mod canonical_chain;
mod csv;
mod error;
mod flat_object;
mod json;
mod jsonl;
mod scanner;
mod tardis;
mod tardis_machine;

pub use self::csv::{CsvTradeReader, CsvTradeWriter};
pub use canonical_chain::{decode_chain_into, read_canonical_chain};
pub use error::DecodeError;
pub use flat_object::{FlatValue, read_flat_object};
pub use json::{decode, encode, field_named_in};
pub use jsonl::{JsonlReader, JsonlWriter, open_maybe_gzip};
pub use tardis::{Received, TardisChainReader, TardisTradeReader};
pub use tardis_machine::TardisMachineReader;

use crate::model::{OptionChain, Trade};
use serde::{Serialize, de::DeserializeOwned};

/// A record type that can travel as canonical JSON.
pub trait FeedRecord: Serialize + DeserializeOwned {
    /// What the record is called in messages to people (`trade`, `option chain`).
    const NAME: &'static str;
}

impl FeedRecord for Trade {
    const NAME: &'static str = "trade";
}

impl FeedRecord for OptionChain {
    const NAME: &'static str = "option chain";
}

/// Any JSON document: recordings of foreign feeds (`{"arrival_ns": .., "message": ..}`).
impl FeedRecord for serde_json::Value {
    const NAME: &'static str = "JSON document";
}

/// Whether a reader stops at the first bad line or skips it and goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnError {
    /// Yield the error and keep reading (the default: one bad line never aborts a stream).
    #[default]
    Continue,
    /// Yield the error and end the stream.
    Stop,
}
