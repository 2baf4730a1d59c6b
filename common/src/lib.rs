//! # tickwatch-common
//!
//! The parts the exporter, the loadgen and the test kit would otherwise each write again,
//! and let drift: how a Redis or MongoDB client is built (timeouts, `CLIENT SETINFO`),
//! how a background loop waits before reconnecting, how a duration is read from a
//! config file, and which keys a config table accepts.

pub mod backoff;
pub mod default;
pub mod duration;
pub mod env;
pub mod keys;
pub mod mongodb;
pub mod redact;
pub mod redis;
pub mod tls;
pub mod web;

/// The content type of Prometheus's text exposition format.
pub const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";
