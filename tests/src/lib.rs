//! # tickwatch test kit
//!
//! Starts the real servers tickwatch talks to, each on a free loopback port with its own
//! temporary directory, waits until it answers (with a deadline, and its log in the error
//! when it does not), and stops it when dropped: `redis-server`, the MongoDB-wire server
//! `secantusd-py`, a Celery worker for the app in `tests/python/`, `rabbitmq-server`,
//! `prometheus`, `prometheus-alertmanager`, and an independent WebSocket gateway
//! (Python `websockets`), and a relay from Redis pub/sub to WebSocket clients as a
//! reference platform.
//!
//! Nothing here is a mock. A missing server is an error that names `scripts/setup.sh`,
//! so a test that needs it fails loudly instead of skipping.

mod alertmanager;
mod alloc;
mod binaries;
mod celery;
mod certs;
mod chain;
mod error;
mod exporter;
mod exposition;
mod manifests;
mod mongodb;
mod netns;
mod ports;
mod process;
mod prometheus;
mod rabbitmq;
mod redis;
mod reference;
mod relay;
mod rules;
mod websocket;

pub use alertmanager::Alertmanager;
pub use alloc::{CountingAllocator, allocations};
pub use binaries::{binary, repo_root, venv_binary};
pub use celery::{CeleryClient, CeleryWorker};
pub use certs::{CertFiles, Pki, bcrypt_hash};
pub use chain::{Chain, ChainOptions};
pub use error::{KitError, Result};
pub use exporter::Exporter;
pub use exposition::{value, values};
pub use manifests::generated_manifests;
pub use mongodb::MongoServer;
pub use netns::NetNamespace;
pub use ports::free_port;
pub use process::{Server, ServerProcess};
pub use prometheus::Prometheus;
pub use rabbitmq::RabbitMq;
pub use redis::RedisServer;
pub use reference::Reference;
pub use relay::{Relay, RelayStats};
pub use rules::scaled_alert_rules;
pub use websocket::WebSocketServer;

/// Asks `url` over HTTP and tells whether it answered 200; used for readiness checks.
fn http_ok(url: &str) -> bool {
    reqwest::blocking::Client::new()
        .get(url)
        .timeout(std::time::Duration::from_secs(2))
        .send()
        .is_ok_and(|r| r.status().is_success())
}
