//! The scenario file: what feed to make, where to send it, at which rates, with which
//! faults, and which alerts must fire. `load` reports every problem it finds (file, key,
//! why) so `tickwatch-loadgen check` shows a reviewer the whole list at once.

use serde::{Deserialize, Deserializer};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tickwatch_feed::faults::{ChainFault, FaultMix, TradeFault};
use tickwatch_feed::synth::{ChainSpec, SymbolSpec};

/// A whole scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    /// Seed of every generator: the same scenario and seed make the same feed, byte for byte.
    #[serde(default = "default_seed")]
    pub seed: u64,
    pub source: Vec<SourceConfig>,
    pub sink: Vec<SinkConfig>,
    pub phase: Vec<Phase>,
    /// The alerts this scenario must fire and keep silent (checked by the alert verifier).
    #[serde(default)]
    pub expect: Expect,
}

fn default_seed() -> u64 {
    1
}

/// What a source makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    SyntheticTrades,
    SyntheticChains,
    Replay,
}

/// `[[source]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    pub name: String,
    pub kind: SourceKind,
    /// Synthetic sources: symbols (trades) or underlyings (chains), with realistic presets.
    #[serde(default)]
    pub symbols: Vec<String>,
    /// Synthetic trades: venue name written into each trade.
    #[serde(default = "default_venue")]
    pub venue: String,
    /// Replay: a JSON Lines file (`.jsonl`, `.jsonl.gz`) of trades or chains, or a
    /// recording made by `tickwatch-loadgen record`.
    pub file: Option<PathBuf>,
    /// Replay: how fast to play the recorded inter-arrival times (2.0 is twice as fast);
    /// 0 sends at the phase's rate instead.
    #[serde(default = "default_speed")]
    pub speed: f64,
    /// Replay: start again at the end of the file.
    #[serde(default, rename = "loop")]
    pub loop_: bool,
}

fn default_venue() -> String {
    "tickwatch".to_owned()
}

fn default_speed() -> f64 {
    1.0
}

/// Where messages go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SinkKind {
    WebsocketServer,
    WebsocketClient,
    Redis,
    Celery,
    Mongodb,
    File,
}

/// How the Redis sink writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RedisMode {
    #[default]
    Xadd,
    Publish,
}

/// `[[sink]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    pub name: String,
    /// The `[[source]]` whose messages this sink sends.
    pub source: String,
    pub kind: SinkKind,
    /// redis, celery: `redis://...`; mongodb: `mongodb://...`; websocket-client: `ws://...`.
    pub url: Option<String>,
    /// redis: `xadd` or `publish`.
    #[serde(default)]
    pub mode: RedisMode,
    /// redis: stream or channel name; `{symbol}` expands per message.
    pub key: Option<String>,
    /// redis xadd: approximate MAXLEN of the stream. Default 1,000,000.
    #[serde(default = "default_maxlen")]
    pub maxlen: u64,
    /// celery: queue to push to.
    pub queue: Option<String>,
    /// celery: task name.
    pub task: Option<String>,
    /// celery: positional arguments; `"{field}"` takes the message's field with its type
    /// (symbol, seq, price, qty, ts_ns, side, venue; chains: underlying, expiry, spot, ts_ns).
    #[serde(default)]
    pub args: Vec<toml::Value>,
    /// mongodb: database and collection.
    pub db: Option<String>,
    pub collection: Option<String>,
    /// mongodb: documents per insert. Default 500.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// mongodb: write concern, `1` (default), `majority` or `0`.
    pub write_concern: Option<String>,
    /// websocket-server: address to listen on.
    pub listen: Option<String>,
    /// websocket-server: wait (up to 60 s) until this many clients have subscribed before
    /// the first phase starts, so every subscriber sees the whole feed.
    #[serde(default)]
    pub wait_for_subscribers: usize,
    /// file: output path (`.jsonl`).
    pub path: Option<PathBuf>,
    /// Messages sent in one round trip at the most: the pipeline depth of Redis and Celery
    /// sinks, the frames per flush of WebSocket clients. Default 1024.
    #[serde(default = "default_max_batch")]
    pub max_batch: usize,
    /// Longest one send may take before its messages count as failed. Default `2s`.
    #[serde(default = "default_timeout", deserialize_with = "duration")]
    pub timeout: Duration,
}

fn default_maxlen() -> u64 {
    1_000_000
}

fn default_batch_size() -> usize {
    500
}

fn default_max_batch() -> usize {
    1024
}

fn default_timeout() -> Duration {
    Duration::from_secs(2)
}

/// `[[phase]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    pub name: String,
    #[serde(deserialize_with = "duration")]
    pub duration: Duration,
    /// Messages per second to each sink.
    pub rate: Option<f64>,
    /// A linear ramp `[from, to]` messages per second instead of `rate`.
    pub ramp: Option<[f64; 2]>,
    /// Faults planted during this phase, `kind=probability` items, e.g. `"gap=0.01"`.
    #[serde(default)]
    pub faults: Vec<String>,
}

/// `[expect]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    #[serde(default)]
    pub alerts_firing: Vec<String>,
    #[serde(default)]
    pub alerts_silent: Vec<String>,
}

impl Phase {
    /// The rate at `t` seconds into the phase.
    pub fn rate_at(&self, t: f64) -> f64 {
        match (self.rate, self.ramp) {
            (Some(r), _) => r,
            (None, Some([a, b])) => a + (b - a) * (t / self.duration.as_secs_f64()).clamp(0.0, 1.0),
            (None, None) => 0.0,
        }
    }

    /// Messages intended in the first `t` seconds of the phase (the rate's integral).
    pub fn messages_by(&self, t: f64) -> f64 {
        let t = t.clamp(0.0, self.duration.as_secs_f64());
        match (self.rate, self.ramp) {
            (Some(r), _) => r * t,
            (None, Some([a, _])) => (a + self.rate_at(t)) / 2.0 * t,
            (None, None) => 0.0,
        }
    }

    /// When message `i` (0-based) of the phase is due, in seconds from the phase start.
    pub fn due_at(&self, i: u64) -> f64 {
        let n = i as f64;
        match (self.rate, self.ramp) {
            (Some(r), _) => n / r,
            (None, Some([a, b])) => {
                // Solve a t + (b - a) t^2 / (2 d) = n for t.
                let slope = (b - a) / self.duration.as_secs_f64();
                if slope.abs() < 1e-12 { n / a } else { (-a + (a * a + 2.0 * slope * n).sqrt()) / slope }
            }
            (None, None) => f64::INFINITY,
        }
    }

    /// Every message of the phase.
    pub fn total(&self) -> u64 {
        self.messages_by(self.duration.as_secs_f64()).round() as u64
    }
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(&text)
        .map_err(|e| serde::de::Error::custom(format!("`{text}` is not a duration ({e}); write e.g. \"5s\" or \"2m\"")))
}

/// Every problem of a scenario file, each as `file: key: why`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError(pub Vec<String>);

impl std::fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("\n"))
    }
}

impl std::error::Error for ScenarioError {}

/// Reads and checks a scenario file. Relative replay and output paths are taken from the
/// scenario file's folder.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError(vec![format!("{file}: cannot read: {e}")]))?;
    let mut scenario = parse(&text, &file)?;
    let base = path.parent().unwrap_or(Path::new("."));
    for s in &mut scenario.source {
        if let Some(f) = &mut s.file
            && f.is_relative()
        {
            *f = base.join(&*f);
        }
    }
    let mut problems = Vec::new();
    for (i, s) in scenario.source.iter().enumerate() {
        if let Some(f) = &s.file
            && !f.is_file()
        {
            problems.push(format!("{file}: source[{i}].file: `{}` does not exist", f.display()));
        }
    }
    if problems.is_empty() { Ok(scenario) } else { Err(ScenarioError(problems)) }
}

/// Parses and checks scenario `text` (named `file` in messages).
pub fn parse(text: &str, file: &str) -> Result<Scenario, ScenarioError> {
    let de =
        toml::Deserializer::parse(text).map_err(|e| ScenarioError(vec![format!("{file}: not valid TOML: {e}")]))?;
    let scenario: Scenario = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let line = inner.span().map(|s| text[..s.start].lines().count().max(1));
        let at = line.map(|l| format!(" (line {l})")).unwrap_or_default();
        ScenarioError(vec![format!("{file}: {path}: {}{at}", inner.message().trim())])
    })?;
    let problems: Vec<String> = check(&scenario).into_iter().map(|p| format!("{file}: {p}")).collect();
    if problems.is_empty() { Ok(scenario) } else { Err(ScenarioError(problems)) }
}

fn check(s: &Scenario) -> Vec<String> {
    let mut problems = Vec::new();
    let mut p = |key: String, why: String| problems.push(format!("{key}: {why}"));
    if s.source.is_empty() {
        p("source".into(), "at least one [[source]] is needed".into());
    }
    if s.sink.is_empty() {
        p("sink".into(), "at least one [[sink]] is needed".into());
    }
    if s.phase.is_empty() {
        p("phase".into(), "at least one [[phase]] is needed".into());
    }
    let mut names = HashSet::new();
    for (i, src) in s.source.iter().enumerate() {
        let key = format!("source[{i}]");
        if !names.insert(src.name.clone()) {
            p(format!("{key}.name"), format!("`{}` is used twice", src.name));
        }
        match src.kind {
            SourceKind::SyntheticTrades | SourceKind::SyntheticChains => {
                if src.symbols.is_empty() {
                    p(format!("{key}.symbols"), "a synthetic source needs at least one symbol".into());
                }
                for sym in &src.symbols {
                    let problems = if src.kind == SourceKind::SyntheticTrades {
                        SymbolSpec::preset(sym).problems()
                    } else {
                        ChainSpec::preset(sym).problems()
                    };
                    for why in problems {
                        p(format!("{key}.symbols"), format!("{sym}: {why}"));
                    }
                }
            }
            SourceKind::Replay => {
                if src.file.is_none() {
                    p(format!("{key}.file"), "a replay source needs a file".into());
                }
                if !(src.speed >= 0.0 && src.speed.is_finite()) {
                    p(format!("{key}.speed"), "must be zero (phase rate) or more".into());
                }
            }
        }
    }
    let mut sink_names = HashSet::new();
    for (i, sink) in s.sink.iter().enumerate() {
        let key = format!("sink[{i}]");
        if !sink_names.insert(sink.name.clone()) {
            p(format!("{key}.name"), format!("`{}` is used twice", sink.name));
        }
        if !s.source.iter().any(|src| src.name == sink.source) {
            p(format!("{key}.source"), format!("no [[source]] is named `{}`", sink.source));
        }
        let mut need = |field: &str, value: bool| {
            if !value {
                p(format!("{key}.{field}"), format!("a {:?} sink needs `{field}`", sink.kind));
            }
        };
        match sink.kind {
            SinkKind::Redis => {
                need("url", sink.url.is_some());
                need("key", sink.key.is_some());
            }
            SinkKind::Celery => {
                need("url", sink.url.is_some());
                need("queue", sink.queue.is_some());
                need("task", sink.task.is_some());
            }
            SinkKind::Mongodb => {
                need("url", sink.url.is_some());
                need("db", sink.db.is_some());
                need("collection", sink.collection.is_some());
            }
            SinkKind::File => need("path", sink.path.is_some()),
            SinkKind::WebsocketServer => need("listen", sink.listen.is_some()),
            SinkKind::WebsocketClient => need("url", sink.url.is_some()),
        }
        if let Some(url) = &sink.url {
            let schemes: &[&str] = match sink.kind {
                SinkKind::Redis | SinkKind::Celery => &["redis", "rediss"],
                SinkKind::Mongodb => &["mongodb"],
                SinkKind::WebsocketClient => &["ws", "wss"],
                _ => &[],
            };
            let scheme = url.split("://").next().unwrap_or_default();
            if !schemes.is_empty() && !schemes.contains(&scheme) {
                p(format!("{key}.url"), format!("scheme must be one of {}", schemes.join(", ")));
            }
        }
        if let Some(listen) = &sink.listen
            && listen.parse::<std::net::SocketAddr>().is_err()
        {
            p(format!("{key}.listen"), format!("`{listen}` is not HOST:PORT, e.g. 127.0.0.1:8765"));
        }
        if let Some(w) = &sink.write_concern
            && !["0", "1", "majority"].contains(&w.as_str())
        {
            p(format!("{key}.write_concern"), format!("`{w}` is not 0, 1 or majority"));
        }
        if sink.batch_size == 0 {
            p(format!("{key}.batch_size"), "must be at least 1".into());
        }
        if sink.max_batch == 0 {
            p(format!("{key}.max_batch"), "must be at least 1".into());
        }
    }
    let chains = s.source.iter().any(|src| src.kind == SourceKind::SyntheticChains);
    let trades = s.source.iter().any(|src| src.kind == SourceKind::SyntheticTrades);
    for (i, phase) in s.phase.iter().enumerate() {
        let key = format!("phase[{i}]");
        match (phase.rate, phase.ramp) {
            (Some(_), Some(_)) => p(key.clone(), "give rate or ramp, not both".into()),
            (None, None) => p(key.clone(), "needs rate = messages/s or ramp = [from, to]".into()),
            (Some(r), None) if !(r > 0.0 && r.is_finite()) => p(format!("{key}.rate"), "must be more than zero".into()),
            (None, Some([a, b])) if !(a >= 0.0 && b >= 0.0 && a + b > 0.0) => {
                p(format!("{key}.ramp"), "rates must be zero or more, not both zero".into())
            }
            _ => {}
        }
        if phase.duration.is_zero() {
            p(format!("{key}.duration"), "must be more than zero".into());
        }
        let items: Vec<&str> =
            phase.faults.iter().flat_map(|f| f.split(',')).map(str::trim).filter(|i| !i.is_empty()).collect();
        for item in &items {
            let as_trade = item.parse::<FaultMix<TradeFault>>();
            let as_chain = item.parse::<FaultMix<ChainFault>>();
            if !((trades && as_trade.is_ok()) || (chains && as_chain.is_ok())) {
                let why = match (trades, chains) {
                    (true, false) => as_trade.err(),
                    (false, true) => as_chain.err(),
                    _ => Some(format!("`{item}` is neither a trade nor a chain fault (kind=probability)")),
                };
                p(format!("{key}.faults"), why.unwrap_or_else(|| format!("`{item}` fits no source of this scenario")));
            }
        }
        // The faults of each kind together must still add up to at most 1.
        let joined = |ok: &dyn Fn(&str) -> bool| items.iter().filter(|i| ok(i)).copied().collect::<Vec<_>>().join(",");
        let trade_mix = joined(&|i| i.parse::<FaultMix<TradeFault>>().is_ok()).parse::<FaultMix<TradeFault>>();
        let chain_mix = joined(&|i| i.parse::<FaultMix<ChainFault>>().is_ok()).parse::<FaultMix<ChainFault>>();
        for e in [trade_mix.err(), chain_mix.err()].into_iter().flatten() {
            p(format!("{key}.faults"), e);
        }
    }
    problems
}
