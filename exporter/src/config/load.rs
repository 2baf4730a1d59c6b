use super::env::interpolate;
use super::model::{
    CeleryTarget, Config, Defaults, FeedFormat, FeedKind, FeedSource, FeedTarget, MongoTarget, RedisTarget, WebConfig,
    WebSocketMode, WebSocketTarget,
};
use super::{ConfigError, Problem, redact_url};
use serde::de::DeserializeOwned;
use std::collections::HashSet;
use std::path::Path;

/// Reads and checks `path`, taking `${VAR}`s from the process environment.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: file.clone(),
        problems: vec![Problem { key: String::new(), why: format!("cannot read the file: {e}") }],
    })?;
    parse(&text, &file, &|name| std::env::var(name).ok())
}

/// Parses and checks config `text` (named `file` in messages), with `lookup` for `${VAR}`.
pub fn parse(text: &str, file: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
    let fail = |problems: Vec<Problem>| ConfigError { file: file.to_owned(), problems };
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        fail(vec![Problem { key: String::new(), why: format!("not valid TOML: {e}") }])
    })?;
    let mut root = toml::Value::Table(table);
    let mut problems = Vec::new();
    interpolate(&mut root, "", lookup, &mut problems);
    let toml::Value::Table(mut table) = root else { unreachable!("the root stays a table") };

    let web: Option<WebConfig> = section(&mut table, "web", &mut problems);
    let defaults: Option<Defaults> = section(&mut table, "defaults", &mut problems);
    let redis: Vec<RedisTarget> = list(&mut table, "redis", &mut problems);
    let celery: Vec<CeleryTarget> = list(&mut table, "celery", &mut problems);
    let mongodb: Vec<MongoTarget> = list(&mut table, "mongodb", &mut problems);
    let websocket: Vec<WebSocketTarget> = list(&mut table, "websocket", &mut problems);
    let feed: Vec<FeedTarget> = list(&mut table, "feed", &mut problems);
    for key in table.keys() {
        problems.push(Problem {
            key: key.clone(),
            why: "unknown key; the file has [web], [defaults], [[redis]], [[celery]], [[mongodb]], [[websocket]] and [[feed]]"
                .to_owned(),
        });
    }
    let config = Config {
        web: web.unwrap_or_default(),
        defaults: defaults.unwrap_or_default(),
        redis,
        celery,
        mongodb,
        websocket,
        feed,
    };
    check(&config, &mut problems);
    check_mongodb_and_websocket(&config, &mut problems);
    check_feeds(&config, &mut problems);
    if problems.is_empty() { Ok(config) } else { Err(fail(problems)) }
}

/// Takes the table `key` out of `root` and reads it as `T` (defaults when absent).
fn section<T: DeserializeOwned>(root: &mut toml::Table, key: &str, problems: &mut Vec<Problem>) -> Option<T> {
    let value = root.remove(key)?;
    read(value, key, problems)
}

/// Takes the array of tables `key` out of `root` and reads each element on its own, so
/// a mistake in one target does not hide the mistakes in the others.
fn list<T: DeserializeOwned>(root: &mut toml::Table, key: &str, problems: &mut Vec<Problem>) -> Vec<T> {
    match root.remove(key) {
        None => Vec::new(),
        Some(toml::Value::Array(items)) => {
            items.into_iter().enumerate().filter_map(|(i, item)| read(item, &format!("{key}[{i}]"), problems)).collect()
        }
        Some(_) => {
            problems.push(Problem { key: key.to_owned(), why: format!("must be a list of tables: write [[{key}]]") });
            Vec::new()
        }
    }
}

fn read<T: DeserializeOwned>(value: toml::Value, key: &str, problems: &mut Vec<Problem>) -> Option<T> {
    serde_path_to_error::deserialize(value)
        .map_err(|e| {
            let path = e.path().to_string();
            let message = e.into_inner().to_string();
            let inner = if path == "." { field_named_in(&message) } else { Some(path) };
            let key = match inner {
                Some(inner) => format!("{key}.{inner}"),
                None => key.to_owned(),
            };
            problems.push(Problem { key, why: message.trim().to_owned() });
        })
        .ok()
}

/// serde names a missing or unknown field only in its message.
fn field_named_in(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `").or_else(|| message.strip_prefix("unknown field `"))?;
    Some(rest.split('`').next()?.to_owned())
}

/// Checks what the types cannot: addresses, URLs, unique names, combinations.
fn check(config: &Config, problems: &mut Vec<Problem>) {
    let mut problem = |key: String, why: String| problems.push(Problem { key, why });
    if config.web.listen_address.parse::<std::net::SocketAddr>().is_err() {
        problem(
            "web.listen_address".into(),
            format!("`{}` is not HOST:PORT with a numeric host, e.g. 0.0.0.0:10089", config.web.listen_address),
        );
    }
    if config.defaults.timeout.is_zero() {
        problem("defaults.timeout".into(), "must be more than zero".into());
    }
    if config.defaults.max_keys == 0 {
        problem("defaults.max_keys".into(), "must be at least 1".into());
    }

    let mut names = HashSet::new();
    let named = config
        .redis
        .iter()
        .enumerate()
        .map(|(i, t)| (format!("redis[{i}]"), &t.name))
        .chain(config.celery.iter().enumerate().map(|(i, t)| (format!("celery[{i}]"), &t.name)))
        .chain(config.mongodb.iter().enumerate().map(|(i, t)| (format!("mongodb[{i}]"), &t.name)))
        .chain(config.websocket.iter().enumerate().map(|(i, t)| (format!("websocket[{i}]"), &t.name)))
        .chain(config.feed.iter().enumerate().map(|(i, t)| (format!("feed[{i}]"), &t.name)));
    for (key, name) in named {
        if name.trim().is_empty() || name.chars().any(char::is_whitespace) {
            problem(format!("{key}.name"), format!("`{name}` must be non-empty without spaces"));
        } else if !names.insert(name.clone()) {
            problem(format!("{key}.name"), format!("`{name}` is used by another target; names must be unique"));
        }
    }

    for (i, t) in config.redis.iter().enumerate() {
        if let Err(why) = check_url(&t.url, &["redis", "rediss"]) {
            problem(format!("redis[{i}].url"), why);
        }
    }
    for (i, t) in config.celery.iter().enumerate() {
        let key = format!("celery[{i}]");
        match check_url(&t.broker, &["redis", "rediss", "amqp", "amqps"]) {
            Err(why) => problem(format!("{key}.broker"), why),
            Ok(scheme) if scheme.starts_with("amqp") => {
                if t.discover {
                    problem(
                        format!("{key}.discover"),
                        "queue discovery needs a Redis broker; list the queues instead".into(),
                    );
                }
                if t.events {
                    problem(format!("{key}.events"), "the event consumer needs a Redis broker".into());
                }
            }
            Ok(_) => {}
        }
        if t.queues.is_empty() && !t.discover {
            problem(format!("{key}.queues"), "list the queues to watch, or set discover = true".into());
        }
        if let Some(step) = t.priority_steps.iter().find(|&&s| s > 9) {
            problem(format!("{key}.priority_steps"), format!("{step} is not a Kombu priority step (0-9)"));
        }
        if t.max_task_names == 0 || t.max_workers == 0 {
            problem(key.clone(), "max_task_names and max_workers must be at least 1".into());
        }
    }
}

/// Checks of `[[mongodb]]` and `[[websocket]]` targets.
fn check_mongodb_and_websocket(config: &Config, problems: &mut Vec<Problem>) {
    let mut problem = |key: String, why: String| problems.push(Problem { key, why });
    for (i, t) in config.mongodb.iter().enumerate() {
        match check_url(&t.uri, &["mongodb", "mongodb+srv"]) {
            Err(why) => problem(format!("mongodb[{i}].uri"), why),
            Ok(scheme) if scheme == "mongodb+srv" => problem(
                format!("mongodb[{i}].uri"),
                "mongodb+srv:// needs DNS SRV lookups, which this build leaves out; list the hosts with mongodb://"
                    .into(),
            ),
            Ok(_) => {}
        }
    }
    for (i, t) in config.websocket.iter().enumerate() {
        let key = format!("websocket[{i}]");
        if let Err(why) = check_url(&t.url, &["ws", "wss"]) {
            problem(format!("{key}.url"), why);
        }
        if let Some(pointer) = &t.timestamp_pointer
            && !pointer.starts_with('/')
        {
            problem(
                format!("{key}.timestamp_pointer"),
                format!("`{pointer}` is not a JSON pointer; write e.g. \"/ts\""),
            );
        }
        if t.max_message_bytes < 64 {
            problem(format!("{key}.max_message_bytes"), "must be at least 64".into());
        }
        if let Some(ca) = &t.ca_file
            && let Err(e) = std::fs::metadata(ca)
        {
            problem(format!("{key}.ca_file"), format!("cannot read `{ca}`: {e}"));
        }
        if t.ping_interval.is_zero() {
            problem(format!("{key}.ping_interval"), "must be more than zero".into());
        }
    }
}

/// Checks of `[[feed]]` entries: sources that exist, mappings that make sense.
fn check_feeds(config: &Config, problems: &mut Vec<Problem>) {
    const TRADE_CHECKS: &[&str] =
        &["gap", "duplicate", "out_of_order", "stale", "spike", "non_positive", "clock_drift"];
    const CHAIN_CHECKS: &[&str] = &[
        "crossed",
        "missing_strike",
        "call_monotonicity",
        "put_monotonicity",
        "butterfly",
        "parity",
        "iv_bounds",
        "stale",
    ];
    let mut problem = |key: String, why: String| problems.push(Problem { key, why });
    for (i, f) in config.feed.iter().enumerate() {
        let key = format!("feed[{i}]");
        match &f.source {
            FeedSource::RedisPubsub { url, .. } | FeedSource::RedisStream { url, .. } => {
                if let Err(why) = check_url(url, &["redis", "rediss"]) {
                    problem(format!("{key}.source.url"), why);
                }
            }
            FeedSource::Websocket { target } => {
                if !config.websocket.iter().any(|w| &w.name == target && w.mode == WebSocketMode::Monitor) {
                    problem(
                        format!("{key}.source.target"),
                        format!("`{target}` is not a [[websocket]] target with mode = \"monitor\""),
                    );
                }
            }
            FeedSource::Mongodb { target, .. } => {
                if !config.mongodb.iter().any(|m| &m.name == target) {
                    problem(format!("{key}.source.target"), format!("`{target}` is not a [[mongodb]] target"));
                }
            }
        }
        match (f.kind, f.format, &f.fields) {
            (FeedKind::OptionChain, FeedFormat::Mapped, _) => {
                problem(format!("{key}.format"), "option chains are read in the tickwatch format only".into())
            }
            (FeedKind::Trade, FeedFormat::Mapped, None) => problem(
                format!("{key}.fields"),
                "format = \"mapped\" needs fields = { symbol, price, qty, ts, ... }".into(),
            ),
            (_, _, Some(fields)) => {
                let pointers = [
                    Some(&fields.symbol),
                    fields.seq.as_ref(),
                    Some(&fields.price),
                    Some(&fields.qty),
                    Some(&fields.ts),
                ];
                for p in pointers.into_iter().flatten().filter(|p| !p.starts_with('/')) {
                    problem(format!("{key}.fields"), format!("`{p}` is not a JSON pointer; write e.g. \"/s\""));
                }
                if let Some(unit) = &fields.ts_unit
                    && !["s", "ms", "us", "ns"].contains(&unit.as_str())
                {
                    problem(format!("{key}.fields.ts_unit"), format!("`{unit}` is not one of s, ms, us, ns"));
                }
            }
            _ => {}
        }
        let checks = if f.kind == FeedKind::Trade { TRADE_CHECKS } else { CHAIN_CHECKS };
        for (check, weight) in &f.weights {
            if !checks.contains(&check.as_str()) {
                problem(
                    format!("{key}.weights.{check}"),
                    format!("not a check of this feed; checks are {}", checks.join(", ")),
                );
            } else if !(*weight >= 0.0 && weight.is_finite()) {
                problem(format!("{key}.weights.{check}"), "must be zero or more".into());
            }
        }
        if f.score_window == 0 || f.max_symbols == 0 {
            problem(key.clone(), "score_window and max_symbols must be at least 1".into());
        }
    }
}

/// The scheme of a valid URL with one of `schemes`; the error shows the URL redacted.
fn check_url(raw: &str, schemes: &[&str]) -> Result<String, String> {
    let shown = redact_url(raw);
    let url = url::Url::parse(raw).map_err(|e| format!("`{shown}` is not a URL ({e})"))?;
    if !schemes.contains(&url.scheme()) {
        return Err(format!("`{shown}`: scheme must be one of {}", schemes.join(", ")));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("`{shown}` has no host"));
    }
    Ok(url.scheme().to_owned())
}
