//! # tickwatch-exporter
//!
//! One Prometheus exporter for a market-data platform. Request/response targets (Redis
//! INFO, queue lengths) are probed at scrape time, all concurrently, each under its own
//! timeout taken from the scrape; streams (Celery events) are consumed in the background
//! and a scrape only reads their state. A dead, slow or hostile target is reported as down
//! and never delays or breaks the others.

pub mod config;
pub mod consumers;
pub mod discovery;
pub mod epoch;
pub mod exposition;
pub mod memory;
pub mod probe;
pub mod reason;
pub mod redis_conn;
pub mod scrape;
pub mod shared;
pub mod web;
