//! The canonical JSON of a trade and of an option chain: whatever decodes encodes back to
//! the same record, and a rejection names its field without panicking. The option chain's
//! fast path takes only what serde takes, and reads it the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::fmt::Debug;
use tickwatch_feed::codec::{self, FeedRecord};
use tickwatch_feed::{OptionChain, Trade};

fuzz_target!(|data: &[u8]| {
    round_trip::<Trade>(data);
    round_trip::<OptionChain>(data);
    let mut fast = OptionChain::default();
    if codec::read_canonical_chain(data, &mut fast) {
        let serde = codec::decode::<OptionChain>(data).expect("serde takes what the fast path takes");
        assert_eq!(format!("{fast:?}"), format!("{serde:?}"), "the two paths read the chain differently");
    }
});

fn round_trip<T: FeedRecord + PartialEq + Debug>(data: &[u8]) {
    match codec::decode::<T>(data) {
        Ok(record) => {
            let mut encoded = Vec::new();
            codec::encode(&record, &mut encoded);
            let again = codec::decode::<T>(&encoded).expect("an encoded record decodes");
            assert_eq!(record, again, "the round trip changed the record");
        }
        Err(e) => {
            let _ = codec::field_named_in(&e.to_string());
        }
    }
}
