//! `INFO ALL` into redis_exporter-named families, so existing Redis dashboards and alerts
//! work unchanged.

use crate::exposition::{Family, Samples, families};
use std::collections::HashMap;

/// INFO fields read as plain numbers: field, family.
static NUMERIC: &[(&str, Family)] = &[
    ("uptime_in_seconds", Family::gauge("redis_uptime_in_seconds", "Seconds since the server started.")),
    ("connected_clients", Family::gauge("redis_connected_clients", "Client connections, not counting replicas.")),
    (
        "blocked_clients",
        Family::gauge("redis_blocked_clients", "Clients waiting in a blocking call (BLPOP, XREAD, ...)."),
    ),
    ("maxclients", Family::gauge("redis_config_maxclients", "The maxclients setting.")),
    ("used_memory", Family::gauge("redis_memory_used_bytes", "Bytes allocated by Redis.")),
    ("used_memory_rss", Family::gauge("redis_memory_used_rss_bytes", "Resident set size of the server process.")),
    ("used_memory_peak", Family::gauge("redis_memory_used_peak_bytes", "Peak of used_memory.")),
    ("maxmemory", Family::gauge("redis_memory_max_bytes", "The maxmemory setting (0: no limit).")),
    ("mem_fragmentation_ratio", Family::gauge("redis_mem_fragmentation_ratio", "RSS over used memory.")),
    ("connected_slaves", Family::gauge("redis_connected_slaves", "Connected replicas.")),
    ("master_repl_offset", Family::gauge("redis_master_repl_offset", "Replication offset this server has produced.")),
    ("slave_repl_offset", Family::gauge("redis_slave_repl_offset", "Replication offset this replica has processed.")),
    ("pubsub_channels", Family::gauge("redis_pubsub_channels", "Channels with at least one subscriber.")),
    ("pubsub_patterns", Family::gauge("redis_pubsub_patterns", "Pattern subscriptions.")),
    (
        "rdb_changes_since_last_save",
        Family::gauge("redis_rdb_changes_since_last_save", "Writes since the last RDB save."),
    ),
    ("total_commands_processed", Family::counter("redis_commands_processed_total", "Commands processed.")),
    ("total_connections_received", Family::counter("redis_connections_received_total", "Connections accepted.")),
    (
        "rejected_connections",
        Family::counter("redis_rejected_connections_total", "Connections rejected because of maxclients."),
    ),
    ("keyspace_hits", Family::counter("redis_keyspace_hits_total", "Successful key lookups.")),
    ("keyspace_misses", Family::counter("redis_keyspace_misses_total", "Failed key lookups.")),
    ("evicted_keys", Family::counter("redis_evicted_keys_total", "Keys evicted because of maxmemory.")),
    ("expired_keys", Family::counter("redis_expired_keys_total", "Keys expired.")),
    ("total_net_input_bytes", Family::counter("redis_net_input_bytes_total", "Bytes read from the network.")),
    ("total_net_output_bytes", Family::counter("redis_net_output_bytes_total", "Bytes written to the network.")),
    ("used_cpu_sys", Family::counter("redis_cpu_sys_seconds_total", "System CPU consumed by the server.")),
    ("used_cpu_user", Family::counter("redis_cpu_user_seconds_total", "User CPU consumed by the server.")),
    (
        "client_recent_max_output_buffer",
        Family::gauge(
            "redis_client_recent_max_output_buffer_bytes",
            "Largest output buffer of any client in the last few seconds (a slow pub/sub subscriber shows here first).",
        ),
    ),
    (
        "client_recent_max_input_buffer",
        Family::gauge(
            "redis_client_recent_max_input_buffer_bytes",
            "Largest input buffer of any client in the last few seconds.",
        ),
    ),
    (
        "client_output_buffer_limit_disconnections",
        Family::counter(
            "redis_client_output_buffer_limit_disconnections_total",
            "Clients disconnected for exceeding client-output-buffer-limit, slow pub/sub subscribers among them (Redis 7.4 and later).",
        ),
    ),
    (
        "client_query_buffer_limit_disconnections",
        Family::counter(
            "redis_client_query_buffer_limit_disconnections_total",
            "Clients disconnected for exceeding the query buffer limit (Redis 7.4 and later).",
        ),
    ),
    (
        "master_last_io_seconds_ago",
        Family::gauge("redis_master_last_io_seconds_ago", "On a replica: seconds since it last heard from its master."),
    ),
    (
        "master_sync_in_progress",
        Family::gauge("redis_master_sync_in_progress", "On a replica: whether a full sync from the master is running."),
    ),
    (
        "master_link_down_since_seconds",
        Family::gauge(
            "redis_master_link_down_since_seconds",
            "On a replica whose link is down: seconds since it went down.",
        ),
    ),
    ("rdb_bgsave_in_progress", Family::gauge("redis_rdb_bgsave_in_progress", "Whether an RDB save is running.")),
    (
        "rdb_last_save_time",
        Family::gauge("redis_rdb_last_save_timestamp_seconds", "Unix time of the last successful RDB save."),
    ),
    (
        "rdb_last_bgsave_status",
        Family::gauge("redis_rdb_last_bgsave_status", "Whether the last RDB save succeeded (1) or failed (0)."),
    ),
    (
        "rdb_last_bgsave_time_sec",
        Family::gauge(
            "redis_rdb_last_bgsave_duration_seconds",
            "Seconds the last RDB save took (-1: none yet; redis_exporter: redis_rdb_last_bgsave_duration_sec, a recording rule).",
        ),
    ),
    ("aof_enabled", Family::gauge("redis_aof_enabled", "Whether the append-only file is on.")),
    ("aof_rewrite_in_progress", Family::gauge("redis_aof_rewrite_in_progress", "Whether an AOF rewrite is running.")),
    (
        "aof_last_bgrewrite_status",
        Family::gauge("redis_aof_last_bgrewrite_status", "Whether the last AOF rewrite succeeded (1) or failed (0)."),
    ),
    (
        "aof_last_write_status",
        Family::gauge("redis_aof_last_write_status", "Whether the last AOF write succeeded (1) or failed (0)."),
    ),
    ("sentinel_masters", Family::gauge("redis_sentinel_masters", "On a Sentinel: masters it monitors.")),
    (
        "sentinel_tilt",
        Family::gauge("redis_sentinel_tilt", "On a Sentinel: whether it is in TILT mode (it stopped acting)."),
    ),
    (
        "sentinel_running_scripts",
        Family::gauge("redis_sentinel_running_scripts", "On a Sentinel: scripts running now."),
    ),
    (
        "sentinel_scripts_queue_length",
        Family::gauge("redis_sentinel_scripts_queue_length", "On a Sentinel: scripts waiting to run."),
    ),
];

families! {
    INSTANCE_INFO: gauge "redis_instance_info", "Always 1; the labels say which Redis this is (role, version, mode).";
    MASTER_LINK_UP: gauge "redis_master_link_up", "On a replica: whether the link to its master is up.";
    DB_KEYS: gauge "redis_db_keys", "Keys in the database.";
    DB_KEYS_EXPIRING: gauge "redis_db_keys_expiring", "Keys with an expiry in the database.";
    ERRORS: counter "redis_errors_total", "Error replies by error prefix (ERR, WRONGTYPE, ...).";
    COMMANDS: counter "redis_commands_total", "Calls of the command.";
    COMMANDS_DURATION: counter "redis_commands_duration_seconds_total", "Seconds the server spent executing the command.";
    COMMANDS_REJECTED: counter "redis_commands_rejected_calls_total", "Calls refused before execution (bad arguments, ACL, OOM, ...).";
    COMMANDS_FAILED: counter "redis_commands_failed_calls_total", "Calls that failed during execution.";
    LATENCY_PERCENTILES: summary "redis_latency_percentiles_usec", "The server's own latency percentiles of the command, in microseconds (INFO latencystats).";
    SLAVE_LAG: gauge "redis_connected_slave_lag_seconds", "On a master: seconds since the replica last acknowledged.";
    SLAVE_OFFSET: gauge "redis_connected_slave_offset_bytes", "On a master: replication offset the replica acknowledged.";
    SENTINEL_MASTER_STATUS: gauge "redis_sentinel_master_status", "On a Sentinel: whether the master is ok (1) or down (0); master_status says which.";
    SENTINEL_MASTER_SLAVES: gauge "redis_sentinel_master_slaves", "On a Sentinel: replicas it knows of the master.";
    SENTINEL_MASTER_SENTINELS: gauge "redis_sentinel_master_sentinels", "On a Sentinel: Sentinels monitoring the master, itself included.";
}

/// What later reads of the same scrape need from `INFO ALL`.
#[derive(Debug, Default)]
pub struct Info<'a> {
    /// `# Commandstats`: calls and microseconds by command, the `_count` and `_sum` of
    /// the latency families.
    pub commands: HashMap<&'a str, Calls>,
    /// `redis_version`'s major number (0 if absent): commands newer servers have are sent
    /// only to them, so older ones do not count an error reply every scrape.
    pub major_version: u32,
    /// `redis_mode:sentinel`: a Sentinel has no keyspace, slowlog or latency histograms.
    pub sentinel: bool,
    /// On a Sentinel: the masters it monitors, name and address.
    pub sentinel_masters: Vec<(&'a str, &'a str)>,
}

/// One command's totals since the server started (or CONFIG RESETSTAT).
#[derive(Debug, Clone, Copy, Default)]
pub struct Calls {
    pub calls: f64,
    pub usec: f64,
}

/// Adds the families of one `INFO ALL` reply for `target`, whose URL selects database
/// `db` (reported with 0 keys when INFO omits it because it is empty), and returns what
/// the probe's other reads need from it.
pub fn parse<'a>(info: &'a str, target: &str, db: i64, out: &mut Samples) -> Info<'a> {
    let t = ("target", target);
    let (mut role, mut version, mut mode) = ("", "", "");
    let mut saw_own_db = false;
    let own_db = format!("db{db}");
    let mut parsed = Info::default();
    let mut percentiles = Vec::new();
    for line in info.lines() {
        let Some((field, value)) = line.split_once(':') else { continue };
        match field {
            "role" => role = value,
            "redis_version" => version = value,
            "redis_mode" => mode = value,
            "master_link_status" => out.add(&MASTER_LINK_UP, &[t], if value == "up" { 1.0 } else { 0.0 }),
            _ if numbered(field, "db") => {
                saw_own_db |= field == own_db;
                let keys = number_in(value, "keys");
                let expires = number_in(value, "expires");
                out.add(&DB_KEYS, &[t, ("db", field)], keys.unwrap_or(0.0));
                out.add(&DB_KEYS_EXPIRING, &[t, ("db", field)], expires.unwrap_or(0.0));
            }
            _ if field.starts_with("errorstat_") => {
                if let Some(count) = number_in(value, "count") {
                    out.add(&ERRORS, &[t, ("err", &field["errorstat_".len()..])], count);
                }
            }
            _ if field.starts_with("cmdstat_") => {
                let cmd = &field["cmdstat_".len()..];
                let labels = [t, ("cmd", cmd)];
                let calls = Calls {
                    calls: number_in(value, "calls").unwrap_or(0.0),
                    usec: number_in(value, "usec").unwrap_or(0.0),
                };
                out.add(&COMMANDS, &labels, calls.calls);
                out.add(&COMMANDS_DURATION, &labels, calls.usec / 1e6);
                out.add(&COMMANDS_REJECTED, &labels, number_in(value, "rejected_calls").unwrap_or(0.0));
                out.add(&COMMANDS_FAILED, &labels, number_in(value, "failed_calls").unwrap_or(0.0));
                parsed.commands.insert(cmd, calls);
            }
            _ if field.starts_with("latency_percentiles_usec_") => {
                percentiles.push((&field["latency_percentiles_usec_".len()..], value));
            }
            _ if numbered(field, "slave") => {
                let (Some(ip), Some(port), Some(state)) =
                    (text_in(value, "ip"), text_in(value, "port"), text_in(value, "state"))
                else {
                    continue;
                };
                let labels = [t, ("slave_ip", ip), ("slave_port", port), ("slave_state", state)];
                if let Some(lag) = number_in(value, "lag") {
                    out.add(&SLAVE_LAG, &labels, lag);
                }
                if let Some(offset) = number_in(value, "offset") {
                    out.add(&SLAVE_OFFSET, &labels, offset);
                }
            }
            _ if numbered(field, "master") => {
                let (Some(name), Some(address), Some(status)) =
                    (text_in(value, "name"), text_in(value, "address"), text_in(value, "status"))
                else {
                    continue;
                };
                let labels = [t, ("master_name", name), ("master_address", address)];
                let ok = if status == "ok" { 1.0 } else { 0.0 };
                out.add(&SENTINEL_MASTER_STATUS, &[labels[0], labels[1], labels[2], ("master_status", status)], ok);
                out.add(&SENTINEL_MASTER_SLAVES, &labels, number_in(value, "slaves").unwrap_or(0.0));
                out.add(&SENTINEL_MASTER_SENTINELS, &labels, number_in(value, "sentinels").unwrap_or(0.0));
                parsed.sentinel_masters.push((name, address));
            }
            _ => {
                if let Some((_, family)) = NUMERIC.iter().find(|(name, _)| *name == field)
                    && let Some(v) = number(value)
                {
                    out.add(family, &[t], v);
                }
            }
        }
    }
    parsed.major_version = version.split('.').next().and_then(|v| v.parse().ok()).unwrap_or(0);
    parsed.sentinel = mode == "sentinel";
    if !saw_own_db && !parsed.sentinel {
        out.add(&DB_KEYS, &[t, ("db", &own_db)], 0.0);
        out.add(&DB_KEYS_EXPIRING, &[t, ("db", &own_db)], 0.0);
    }
    for (cmd, value) in percentiles {
        let labels = [t, ("cmd", cmd)];
        for (name, usec) in value.split(',').filter_map(|kv| kv.split_once('=')) {
            let (Some(percent), Ok(usec)) = (name.strip_prefix('p').and_then(|p| p.parse::<f64>().ok()), usec.parse())
            else {
                continue;
            };
            // Rounded so p99.9 reads 0.999, not 0.9990000000000001.
            let quantile = ((percent / 100.0 * 1e6).round() / 1e6).to_string();
            out.add_part(&LATENCY_PERCENTILES, "", &[labels[0], labels[1], ("quantile", &quantile)], usec);
        }
        let calls = parsed.commands.get(cmd).copied().unwrap_or_default();
        out.add_part(&LATENCY_PERCENTILES, "_sum", &labels, calls.usec);
        out.add_part(&LATENCY_PERCENTILES, "_count", &labels, calls.calls);
    }
    out.add(&INSTANCE_INFO, &[t, ("role", role), ("redis_version", version), ("redis_mode", mode)], 1.0);
    parsed
}

/// Whether `field` is `prefix` followed by digits only (`db0`, `slave1`, `master0`).
fn numbered(field: &str, prefix: &str) -> bool {
    field.strip_prefix(prefix).is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// A plain INFO value as a number; `ok` and `err` (persistence status fields) as 1 and 0.
fn number(value: &str) -> Option<f64> {
    match value.trim() {
        "ok" => Some(1.0),
        "err" => Some(0.0),
        v => v.parse().ok(),
    }
}

/// `keys=12,expires=0,avg_ttl=0` → the text after `name=`.
fn text_in<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    value.split(',').find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
}

/// `keys=12,expires=0,avg_ttl=0` → the number after `name=`.
fn number_in(value: &str, name: &str) -> Option<f64> {
    text_in(value, name)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = "# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\nuptime_in_seconds:42\r\n\r\n# Clients\r\nconnected_clients:3\r\nclient_recent_max_output_buffer:20504\r\n# Memory\r\nused_memory:1048576\r\nmaxmemory:0\r\n# Persistence\r\nrdb_last_bgsave_status:err\r\naof_last_write_status:ok\r\n# Stats\r\nkeyspace_hits:10\r\nkeyspace_misses:4\r\nevicted_keys:0\r\n# Replication\r\nrole:master\r\nslave0:ip=127.0.0.1,port=6380,state=online,offset=560,lag=1\r\nslave_repl_offset:0\r\nmaster_repl_offset:560\r\n# Commandstats\r\ncmdstat_config|get:calls=2,usec=30,usec_per_call=15.00,rejected_calls=0,failed_calls=0\r\ncmdstat_xadd:calls=4,usec=2000000,usec_per_call=500000.00,rejected_calls=1,failed_calls=3\r\n# Errorstats\r\nerrorstat_ERR:count=2\r\n# Latencystats\r\nlatency_percentiles_usec_xadd:p50=1.003,p99=20.479,p99.9=20.479\r\n# Keyspace\r\ndb3:keys=12,expires=1,avg_ttl=0\r\n";

    #[test]
    fn reads_redis_exporter_families() {
        let mut out = Samples::new();
        parse(INFO, "cache", 0, &mut out);
        let t = [("target", "cache")];
        assert_eq!(out.value("redis_uptime_in_seconds", &t), Some(42.0));
        assert_eq!(out.value("redis_connected_clients", &t), Some(3.0));
        assert_eq!(out.value("redis_memory_used_bytes", &t), Some(1_048_576.0));
        assert_eq!(out.value("redis_keyspace_hits_total", &t), Some(10.0));
        assert_eq!(out.value("redis_keyspace_misses_total", &t), Some(4.0));
        assert_eq!(out.value("redis_errors_total", &[("err", "ERR")]), Some(2.0));
        assert_eq!(out.value("redis_db_keys", &[("db", "db3")]), Some(12.0));
        assert_eq!(out.value("redis_db_keys_expiring", &[("db", "db3")]), Some(1.0));
        assert_eq!(out.value("redis_db_keys", &[("db", "db0")]), Some(0.0), "the target's own empty db is 0");
        assert_eq!(out.value("redis_instance_info", &[("role", "master"), ("redis_version", "7.0.15")]), Some(1.0));
        assert_eq!(out.value("redis_client_recent_max_output_buffer_bytes", &t), Some(20504.0));
        assert_eq!(out.value("redis_rdb_last_bgsave_status", &t), Some(0.0), "err is 0");
        assert_eq!(out.value("redis_aof_last_write_status", &t), Some(1.0), "ok is 1");
        let replica = [("slave_ip", "127.0.0.1"), ("slave_port", "6380"), ("slave_state", "online")];
        assert_eq!(out.value("redis_connected_slave_lag_seconds", &replica), Some(1.0));
        assert_eq!(out.value("redis_connected_slave_offset_bytes", &replica), Some(560.0));
    }

    #[test]
    fn reads_commandstats_and_latency_percentiles() {
        let mut out = Samples::new();
        let info = parse(INFO, "cache", 0, &mut out);
        let xadd = [("cmd", "xadd")];
        assert_eq!(out.value("redis_commands_total", &xadd), Some(4.0));
        assert_eq!(out.value("redis_commands_duration_seconds_total", &xadd), Some(2.0), "usec in seconds");
        assert_eq!(out.value("redis_commands_rejected_calls_total", &xadd), Some(1.0));
        assert_eq!(out.value("redis_commands_failed_calls_total", &xadd), Some(3.0));
        assert_eq!(
            out.value("redis_commands_total", &[("cmd", "config|get")]),
            Some(2.0),
            "subcommands as Redis names them"
        );
        assert_eq!(
            out.value("redis_latency_percentiles_usec", &[("cmd", "xadd"), ("quantile", "0.999")]),
            Some(20.479)
        );
        assert_eq!(out.value("redis_latency_percentiles_usec", &[("cmd", "xadd"), ("quantile", "0.5")]), Some(1.003));
        assert_eq!(info.commands["xadd"].usec, 2_000_000.0);
        let text = crate::exposition::encode(out, &[]).to_string();
        assert!(text.contains("# TYPE redis_latency_percentiles_usec summary\n"), "{text}");
        assert!(text.contains("redis_latency_percentiles_usec_sum{target=\"cache\",cmd=\"xadd\"} 2000000\n"), "{text}");
        assert!(text.contains("redis_latency_percentiles_usec_count{target=\"cache\",cmd=\"xadd\"} 4\n"), "{text}");
    }

    #[test]
    fn reads_a_sentinels_masters() {
        let info = "# Server\r\nredis_mode:sentinel\r\n# Sentinel\r\nsentinel_masters:1\r\nsentinel_tilt:0\r\nmaster0:name=ticks,status=odown,address=127.0.0.1:6379,slaves=2,sentinels=3\r\n";
        let mut out = Samples::new();
        let parsed = parse(info, "sentinel", 0, &mut out);
        let master = [("master_name", "ticks"), ("master_address", "127.0.0.1:6379")];
        assert_eq!(out.value("redis_sentinel_masters", &[]), Some(1.0));
        assert_eq!(out.value("redis_sentinel_master_status", &[("master_status", "odown")]), Some(0.0));
        assert_eq!(out.value("redis_sentinel_master_slaves", &master), Some(2.0));
        assert_eq!(out.value("redis_sentinel_master_sentinels", &master), Some(3.0));
        assert_eq!(parsed.sentinel_masters, vec![("ticks", "127.0.0.1:6379")]);
        assert_eq!(out.value("redis_db_keys", &[]), None, "a Sentinel has no keyspace");
    }
}
