//! # tickwatch-loadgen
//!
//! Puts realistic market-data load on a staging platform: scenarios ([`scenario`]) of
//! synthetic or replayed feeds sent to WebSocket, Redis, Celery and MongoDB sinks at exact
//! open-loop rates ([`run`]) and judged by their [`thresholds`] into a [`verdict`],
//! synthetic feed files ([`generate`]) and recordings of live feeds ([`record`]).

pub mod dashboards;
pub mod expectations;
pub mod generate;
pub mod http;
pub mod merge;
pub mod record;
pub mod run;
pub mod scenario;
pub mod thresholds;
pub mod verdict;
