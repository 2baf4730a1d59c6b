use super::resp::Pipeline;
use super::{SendFuture, Sink, check_scheme, check_tls, require};
use crate::run::source::Outgoing;
use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};
use tickwatch_common::tls::TlsConfig;

/// `kind = "celery"`: Celery tasks on a Redis broker.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CelerySinkConfig {
    /// The broker: `redis://...` or `rediss://...`.
    pub url: Option<String>,
    /// Queue to push to.
    pub queue: Option<String>,
    /// Task name.
    pub task: Option<String>,
    /// Positional arguments; `"{field}"` takes the message's field with its type
    /// (symbol, seq, price, qty, ts_ns, side, venue; chains: underlying, expiry, spot, ts_ns).
    #[serde(default)]
    pub args: Vec<toml::Value>,
    /// rediss: `{ ca_file, cert_file, key_file, insecure_skip_verify }`, as the Redis sink.
    pub tls: Option<TlsConfig>,
}

impl CelerySinkConfig {
    pub fn validate(&self, key: &str, problems: &mut Vec<String>) {
        require(problems, key, "Celery", "url", self.url.is_some());
        require(problems, key, "Celery", "queue", self.queue.is_some());
        require(problems, key, "Celery", "task", self.task.is_some());
        check_scheme(problems, key, self.url.as_deref(), &["redis", "rediss"]);
        check_tls(problems, key, self.url.as_deref(), self.tls.as_ref());
    }
}

/// Enqueues Celery tasks on a Redis broker in Kombu's message format, so a real Celery
/// worker executes them: an LPUSH per task, one pipeline per batch.
pub struct CelerySink {
    pipeline: Pipeline,
    tasks: Tasks,
}

/// What every task of a Celery sink shares, and its count (for the task ids).
struct Tasks {
    queue: String,
    task: String,
    args: Vec<toml::Value>,
    seed: u64,
    count: u64,
}

impl CelerySink {
    pub fn new(config: &CelerySinkConfig, seed: u64) -> Result<CelerySink, String> {
        Ok(CelerySink {
            pipeline: Pipeline::new(config.url.as_deref().unwrap_or_default(), config.tls.as_ref())?,
            tasks: Tasks {
                queue: config.queue.clone().unwrap_or_default(),
                task: config.task.clone().unwrap_or_default(),
                args: config.args.clone(),
                seed,
                count: 0,
            },
        })
    }
}

impl Tasks {
    /// The Kombu envelope of one task call.
    fn envelope(&mut self, message: &Outgoing) -> String {
        self.count += 1;
        let id = task_id(self.seed, self.count);
        let fields = message.fields();
        let args: Vec<Value> = self.args.iter().map(|a| fill(a, &fields)).collect();
        let body = json!([args, {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]);
        let body = base64::engine::general_purpose::STANDARD.encode(body.to_string());
        json!({
            "body": body,
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": {"lang": "py", "task": self.task, "id": id, "root_id": id, "parent_id": null, "group": null,
                        "retries": 0, "eta": null, "expires": null, "argsrepr": "", "kwargsrepr": "{}", "origin": "tickwatch-loadgen"},
            "properties": {"correlation_id": id, "reply_to": "", "delivery_mode": 2, "priority": 0,
                           "delivery_tag": id, "body_encoding": "base64",
                           "delivery_info": {"exchange": "", "routing_key": self.queue}},
        })
        .to_string()
    }
}

/// A UUID-shaped task id from the seed and a counter: unique within a run, the same in
/// every run of the same scenario and seed.
fn task_id(seed: u64, n: u64) -> String {
    let a = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ n;
    let b = n.wrapping_mul(0xbf58_476d_1ce4_e5b9) ^ seed.rotate_left(17);
    format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        b >> 52,
        b & 0xffff_ffff_ffff
    )
}

/// A template argument: `"{field}"` alone takes the field with its JSON type; placeholders
/// inside longer strings are replaced by the field's text; anything else stays as written.
fn fill(arg: &toml::Value, fields: &Value) -> Value {
    match arg {
        toml::Value::String(s) => {
            if let Some(name) = s.strip_prefix('{').and_then(|r| r.strip_suffix('}'))
                && let Some(v) = fields.get(name)
            {
                return v.clone();
            }
            let mut out = s.clone();
            if let Value::Object(map) = fields {
                for (k, v) in map {
                    let text = v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string());
                    out = out.replace(&format!("{{{k}}}"), &text);
                }
            }
            Value::String(out)
        }
        other => serde_json::to_value(other).unwrap_or(Value::Null),
    }
}

impl Sink for CelerySink {
    fn send<'a>(&'a mut self, batch: &'a [Outgoing]) -> SendFuture<'a> {
        Box::pin(async move {
            let CelerySink { pipeline, tasks } = self;
            pipeline
                .send(|commands| {
                    for m in batch {
                        let envelope = tasks.envelope(m);
                        commands.command(3).arg(b"LPUSH").arg(tasks.queue.as_bytes()).arg(envelope.as_bytes());
                    }
                })
                .await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_keep_types_and_fill_text() {
        let fields = json!({"symbol": "BTCUSDT", "seq": 7, "price": 42000.5});
        let arg = |s: &str| fill(&toml::Value::String(s.into()), &fields);
        assert_eq!(arg("{seq}"), json!(7));
        assert_eq!(arg("{price}"), json!(42000.5));
        assert_eq!(arg("tick:{symbol}:{seq}"), json!("tick:BTCUSDT:7"));
        assert_eq!(fill(&toml::Value::Integer(3), &fields), json!(3));
    }

    #[test]
    fn task_ids_are_unique_and_reproducible() {
        let ids: std::collections::HashSet<String> = (1..10_000).map(|n| task_id(7, n)).collect();
        assert_eq!(ids.len(), 9_999);
        assert_eq!(task_id(7, 1), task_id(7, 1));
        assert_eq!(task_id(7, 1).len(), 36);
    }
}
