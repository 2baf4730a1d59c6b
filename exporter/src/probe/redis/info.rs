//! `INFO ALL` into redis_exporter-named families, so existing Redis dashboards and alerts
//! work unchanged.

use crate::exposition::{Family, Samples, families};

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
];

families! {
    INSTANCE_INFO: gauge "redis_instance_info", "Always 1; the labels say which Redis this is (role, version, mode).";
    MASTER_LINK_UP: gauge "redis_master_link_up", "On a replica: whether the link to its master is up.";
    DB_KEYS: gauge "redis_db_keys", "Keys in the database.";
    DB_KEYS_EXPIRING: gauge "redis_db_keys_expiring", "Keys with an expiry in the database.";
    ERRORS: counter "redis_errors_total", "Error replies by error prefix (ERR, WRONGTYPE, ...).";
}

/// Adds the families of one `INFO ALL` reply for `target`, whose URL selects database
/// `db` (reported with 0 keys when INFO omits it because it is empty).
pub fn parse(info: &str, target: &str, db: i64, out: &mut Samples) {
    let t = ("target", target);
    let (mut role, mut version, mut mode) = ("", "", "");
    let mut saw_own_db = false;
    let own_db = format!("db{db}");
    for line in info.lines() {
        let Some((field, value)) = line.split_once(':') else { continue };
        match field {
            "role" => role = value,
            "redis_version" => version = value,
            "redis_mode" => mode = value,
            "master_link_status" => out.add(&MASTER_LINK_UP, &[t], if value == "up" { 1.0 } else { 0.0 }),
            _ if field.starts_with("db") && field[2..].bytes().all(|b| b.is_ascii_digit()) => {
                saw_own_db |= field == own_db;
                let keys = keyspace_field(value, "keys");
                let expires = keyspace_field(value, "expires");
                out.add(&DB_KEYS, &[t, ("db", field)], keys.unwrap_or(0.0));
                out.add(&DB_KEYS_EXPIRING, &[t, ("db", field)], expires.unwrap_or(0.0));
            }
            _ if field.starts_with("errorstat_") => {
                if let Some(count) = keyspace_field(value, "count") {
                    out.add(&ERRORS, &[t, ("err", &field["errorstat_".len()..])], count);
                }
            }
            _ => {
                if let Some((_, family)) = NUMERIC.iter().find(|(name, _)| *name == field)
                    && let Ok(v) = value.trim().parse::<f64>()
                {
                    out.add(family, &[t], v);
                }
            }
        }
    }
    if !saw_own_db {
        out.add(&DB_KEYS, &[t, ("db", &own_db)], 0.0);
        out.add(&DB_KEYS_EXPIRING, &[t, ("db", &own_db)], 0.0);
    }
    out.add(&INSTANCE_INFO, &[t, ("role", role), ("redis_version", version), ("redis_mode", mode)], 1.0);
}

/// `keys=12,expires=0,avg_ttl=0` → the number after `name=`.
fn keyspace_field(value: &str, name: &str) -> Option<f64> {
    value.split(',').find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = "# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\nuptime_in_seconds:42\r\n\r\n# Clients\r\nconnected_clients:3\r\n# Memory\r\nused_memory:1048576\r\nmaxmemory:0\r\n# Stats\r\nkeyspace_hits:10\r\nkeyspace_misses:4\r\nevicted_keys:0\r\n# Replication\r\nrole:master\r\nmaster_repl_offset:0\r\n# Errorstats\r\nerrorstat_ERR:count=2\r\n# Keyspace\r\ndb3:keys=12,expires=1,avg_ttl=0\r\n";

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
    }
}
