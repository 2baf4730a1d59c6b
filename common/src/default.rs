//! Serde defaults written where the key is: `#[serde(default = "default::usize::<500>")]`
//! says the default beside the field, instead of in a one-line function further down.

use std::time::Duration;

pub fn usize<const N: usize>() -> usize {
    N
}

pub fn u64<const N: u64>() -> u64 {
    N
}

/// `S` seconds.
pub fn secs<const S: u64>() -> Duration {
    Duration::from_secs(S)
}
