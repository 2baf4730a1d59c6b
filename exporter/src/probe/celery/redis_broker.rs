use super::CeleryTarget;
use super::QUEUE_LENGTH;
use crate::config::Config;
use crate::discovery::{Cached, Discovered};
use crate::exposition::{Samples, families};
use crate::probe::{Probe, ProbeError, ProbeFuture, ProbeResult};
use crate::reason::Reason;
use crate::redis_conn::{self, pipelined};
use redis::Value;
use redis::aio::ConnectionManager;
use std::collections::HashMap;
use std::sync::Mutex;

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
/// step 0, `queue\x06\x16<step>` for the others, after Kombu's `global_keyprefix`.
fn queue_key(prefix: &str, queue: &str, step: u8) -> String {
    let mut key = String::new();
    write_queue_key(&mut key, prefix, queue, step);
    key
}

/// [`queue_key`] into `key` (cleared first), so one buffer serves a command's many keys.
fn write_queue_key(key: &mut String, prefix: &str, queue: &str, step: u8) {
    key.clear();
    key.push_str(prefix);
    key.push_str(queue);
    if step != 0 {
        key.push_str(SEP);
        key.push(char::from(b'0' + step));
    }
}

/// LLEN of `queue`'s list of priority `step`.
fn llen(prefix: &str, queue: &str, step: u8) -> redis::Cmd {
    redis::cmd("LLEN").arg(queue_key(prefix, queue, step)).to_owned()
}

/// What a scrape's LLEN replies add up to, per queue.
struct Counted {
    totals: Vec<i64>,
    /// The lists that held tasks (for the next scrape's plan).
    held: Vec<Steps>,
}

impl Counted {
    fn add(&mut self, queue: usize, step: u8, length: i64) {
        self.totals[queue] += length;
        if length > 0 {
            self.held[queue] |= bit(step);
        }
    }
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

/// The configured and the discovered queues, each once, sorted.
fn merge(configured: &[String], discovered: &[String]) -> Vec<String> {
    let mut queues: Vec<String> = configured.iter().chain(discovered).cloned().collect();
    queues.sort();
    queues.dedup();
    queues
}

/// Queues whose unread lists one EXISTS covers: one command for many keys costs Redis far
/// less than a command per queue; when one of them appeared, the group's unread lists are
/// read with LLEN in a second round trip.
const QUEUES_PER_EXISTS: usize = 32;

/// Priority steps as bits (bit `s` for step `s`).
type Steps = u16;

fn bit(step: u8) -> Steps {
    1 << step
}

/// One command of a scrape's first round trip.
#[derive(Clone, Copy)]
enum Read {
    /// LLEN of one priority list of queue `queue`.
    Length { queue: usize, step: u8 },
    /// EXISTS over the priority lists of queues `first..end` that held nothing at the
    /// last scrape.
    Appeared { first: usize, end: usize },
    /// HLEN of the unacked hash.
    Unacked,
}

/// Queue lengths on a Redis broker.
pub struct RedisQueues {
    name: String,
    link: redis_conn::Link,
    /// Kombu's `global_keyprefix`, before every key.
    prefix: String,
    queues: Vec<String>,
    discover: bool,
    steps: Vec<u8>,
    max_keys: usize,
    bindings: Cached,
    /// The priority lists other than step 0 that held tasks at the last scrape, of the
    /// queues that had any. Most queues never use priorities, and Redis deletes an empty
    /// list, so a scrape reads these lists (and step 0) with LLEN and covers the rest with
    /// one EXISTS per group of queues; lists that appeared since are read in a second
    /// round trip, so every count stays exact whatever this map holds (it only saves
    /// commands), and it holds nothing for a queue without priorities.
    holding: Mutex<HashMap<String, Steps>>,
}

impl RedisQueues {
    pub fn new(target: &CeleryTarget, config: &Config) -> Result<RedisQueues, String> {
        Ok(RedisQueues {
            name: target.name.clone(),
            link: redis_conn::Link::new(&target.broker, target.tls_config.as_ref(), target.master_name.as_deref())?,
            prefix: target.global_keyprefix.clone(),
            queues: target.queues.clone(),
            discover: target.discover,
            steps: target.priority_steps.clone(),
            max_keys: config.defaults.max_keys,
            bindings: Cached::new(config.defaults.discovery_interval),
            holding: Mutex::new(HashMap::new()),
        })
    }

    async fn discover(&self, mut con: ConnectionManager) -> Result<Discovered, ProbeError> {
        let bindings = format!("{}_kombu.binding.", self.prefix);
        let patterns = [format!("{}*", tickwatch_common::redis::glob_escape(&bindings))];
        let (sets, _) = redis_conn::scan(&mut con, &patterns, Some("set"), usize::MAX).await?;
        let exchange = |set: &str| set.strip_prefix(bindings.as_str()).unwrap_or(set).to_owned();
        let task_sets: Vec<&String> = sets.iter().filter(|s| !is_control_exchange(&exchange(s))).collect();
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

    /// Each queue's length (the sum of its priority lists) and the unacked hash's.
    async fn lengths(
        &self,
        mut con: ConnectionManager,
        queues: &[String],
    ) -> Result<(Vec<i64>, Option<i64>), redis::RedisError> {
        let steps: Steps = self.steps.iter().map(|&s| bit(s)).fold(0, |all, b| all | b);
        let read_first: Vec<Steps> = {
            let holding = self.holding.lock().expect("not poisoned");
            queues.iter().map(|q| steps & (bit(0) | holding.get(q).copied().unwrap_or(0))).collect()
        };
        let mut plan = Vec::with_capacity(queues.len() + queues.len() / QUEUES_PER_EXISTS + 2);
        for first in (0..queues.len()).step_by(QUEUES_PER_EXISTS) {
            let end = (first + QUEUES_PER_EXISTS).min(queues.len());
            for (queue, &read) in read_first.iter().enumerate().take(end).skip(first) {
                plan.extend(
                    self.steps.iter().filter(|&&s| read & bit(s) != 0).map(|&step| Read::Length { queue, step }),
                );
            }
            if read_first[first..end].iter().any(|&read| steps & !read != 0) {
                plan.push(Read::Appeared { first, end });
            }
        }
        plan.push(Read::Unacked);
        // The steps of `queue` under its group's EXISTS.
        let others = |queue: usize| {
            let unread = steps & !read_first[queue];
            self.steps.iter().copied().filter(move |&s| unread & bit(s) != 0)
        };
        let command = |position: usize| match plan[position] {
            Read::Length { queue, step } => llen(&self.prefix, &queues[queue], step),
            Read::Appeared { first, end } => {
                let mut exists = redis::cmd("EXISTS");
                let mut key = String::new();
                for (queue, name) in queues.iter().enumerate().take(end).skip(first) {
                    others(queue).for_each(|step| {
                        write_queue_key(&mut key, &self.prefix, name, step);
                        exists.arg(key.as_str());
                    });
                }
                exists
            }
            Read::Unacked => redis::cmd("HLEN").arg(format!("{}unacked", self.prefix)).to_owned(),
        };
        let mut counted = Counted { totals: vec![0; queues.len()], held: vec![0; queues.len()] };
        let mut appeared = Vec::new();
        let mut unacked = None;
        pipelined(&mut con, plan.len(), command, |position, reply| match (plan[position], reply) {
            (Read::Length { queue, step }, Value::Int(n)) => counted.add(queue, step, n),
            (Read::Appeared { first, end }, Value::Int(n)) if n > 0 => appeared.extend(first..end),
            (Read::Unacked, Value::Int(n)) => unacked = Some(n),
            _ => {}
        })
        .await?;
        // A list appeared since the last scrape in these queues: read their unread lists.
        let late: Vec<(usize, u8)> =
            appeared.iter().flat_map(|&queue| others(queue).map(move |step| (queue, step))).collect();
        let late_llen = |position: usize| llen(&self.prefix, &queues[late[position].0], late[position].1);
        pipelined(&mut con, late.len(), late_llen, |position, reply| {
            if let Value::Int(n) = reply {
                let (queue, step) = late[position];
                counted.add(queue, step, n);
            }
        })
        .await?;
        let priorities = queues.iter().zip(counted.held).filter(|(_, held)| held & !bit(0) != 0);
        *self.holding.lock().expect("not poisoned") = priorities.map(|(queue, held)| (queue.clone(), held)).collect();
        Ok((counted.totals, unacked))
    }

    async fn read(&self) -> ProbeResult {
        let mut out = Samples::new();
        let con = self.link.get().await.map_err(|e| ProbeError::new(Reason::Connection, e))?;
        // The configured queues or the discovered ones are read as they are; only both
        // together take a merged copy.
        let (found, merged);
        let queues: &[String] = match self.discover {
            false => &self.queues,
            true => {
                found = self.bindings.get(|| self.discover(con.clone())).await?;
                found.report("celery", &self.name, "queues", &mut out);
                if self.queues.is_empty() {
                    &found.keys
                } else {
                    merged = merge(&self.queues, &found.keys);
                    &merged
                }
            }
        };
        let (totals, unacked) = self.lengths(con, queues).await?;
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
        let keys: Vec<String> = [0, 3, 9].iter().map(|&s| queue_key("", "ticks", s)).collect();
        assert_eq!(keys, ["ticks", "ticks\x06\x163", "ticks\x06\x169"]);
        assert_eq!(queue_key("app:", "ticks", 3), "app:ticks\x06\x163", "global_keyprefix goes first");
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
