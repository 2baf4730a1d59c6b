//! # tickwatch-loadgen
//!
//! Puts realistic market-data load on a staging platform. This crate holds the parts the
//! `tickwatch-loadgen` binary is made of; today that is [`generate`], which writes
//! synthetic feeds (with faults planted on purpose, and the ground truth of what was
//! planted) to replay files.

pub mod generate;
