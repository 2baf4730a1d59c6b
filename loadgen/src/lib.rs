//! # tickwatch-loadgen
//!
//! Puts realistic market-data load on a staging platform: scenarios ([`scenario`]) of
//! synthetic or replayed feeds sent to WebSocket, Redis, Celery and MongoDB sinks at exact
//! open-loop rates ([`run`]), synthetic feed files ([`generate`]) and recordings of live
//! feeds ([`record`]).

pub mod generate;
pub mod record;
pub mod run;
pub mod scenario;
