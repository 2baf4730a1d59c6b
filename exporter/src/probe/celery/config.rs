//! `[[celery]]`: the Celery probe's brokers.

use crate::config::{Config, Target, TargetProblems, check_redis, check_tls, check_url, tls_context};
use serde::Deserialize;
use std::time::Duration;
use tickwatch_common::tls::TlsConfig;
use tickwatch_common::{default, duration};

/// `[[celery]]`: one Celery broker.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CeleryTarget {
    /// Unique target name.
    pub name: String,
    /// `redis://...`, `rediss://...` (TLS), `amqp://...` or `amqps://...` (RabbitMQ), or
    /// Kombu's `sentinel://[:password@]host:port[/db];sentinel://host:port...` (with
    /// `master_name`; the password and database are the master's).
    pub broker: String,
    /// For `sentinel://` brokers: the master's name (Kombu's `master_name` transport
    /// option). The Sentinels are asked for it at every scrape, so a failover is followed.
    pub master_name: Option<String>,
    /// TLS for `rediss://` and `amqps://`: `{ ca_file, cert_file, key_file,
    /// insecure_skip_verify }` (Prometheus's names; `server_name` is not supported, and
    /// AMQP takes no `insecure_skip_verify`). Without it the public web roots are trusted.
    pub tls_config: Option<TlsConfig>,
    /// Queues to report.
    #[serde(default)]
    pub queues: Vec<String>,
    /// Also find queues from Kombu's bindings (Redis brokers only).
    #[serde(default)]
    pub discover: bool,
    /// Consume the Celery event stream for task counters, runtimes, queue waits and
    /// worker liveness (workers must run with `-E`; queue names and waits need producers
    /// with `task_send_sent_event`).
    #[serde(default)]
    pub events: bool,
    /// Kombu's `global_keyprefix` broker transport option, when the app sets one: it
    /// prefixes every key and channel of a Redis broker. Default none.
    #[serde(default)]
    pub global_keyprefix: String,
    /// Kombu priority steps whose sub-queues count toward a queue's length. Default
    /// every step 0-9, which is right whatever the app configured; Kombu's own default
    /// is `[0, 3, 6, 9]` and narrowing to it saves round trips.
    #[serde(default = "all_priority_steps")]
    pub priority_steps: Vec<u8>,
    /// Most distinct task names tracked; later names are counted as `other`. Default 500.
    #[serde(default = "default::usize::<500>")]
    pub max_task_names: usize,
    /// Most workers tracked. Default 500.
    #[serde(default = "default::usize::<500>")]
    pub max_workers: usize,
    /// A worker with no heartbeat for this long is down (`celery_worker_up 0`).
    /// Default `10s` (workers beat every 2 s).
    #[serde(default = "default::secs::<10>", deserialize_with = "duration::deserialize")]
    pub worker_timeout: Duration,
    /// A worker down for this long is forgotten: its series go away. Default `10m`.
    #[serde(default = "default::secs::<600>", deserialize_with = "duration::deserialize")]
    pub worker_forget_after: Duration,
}

fn all_priority_steps() -> Vec<u8> {
    (0..=9).collect()
}

impl Target for CeleryTarget {
    fn name(&self) -> &str {
        &self.name
    }

    fn tls_context(&self) -> Option<String> {
        tls_context(&self.broker, self.tls_config.as_ref(), &["rediss", "amqps"])
    }

    fn validate(&self, _config: &Config, problems: &mut TargetProblems) {
        let sentinel = self.broker.starts_with("sentinel:");
        if sentinel {
            if let Err(why) = tickwatch_common::redis::sentinel_urls(&self.broker) {
                problems.at("broker", why);
            }
            if self.master_name.is_none() {
                problems.at("master_name", "a sentinel:// broker needs the master's name (Kombu's master_name)");
            }
            if self.tls_config.is_some() {
                problems.at("tls_config", "not supported with sentinel:// brokers");
            }
        } else {
            match check_url(&self.broker, &["redis", "rediss", "amqp", "amqps"]) {
                Err(why) => problems.at("broker", why),
                Ok(scheme) if scheme.starts_with("amqp") => self.validate_amqp(scheme == "amqps", problems),
                Ok(_) => check_redis(&self.broker, "broker", self.tls_config.as_ref(), problems),
            }
            if self.master_name.is_some() {
                problems.at(
                    "master_name",
                    "is only for sentinel:// brokers; remove it, or write the broker as sentinel://host:port",
                );
            }
        }
        if self.queues.is_empty() && !self.discover {
            problems.at("queues", "list the queues to watch, or set discover = true");
        }
        if let Some(step) = self.priority_steps.iter().find(|&&s| s > 9) {
            problems.at("priority_steps", format!("{step} is not a Kombu priority step (0-9)"));
        }
        if self.max_task_names == 0 || self.max_workers == 0 {
            problems.whole("max_task_names and max_workers must be at least 1");
        }
    }
}

impl CeleryTarget {
    /// What a RabbitMQ broker cannot do.
    fn validate_amqp(&self, amqps: bool, problems: &mut TargetProblems) {
        let tls = self.tls_config.clone().unwrap_or_default();
        check_tls(&tls, amqps, "amqps://", problems);
        if let Err(why) = tls.refuse_server_name("AMQP brokers") {
            problems.at("tls_config.server_name", why);
        }
        if tls.insecure_skip_verify {
            problems.at(
                "tls_config.insecure_skip_verify",
                "not supported for AMQP brokers: trust the broker's CA with ca_file instead",
            );
        }
        if self.discover {
            problems.at("discover", "queue discovery needs a Redis broker; list the queues instead");
        }
        if !self.global_keyprefix.is_empty() {
            problems.at("global_keyprefix", "a Kombu option of Redis brokers; RabbitMQ has no key prefix");
        }
    }
}
