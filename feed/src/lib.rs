//! # tickwatch-feed
//!
//! The market-data domain shared by the tickwatch exporter and load generator: what a
//! trade and an option chain are, how they travel (JSON, JSON Lines, CSV), how to make
//! realistic ones from a seed, how to break them on purpose, and which prices of a chain
//! are an arbitrage. Pure code: no sockets, no clocks, no global state, so that the same
//! input gives the same output in a test, a bench and production.
//!
//! - [`model`]: `Trade`, `OptionChain`, put-call ratios.
//! - [`codec`]: canonical JSON, JSON Lines (plain or gzip) and CSV, with errors that name
//!   the file, line and field.
//! - [`synth`]: seeded generators of trades (GBM prices, Poisson arrivals) and option
//!   chains (Black-Scholes with a volatility smile, free of static arbitrage).
//! - [`faults`]: injectors that plant gaps, duplicates, spikes, crossed quotes, chain
//!   arbitrage and more, and report exactly what they planted.
//! - [`arbitrage`]: static-arbitrage rules of a chain on tradable prices.
//! - [`deribit`]: Deribit's option instrument names.

pub mod arbitrage;
pub mod codec;
pub mod deribit;
pub mod faults;
pub mod model;
pub mod quality;
pub mod synth;

pub use model::{OptionChain, Quote, Side, StrikeRow, Trade, UnixNanos};
