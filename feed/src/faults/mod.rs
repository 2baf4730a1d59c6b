//! Fault injectors: they take a clean stream and plant, at chosen rates, the problems a
//! data-quality monitor must catch, and they record exactly what they planted. That record
//! is the ground truth data-quality tests compare against.
//!
//! At most one fault is planted per input record, and each fault is shaped so that it is
//! one problem of one kind under the documented checks (see `arbitrage` for chains): a
//! sequence jump of any size is one gap, an exact resend is one duplicate, a raised call
//! is shifted together with everything parity ties it to, so it is one monotonicity
//! break and not also a parity break.

mod chains;
mod mix;
mod trades;

pub use chains::{ChainFault, ChainFaults};
pub use mix::{FaultKind, FaultMix};
pub use trades::{TradeFault, TradeFaultParams, TradeFaults};

/// One planted fault.
#[derive(Debug, Clone, PartialEq)]
pub struct Planted<K> {
    /// Position of the affected record in the output stream (0-based).
    pub index: u64,
    pub kind: K,
    /// Symbol or underlying it was planted on.
    pub key: String,
    /// What exactly was done, for people reading a test failure or a report.
    pub detail: String,
}
