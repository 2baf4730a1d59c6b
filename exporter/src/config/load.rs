use super::model::{Config, Defaults, WebConfig};
use super::{ConfigError, Problem, TargetProblems, redact_url};
use crate::probe::KINDS;
use serde::de::DeserializeOwned;
use std::collections::HashSet;
use std::path::Path;
use tickwatch_common::tls::TlsConfig;
use tickwatch_feed::codec::field_named_in;

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
    let mut unset = Vec::new();
    let secrets = std::cell::RefCell::new(Vec::new());
    let recording = |name: &str| {
        let value = lookup(name);
        if let Some(v) = value.as_ref().filter(|v| !v.is_empty()) {
            secrets.borrow_mut().push(v.clone());
        }
        value
    };
    tickwatch_common::env::interpolate(&mut root, "", &recording, &mut unset);
    let mut problems: Vec<Problem> = unset.into_iter().map(|(key, why)| Problem { key, why }).collect();
    let toml::Value::Table(mut table) = root else { unreachable!("the root stays a table") };

    let web: Option<WebConfig> = section(&mut table, "web", &mut problems);
    let defaults: Option<Defaults> = section(&mut table, "defaults", &mut problems);
    let mut config = Config {
        web: web.unwrap_or_default(),
        defaults: defaults.unwrap_or_default(),
        sections: Vec::new(),
        tables: Default::default(),
        secrets: secrets.into_inner(),
    };
    for kind in KINDS {
        let items = list(&mut table, kind.section(), &mut problems);
        for item in &items {
            if let Some(name) = item.get("name").and_then(toml::Value::as_str) {
                config.tables.insert((kind.section(), name.to_owned()), item.clone());
            }
        }
        if !items.is_empty() {
            config.sections.push((kind.section(), kind.read(items, &mut problems)));
        }
    }
    let sections: Vec<String> = KINDS.iter().map(|k| format!("[[{}]]", k.section())).collect();
    for key in table.keys() {
        problems.push(Problem {
            key: key.clone(),
            why: format!("unknown key; the file has [web], [defaults], {}", sections.join(", ")),
        });
    }
    check(&config, &mut problems);
    for (section, targets) in &config.sections {
        targets.validate(section, &config, &mut problems);
    }
    if problems.is_empty() { Ok(config) } else { Err(fail(problems)) }
}

/// Takes the table `key` out of `root` and reads it as `T` (defaults when absent).
fn section<T: DeserializeOwned>(root: &mut toml::Table, key: &str, problems: &mut Vec<Problem>) -> Option<T> {
    let value = root.remove(key)?;
    read(value, key, problems)
}

/// Takes the array of tables `key` out of `root`, to be read element by element (so a
/// mistake in one target does not hide the mistakes in the others).
fn list(root: &mut toml::Table, key: &str, problems: &mut Vec<Problem>) -> Vec<toml::Value> {
    match root.remove(key) {
        None => Vec::new(),
        Some(toml::Value::Array(items)) => items,
        Some(_) => {
            problems.push(Problem { key: key.to_owned(), why: format!("must be a list of tables: write [[{key}]]") });
            Vec::new()
        }
    }
}

/// Reads one value as `T`; a problem names the key inside it that is wrong.
pub fn read<T: DeserializeOwned>(value: toml::Value, key: &str, problems: &mut Vec<Problem>) -> Option<T> {
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

/// Checks what holds across the file: addresses, defaults, unique target names.
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
    let buckets = &config.defaults.celery_queue_wait_buckets;
    if buckets.is_empty() || buckets.windows(2).any(|w| w[0] >= w[1]) || buckets.iter().any(|b| !b.is_finite()) {
        problem(
            "defaults.celery_queue_wait_buckets".into(),
            format!("{buckets:?} must be finite bucket bounds in seconds, in increasing order, at least one"),
        );
    }
    let mut names = HashSet::new();
    for (key, name) in config.names() {
        if name.trim().is_empty() || name.chars().any(char::is_whitespace) {
            problem(format!("{key}.name"), format!("`{name}` must be non-empty without spaces"));
        } else if !names.insert(name.to_owned()) {
            problem(format!("{key}.name"), format!("`{name}` is used by another target; names must be unique"));
        }
    }
}

/// The scheme of a valid URL with one of `schemes`; the error shows the URL redacted.
pub fn check_url(raw: &str, schemes: &[&str]) -> Result<String, String> {
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

/// Checks a target's TLS settings (problems at `tls_config.FIELD`): files, a key with its
/// certificate, and that the target's URL asks for TLS at all (`tls_url`, else `scheme`
/// is what it should use) when anything is set.
pub fn check_tls(tls: &TlsConfig, tls_url: bool, scheme: &str, problems: &mut TargetProblems) {
    if !tls_url && *tls != TlsConfig::default() {
        problems.at("tls_config", format!("TLS settings need a {scheme} URL"));
    }
    for (field, why) in tls.check() {
        problems.at(&format!("tls_config.{field}"), why);
    }
}

/// Checks a Redis URL at `field` and its TLS settings, building the client as the probe
/// will, so whatever can fail before connecting fails here.
pub fn check_redis(url: &str, field: &str, tls: Option<&TlsConfig>, problems: &mut TargetProblems) {
    let scheme = match check_url(url, &["redis", "rediss"]) {
        Ok(scheme) => scheme,
        Err(why) => return problems.at(field, why),
    };
    let before = problems.count();
    let tls_config = tls.cloned().unwrap_or_default();
    check_tls(&tls_config, scheme == "rediss", "rediss://", problems);
    if let Err(why) = tls_config.refuse_server_name("Redis") {
        problems.at("tls_config.server_name", why);
    }
    if problems.count() == before
        && let Err(why) = tickwatch_common::redis::client(url, tls)
    {
        problems.at(field, why);
    }
}

/// [`TlsConfig::context`] for a target at `url`, when its scheme is one of `tls_schemes`.
pub fn tls_context(url: &str, tls: Option<&TlsConfig>, tls_schemes: &[&str]) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    tls_schemes.contains(&url.scheme()).then(|| tls.cloned().unwrap_or_default().context(url.host_str().unwrap_or("")))
}
