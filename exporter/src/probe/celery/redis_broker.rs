use super::CeleryTarget;
use super::QUEUE_LENGTH;
use crate::config::Config;
use crate::discovery::{Cached, Discovered};
use crate::exposition::{Samples, families};
use crate::probe::{Probe, ProbeError, ProbeFuture, ProbeResult};
use crate::redis_conn::{self, pipelined};
use redis::Value;
use redis::aio::ConnectionManager;

families! {
    UNACKED: gauge "celery_unacked_tasks", "Tasks a worker has prefetched but not acknowledged (the Redis transport's `unacked` hash).";
}

/// Kombu's separator inside binding members and priority queue names.
const SEP: &str = "\x06\x16";

/// Celery's own fanout exchanges (remote control, events): their bindings name mailbox
/// queues, not task queues.
fn is_control_exchange(exchange: &str) -> bool {
    exchange.ends_with(".pidbox") || exchange == "celeryev"
}

/// The Redis list that holds `queue`'s tasks of one priority step: the queue itself for
/// step 0, `queue\x06\x16<step>` for the others.
fn queue_key(queue: &str, step: u8) -> String {
    if step == 0 { queue.to_owned() } else { format!("{queue}{SEP}{step}") }
}

/// Queue names from the members (`routing_key\x06\x16pattern\x06\x16queue`) of
/// Kombu binding sets.
fn queues_from_bindings<'a>(members: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut queues: Vec<String> = members
        .into_iter()
        .filter_map(|m| m.splitn(3, SEP).nth(2))
        .filter(|q| !q.is_empty())
        .map(str::to_owned)
        .collect();
    queues.sort();
    queues.dedup();
    queues
}

/// Queue lengths on a Redis broker.
pub struct RedisQueues {
    name: String,
    connection: ConnectionManager,
    queues: Vec<String>,
    discover: bool,
    steps: Vec<u8>,
    max_keys: usize,
    bindings: Cached,
}

impl RedisQueues {
    pub fn new(target: &CeleryTarget, config: &Config) -> Result<RedisQueues, String> {
        Ok(RedisQueues {
            name: target.name.clone(),
            connection: redis_conn::connect(&target.broker, target.tls_config.as_ref())?,
            queues: target.queues.clone(),
            discover: target.discover,
            steps: target.priority_steps.clone(),
            max_keys: config.defaults.max_keys,
            bindings: Cached::new(config.defaults.discovery_interval),
        })
    }

    async fn discover(&self) -> Result<Discovered, ProbeError> {
        let mut con = self.connection.clone();
        let patterns = ["_kombu.binding.*".to_owned()];
        let (sets, _) = redis_conn::scan(&mut con, &patterns, Some("set"), usize::MAX).await?;
        let task_sets: Vec<&String> =
            sets.iter().filter(|s| !is_control_exchange(s.trim_start_matches("_kombu.binding."))).collect();
        let mut members: Vec<String> = Vec::new();
        let smembers = |i: usize| redis::cmd("SMEMBERS").arg(task_sets[i].as_str()).to_owned();
        pipelined(&mut con, task_sets.len(), smembers, |_, reply| {
            members.extend(redis::from_redis_value::<Vec<String>>(reply).unwrap_or_default())
        })
        .await?;
        let mut queues = queues_from_bindings(members.iter().map(String::as_str));
        let truncated = queues.len() > self.max_keys;
        queues.truncate(self.max_keys);
        Ok(Discovered { keys: queues, truncated })
    }

    async fn read(&self) -> ProbeResult {
        let mut out = Samples::new();
        let mut queues = self.queues.clone();
        if self.discover {
            let found = self.bindings.get(|| self.discover()).await?;
            found.report("celery", &self.name, "queues", &mut out);
            queues.extend(found.keys.iter().cloned());
            queues.sort();
            queues.dedup();
        }
        // Every priority list of every queue, then the unacked hash; replies are summed
        // per queue as they arrive.
        let steps = &self.steps;
        let lists = queues.len() * steps.len();
        let command = |position: usize| {
            if position < lists {
                let (queue, step) = (&queues[position / steps.len()], steps[position % steps.len()]);
                redis::cmd("LLEN").arg(queue_key(queue, step)).to_owned()
            } else {
                redis::cmd("HLEN").arg("unacked").to_owned()
            }
        };
        let mut totals = vec![0i64; queues.len()];
        let mut unacked = None;
        let mut con = self.connection.clone();
        pipelined(&mut con, lists + 1, command, |position, reply| match (position < lists, reply) {
            (true, Value::Int(n)) => totals[position / steps.len()] += n,
            (false, Value::Int(n)) => unacked = Some(n),
            _ => {}
        })
        .await?;
        for (queue, total) in queues.iter().zip(totals) {
            out.add(&QUEUE_LENGTH, &[("target", &self.name), ("queue_name", queue)], total as f64);
        }
        if let Some(n) = unacked {
            out.add(&UNACKED, &[("target", &self.name)], n as f64);
        }
        Ok(out)
    }
}

impl Probe for RedisQueues {
    fn probe(&self) -> ProbeFuture<'_> {
        Box::pin(self.read())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_sub_queues_follow_kombu_naming() {
        let keys: Vec<String> = [0, 3, 9].iter().map(|&s| queue_key("ticks", s)).collect();
        assert_eq!(keys, ["ticks", "ticks\x06\x163", "ticks\x06\x169"]);
    }

    #[test]
    fn queues_come_from_the_third_part_of_binding_members() {
        let members =
            ["ticks\x06\x16\x06\x16ticks", "celery\x06\x16\x06\x16celery", "ticks\x06\x16\x06\x16ticks", "bad"];
        assert_eq!(queues_from_bindings(members), ["celery", "ticks"]);
        assert!(is_control_exchange("reply.celery.pidbox") && is_control_exchange("celeryev"));
        assert!(!is_control_exchange("celery"));
    }
}
