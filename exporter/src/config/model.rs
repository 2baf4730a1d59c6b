//! The config file's shape: the sections every file has, and the contract each probe
//! kind's target type keeps (its own module holds the type, with `deny_unknown_fields`
//! and doc comments that are the user documentation).

use super::{Problem, TargetProblems};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tickwatch_common::{default, duration};

/// The whole file: `[web]`, `[defaults]`, and one list of targets per probe kind
/// (`[[redis]]`, ...), each read as its kind's own type (see `probe::KINDS`).
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub web: WebConfig,
    pub defaults: Defaults,
    /// The targets of each kind that has any, in `probe::KINDS` order.
    pub(super) sections: Vec<(&'static str, Arc<dyn Targets>)>,
    /// Each target's table as written (after `${VAR}`s), by (section, name): what a
    /// reload compares.
    pub(super) tables: HashMap<(&'static str, String), toml::Value>,
    /// What `${VAR}`s expanded to: what debug output masks.
    pub secrets: Vec<String>,
}

impl Config {
    /// The targets of kind `T`, in file order (none when the file has no such section).
    pub fn targets<T: Target>(&self) -> &[T] {
        self.sections.iter().find_map(|(_, t)| t.as_any().downcast_ref::<Vec<T>>()).map_or(&[], Vec::as_slice)
    }

    /// How many targets the section `name` (`redis`, ...) has.
    pub fn count(&self, section: &str) -> usize {
        self.sections.iter().find(|(s, _)| *s == section).map_or(0, |(_, t)| t.count())
    }

    /// What a target's probe and consumers are built from: its table, `[defaults]`, and
    /// the tables of the targets it reads from. Equal fingerprints across a reload mean
    /// the running target can stay as it is.
    pub fn fingerprint<T: Target>(&self, section: &'static str, target: &T) -> String {
        let table = |section: &'static str, name: &str| {
            self.tables.get(&(section, name.to_owned())).map(toml::Value::to_string).unwrap_or_default()
        };
        let mut fingerprint = format!("{:?}\n{}", self.defaults, table(section, target.name()));
        for (section, name) in target.references() {
            fingerprint.push('\n');
            fingerprint.push_str(&table(section, name));
        }
        fingerprint
    }

    /// Every configured target as (key, name), e.g. (`redis[0]`, `cache`).
    pub fn names(&self) -> impl Iterator<Item = (String, &str)> {
        self.sections
            .iter()
            .flat_map(|(section, t)| (0..t.count()).map(move |i| (format!("{section}[{i}]"), t.name(i))))
    }
}

/// One target of a probe kind, as its config section holds it.
pub trait Target: DeserializeOwned + Clone + fmt::Debug + Send + Sync + 'static {
    /// The unique target name: the `target` (or `feed`) label and the `/probe?target=` value.
    fn name(&self) -> &str;
    /// Checks what the types cannot (addresses, combinations, references to other
    /// targets).
    fn validate(&self, config: &Config, problems: &mut TargetProblems);
    /// The targets it reads from, as (section, name): a feed's monitor or MongoDB target.
    fn references(&self) -> Vec<(&'static str, &str)> {
        Vec::new()
    }
    /// Where the target's TLS looks for trust and identity (see
    /// `TlsConfig::context`), for failure logs; None when it does not use TLS.
    fn tls_context(&self) -> Option<String> {
        None
    }
}

/// The targets of one kind, whatever their type, for the parts of loading that are the
/// same for every kind.
pub trait Targets: fmt::Debug + Send + Sync {
    fn as_any(&self) -> &dyn Any;
    /// How many targets; a section is only kept when it has some.
    fn count(&self) -> usize;
    fn name(&self, index: usize) -> &str;
    fn validate(&self, section: &str, config: &Config, problems: &mut Vec<Problem>);
}

impl<T: Target> Targets for Vec<T> {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn count(&self) -> usize {
        self.len()
    }

    fn name(&self, index: usize) -> &str {
        self[index].name()
    }

    fn validate(&self, section: &str, config: &Config, problems: &mut Vec<Problem>) {
        for (i, target) in self.iter().enumerate() {
            target.validate(config, &mut TargetProblems::new(&format!("{section}[{i}]"), problems));
        }
    }
}

/// `[web]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    /// Address to serve HTTP on. Default `0.0.0.0:10089` (the 9100-9999 range of
    /// Prometheus's default port allocations is exhausted; see the README).
    #[serde(default = "default_listen_address")]
    pub listen_address: String,
}

pub const DEFAULT_LISTEN_ADDRESS: &str = "0.0.0.0:10089";

fn default_listen_address() -> String {
    DEFAULT_LISTEN_ADDRESS.to_owned()
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig { listen_address: default_listen_address() }
    }
}

/// `[defaults]`: settings every target inherits unless it sets its own.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Probe timeout when the scrape carries no `X-Prometheus-Scrape-Timeout-Seconds`
    /// header (with the header, the header less half a second wins). Default `5s`.
    #[serde(default = "default::secs::<5>", deserialize_with = "duration::deserialize")]
    pub timeout: Duration,
    /// How often keys are rediscovered (stream patterns, Kombu bindings); between
    /// discoveries the list is cached, so scrapes stay cheap. Default `30s`.
    #[serde(default = "default::secs::<30>", deserialize_with = "duration::deserialize")]
    pub discovery_interval: Duration,
    /// Most keys one discovery may return (streams, channels, queues); more is reported
    /// by `tickwatch_discovery_truncated`. Default 10000.
    #[serde(default = "default::usize::<10_000>")]
    pub max_keys: usize,
    /// Bucket bounds, in seconds, of `celery_task_queue_wait_time` (one histogram for
    /// every Celery target, so it is set here only). A reload with other bounds starts
    /// the histogram afresh. Default 5 ms to 10 min.
    #[serde(default = "queue_wait_buckets")]
    pub celery_queue_wait_buckets: Vec<f64>,
}

fn queue_wait_buckets() -> Vec<f64> {
    vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0]
}

impl Default for Defaults {
    /// The defaults of a config without `[defaults]`: each key's own.
    fn default() -> Self {
        toml::Table::new().try_into().expect("every key of [defaults] has a default")
    }
}
