//! The scenario file: what feed to make, where to send it, at which rates, with which
//! faults, and which alerts must fire. `load` reports every problem it finds (file, key,
//! why) so `tickwatch-loadgen check` shows a reviewer the whole list at once.

use crate::run::observe::ObserveConfig;
use crate::thresholds::{Names, Threshold};
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tickwatch_common::{default, duration};
use tickwatch_feed::codec::field_named_in;
use tickwatch_feed::faults::{ChainFault, FaultMix, TradeFault};
use tickwatch_feed::synth::{ChainSpec, SymbolSpec};

pub use crate::run::sinks::SinkKind;

/// A whole scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    /// Seed of every generator: the same scenario and seed make the same feed, byte for byte.
    #[serde(default = "default::u64::<1>")]
    pub seed: u64,
    pub source: Vec<SourceConfig>,
    pub sink: Vec<SinkConfig>,
    /// Receivers on the platform's outputs, matching what arrives to what was sent.
    #[serde(default)]
    pub observe: Vec<ObserveConfig>,
    pub phase: Vec<Phase>,
    /// What the monitoring stack must show: alerts that fire and stay silent, PromQL
    /// conditions (checked with `run --prometheus`, and by the alert verifier).
    #[serde(default)]
    pub expect: Expect,
    /// Pass/fail criteria in k6's grammar: `"latency{sink:gateway}" = ["p(99) < 5"]`
    /// (see [`crate::thresholds`]). A crossed one makes the run exit 99.
    #[serde(default)]
    /// Each condition is a string, or a table `{ threshold, abort_on_fail,
    /// delay_abort_eval }` to stop the run as soon as it is crossed.
    pub thresholds: BTreeMap<String, Vec<toml::Value>>,
    /// `thresholds`, parsed once when the scenario is loaded.
    #[serde(skip)]
    pub threshold_rules: Vec<Threshold>,
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
    /// Replay: what the file holds: `jsonl` (the default: canonical trades or chains, or a
    /// recording), `tardis-csv` (a tardis.dev CSV dataset, plain or gzip) or
    /// `tardis-machine` (tardis-machine's normalized NDJSON: its `trade` messages are
    /// replayed, the other types left out and counted).
    #[serde(default)]
    pub format: ReplayFormat,
    /// Replay with `format = "tardis-csv"`: the dataset, `trades` or `options_chain`.
    pub data_type: Option<TardisDataType>,
    /// Replay: `skip` (the default) leaves out a malformed row or line, counts it and
    /// reports the first one (file:line and column); `stop` makes it an error.
    #[serde(default)]
    pub on_error: OnBadRow,
    /// Replay: how fast to play the recorded inter-arrival times (2.0 is twice as fast);
    /// 0 sends at the phase's rate instead.
    #[serde(default = "default_speed")]
    pub speed: f64,
    /// Replay: start again at the end of the file.
    #[serde(default, rename = "loop")]
    pub loop_: bool,
    /// Synthetic sources: how far each message's exchange time lies behind its send time
    /// (a venue or collector running late), so payload-lag monitoring can be proven.
    #[serde(default, deserialize_with = "duration::deserialize")]
    pub lag: Duration,
}

/// What a replay file holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReplayFormat {
    #[default]
    Jsonl,
    TardisCsv,
    TardisMachine,
}

/// Which tardis.dev dataset a `tardis-csv` replay reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TardisDataType {
    Trades,
    OptionsChain,
}

/// What a replay does with a malformed row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnBadRow {
    #[default]
    Skip,
    Stop,
}

fn default_venue() -> String {
    "tickwatch".to_owned()
}

fn default_speed() -> f64 {
    1.0
}

/// `[[sink]]`: the keys every sink has; `kind` and the kind's own keys are read by the
/// kind's module (`run::sinks`), which rejects keys meant for another kind.
#[derive(Debug, Clone, Deserialize)]
pub struct SinkConfig {
    pub name: String,
    /// The `[[source]]` whose messages this sink sends.
    pub source: String,
    /// Messages sent in one round trip at the most: the pipeline depth of Redis and Celery
    /// sinks, the frames per flush of WebSocket clients. Default 1024.
    #[serde(default = "default::usize::<1024>")]
    pub max_batch: usize,
    /// Longest one send may take before its messages count as failed. Default `2s`.
    #[serde(default = "default::secs::<2>", deserialize_with = "duration::deserialize")]
    pub timeout: Duration,
    #[serde(flatten)]
    pub kind: SinkKind,
}

/// `[[phase]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    pub name: String,
    #[serde(deserialize_with = "duration::deserialize")]
    pub duration: Duration,
    /// Messages per second to each sink; 0 is a pause (the feed goes quiet while every
    /// sink stays up).
    pub rate: Option<f64>,
    /// A linear ramp `[from, to]` messages per second instead of `rate`.
    pub ramp: Option<[f64; 2]>,
    /// Faults planted during this phase, `kind=probability` items, e.g. `"gap=0.01"`.
    #[serde(default)]
    pub faults: Vec<String>,
    /// `faults`, parsed once when the scenario is loaded.
    #[serde(skip)]
    pub fault_mix: PhaseFaults,
}

/// A phase's faults by the kind of feed they apply to: each feed takes the items of its
/// own kind (trade faults for trades, chain faults for chains).
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseFaults {
    pub trades: FaultMix<TradeFault>,
    pub chains: FaultMix<ChainFault>,
}

impl Default for PhaseFaults {
    fn default() -> Self {
        PhaseFaults { trades: FaultMix::none(), chains: FaultMix::none() }
    }
}

impl PhaseFaults {
    /// Parses `kind=probability` items (comma-separated within an entry too), for a
    /// scenario with trade and/or chain sources; every item must fit one of them and each
    /// kind's probabilities add up to at most 1. The error lists every problem.
    pub fn parse(faults: &[String], trades: bool, chains: bool) -> Result<PhaseFaults, Vec<String>> {
        let items: Vec<&str> =
            faults.iter().flat_map(|f| f.split(',')).map(str::trim).filter(|i| !i.is_empty()).collect();
        let mut problems = Vec::new();
        let (mut trade_items, mut chain_items) = (Vec::new(), Vec::new());
        for item in &items {
            let as_trade = item.parse::<FaultMix<TradeFault>>();
            let as_chain = item.parse::<FaultMix<ChainFault>>();
            if as_trade.is_ok() {
                trade_items.push(*item);
            }
            if as_chain.is_ok() {
                chain_items.push(*item);
            }
            if !((trades && as_trade.is_ok()) || (chains && as_chain.is_ok())) {
                let why = match (trades, chains) {
                    (true, false) => as_trade.err(),
                    (false, true) => as_chain.err(),
                    _ => Some(format!("`{item}` is neither a trade nor a chain fault (kind=probability)")),
                };
                problems.push(why.unwrap_or_else(|| format!("`{item}` fits no source of this scenario")));
            }
        }
        let trade_mix = trade_items.join(",").parse::<FaultMix<TradeFault>>();
        let chain_mix = chain_items.join(",").parse::<FaultMix<ChainFault>>();
        match (trade_mix, chain_mix) {
            (Ok(trades), Ok(chains)) if problems.is_empty() => Ok(PhaseFaults { trades, chains }),
            (trade_mix, chain_mix) => {
                problems.extend([trade_mix.err(), chain_mix.err()].into_iter().flatten());
                Err(problems)
            }
        }
    }
}

/// `[expect]`: what a monitoring stack must show while and after the scenario runs,
/// checked with `run --prometheus URL` (and by the alert verifier).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Alerts that must fire (in Prometheus's ALERTS) between the run's start and
    /// `within` after its end.
    #[serde(default)]
    pub alerts_firing: Vec<String>,
    /// Alerts that must not fire from the run's start to its end.
    #[serde(default)]
    pub alerts_silent: Vec<String>,
    /// No alert but those of `alerts_firing` may fire.
    #[serde(default)]
    pub alerts_only: bool,
    /// How long after the run's end an expected alert may take to fire. Default `5m`.
    #[serde(default = "default::secs::<300>", deserialize_with = "duration::deserialize")]
    pub within: Duration,
    /// PromQL conditions that must hold at the end (a non-empty result), e.g.
    /// `sum(rate(redis_commands_processed_total[1m])) > 100`.
    #[serde(default)]
    pub queries: Vec<String>,
}

impl Default for Expect {
    /// A scenario without `[expect]`: each key's own default.
    fn default() -> Self {
        toml::Table::new().try_into().expect("every key of [expect] has a default")
    }
}

impl Expect {
    /// Whether there is anything to check against a monitoring stack.
    pub fn is_empty(&self) -> bool {
        self.alerts_firing.is_empty() && self.alerts_silent.is_empty() && !self.alerts_only && self.queries.is_empty()
    }
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

    /// The phase's mean target rate, messages per second.
    pub fn mean_rate(&self) -> f64 {
        let seconds = self.duration.as_secs_f64();
        if seconds > 0.0 { self.messages_by(seconds) / seconds } else { 0.0 }
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

/// Parses and checks scenario `text` (named `file` in messages), with `${VAR}` and
/// `${VAR:-default}` in its strings taken from the environment.
pub fn parse(text: &str, file: &str) -> Result<Scenario, ScenarioError> {
    let table: toml::Table =
        toml::from_str(text).map_err(|e| ScenarioError(vec![format!("{file}: not valid TOML: {e}")]))?;
    let mut root = toml::Value::Table(table);
    let mut unset = Vec::new();
    tickwatch_common::env::interpolate(&mut root, "", &|name| std::env::var(name).ok(), &mut unset);
    if !unset.is_empty() {
        let at = |key: &str| line_of_key(text, key).map(|l| format!(" (line {l})")).unwrap_or_default();
        return Err(ScenarioError(unset.iter().map(|(key, why)| format!("{file}: {key}: {why}{}", at(key))).collect()));
    }
    let scenario: Scenario = serde_path_to_error::deserialize(root).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        // A sink's own keys are read from a buffered (flattened) table, whose errors carry
        // the position of the whole table: look the key up by its path instead.
        let path = match (path.as_str(), field_named_in(inner.message())) {
            (p, Some(field)) if p.rsplit('.').next() != Some(field.as_str()) => format!("{p}.{field}"),
            (p, _) => p.to_owned(),
        };
        let line = line_of_key(text, &path).or_else(|| inner.span().map(|s| line_at(text, s.start)));
        let at = line.map(|l| format!(" (line {l})")).unwrap_or_default();
        ScenarioError(vec![format!("{file}: {path}: {}{at}", inner.message().trim())])
    })?;
    let mut scenario = scenario;
    let problems: Vec<String> = check(&mut scenario).into_iter().map(|p| format!("{file}: {p}")).collect();
    if problems.is_empty() { Ok(scenario) } else { Err(ScenarioError(problems)) }
}

/// The 1-based line of byte `offset` of `text`.
fn line_at(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The line of the key at `path` (`sink[0].speeed`) in `text`, if it is there.
fn line_of_key(text: &str, path: &str) -> Option<usize> {
    let document = toml::de::DeTable::parse(text).ok()?;
    let mut table = document.get_ref();
    let mut span = None;
    for segment in path.split('.') {
        let (name, index) = match segment.split_once('[') {
            Some((name, rest)) => (name, Some(rest.trim_end_matches(']').parse::<usize>().ok()?)),
            None => (segment, None),
        };
        let (key, value) = table.iter().find(|(key, _)| key.get_ref().as_ref() == name)?;
        span = Some(key.span());
        let mut value = value.get_ref();
        if let Some(index) = index {
            let toml::de::DeValue::Array(items) = value else { return None };
            let item = items.get(index)?;
            span = Some(item.span());
            value = item.get_ref();
        }
        if let toml::de::DeValue::Table(inner) = value {
            table = inner;
        }
    }
    span.map(|s| line_at(text, s.start))
}

/// Every problem of `s`; on the way, each phase's faults are parsed into `fault_mix`.
fn check(s: &mut Scenario) -> Vec<String> {
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
                if !src.lag.is_zero() {
                    p(format!("{key}.lag"), "a replay keeps its recorded times; lag is for synthetic sources".into());
                }
                if src.file.is_none() {
                    p(format!("{key}.file"), "a replay source needs a file".into());
                }
                if !(src.speed >= 0.0 && src.speed.is_finite()) {
                    p(format!("{key}.speed"), "must be zero (phase rate) or more".into());
                }
                match (src.format, src.data_type) {
                    (ReplayFormat::TardisCsv, None) => p(
                        format!("{key}.data_type"),
                        "a tardis-csv replay needs data_type = \"trades\" or \"options_chain\"".into(),
                    ),
                    (ReplayFormat::Jsonl, Some(_)) => p(
                        format!("{key}.data_type"),
                        "is for format = \"tardis-csv\"; a jsonl file says what each line is".into(),
                    ),
                    (ReplayFormat::TardisMachine, Some(_)) => p(
                        format!("{key}.data_type"),
                        "is for format = \"tardis-csv\"; a tardis-machine stream's trades are replayed".into(),
                    ),
                    _ => {}
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
        match s.source.iter().find(|src| src.name == sink.source) {
            None => p(format!("{key}.source"), format!("no [[source]] is named `{}`", sink.source)),
            Some(src) if src.kind == SourceKind::SyntheticChains && sink.kind.sends_trades_only() => p(
                format!("{key}.protocol"),
                format!("an exchange's protocol sends trades; source `{}` makes option chains", src.name),
            ),
            Some(_) => {}
        }
        if sink.max_batch == 0 {
            p(format!("{key}.max_batch"), "must be at least 1".into());
        }
    }
    let chains = s.source.iter().any(|src| src.kind == SourceKind::SyntheticChains);
    let trades = s.source.iter().any(|src| src.kind == SourceKind::SyntheticTrades);
    let mut phase_names = HashSet::new();
    for (i, phase) in s.phase.iter_mut().enumerate() {
        let key = format!("phase[{i}]");
        if !phase_names.insert(phase.name.clone()) {
            p(format!("{key}.name"), format!("`{}` is used twice", phase.name));
        }
        // Phase names tag the HdrHistogram logs (`phase:NAME`), whose tags take none of these.
        if phase.name.is_empty() || phase.name.contains([' ', ',', '\r', '\n']) {
            p(format!("{key}.name"), format!("`{}`: a phase name needs no spaces or commas", phase.name));
        }
        match (phase.rate, phase.ramp) {
            (Some(_), Some(_)) => p(key.clone(), "give rate or ramp, not both".into()),
            (None, None) => p(key.clone(), "needs rate = messages/s or ramp = [from, to]".into()),
            (Some(r), None) if !(r >= 0.0 && r.is_finite()) => {
                p(format!("{key}.rate"), "must be zero (a pause) or more".into())
            }
            (None, Some([a, b])) if !(a >= 0.0 && b >= 0.0 && a.is_finite() && b.is_finite()) => {
                p(format!("{key}.ramp"), "rates must be zero or more".into())
            }
            _ => {}
        }
        if phase.duration.is_zero() {
            p(format!("{key}.duration"), "must be more than zero".into());
        }
        match PhaseFaults::parse(&phase.faults, trades, chains) {
            Ok(mix) => phase.fault_mix = mix,
            Err(why) => why.into_iter().for_each(|why| p(format!("{key}.faults"), why)),
        }
    }
    let sinks: Vec<&str> = s.sink.iter().map(|k| k.name.as_str()).collect();
    let observers: Vec<&str> = s.observe.iter().map(|o| o.name.as_str()).collect();
    let phases: Vec<&str> = s.phase.iter().map(|ph| ph.name.as_str()).collect();
    let names = Names { sinks: &sinks, observers: &observers, phases: &phases };
    let mut rules = Vec::new();
    for (key, conditions) in &s.thresholds {
        match Threshold::parse(key, conditions, &names) {
            Ok(rule) => rules.push(rule),
            Err(why) => why.into_iter().for_each(|why| p(format!("thresholds.\"{key}\""), why)),
        }
    }
    s.threshold_rules = rules;
    for (i, sink) in s.sink.iter().enumerate() {
        sink.kind.validate(&format!("sink[{i}]"), &mut problems);
    }
    let mut observer_names = HashSet::new();
    for (i, observer) in s.observe.iter().enumerate() {
        let key = format!("observe[{i}]");
        if !observer_names.insert(observer.name.clone()) {
            problems.push(format!("{key}.name: `{}` is used twice", observer.name));
        }
        let source = s.source.iter().find(|src| src.name == observer.source);
        observer.validate(&key, source, &mut problems);
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phase(rate: Option<f64>, ramp: Option<[f64; 2]>, seconds: u64) -> Phase {
        Phase {
            name: "p".into(),
            duration: Duration::from_secs(seconds),
            rate,
            ramp,
            faults: Vec::new(),
            fault_mix: PhaseFaults::default(),
        }
    }

    #[test]
    fn a_steady_phase_sends_at_even_intervals() {
        let p = phase(Some(100.0), None, 10);
        assert_eq!(p.total(), 1000);
        assert_eq!(p.due_at(0), 0.0);
        assert!((p.due_at(250) - 2.5).abs() < 1e-12);
        assert!((p.messages_by(4.0) - 400.0).abs() < 1e-9);
    }

    #[test]
    fn a_ramp_is_the_integral_of_its_rate_and_due_at_inverts_it() {
        let p = phase(None, Some([0.0, 200.0]), 10);
        assert_eq!(p.total(), 1000);
        assert!((p.rate_at(5.0) - 100.0).abs() < 1e-9);
        for i in [1u64, 10, 250, 999] {
            let t = p.due_at(i);
            assert!((p.messages_by(t) - i as f64).abs() < 1e-6, "message {i} due at {t}");
        }
        // Later messages come closer together as the rate climbs.
        assert!(p.due_at(2) - p.due_at(1) > p.due_at(999) - p.due_at(998));
    }

    #[test]
    fn faults_are_parsed_once_per_kind_and_mistakes_are_listed() {
        let mix = PhaseFaults::parse(&["gap=0.1, crossed=0.2".into()], true, true).unwrap();
        assert_eq!(mix.trades, "gap=0.1".parse().unwrap());
        assert_eq!(mix.chains, "crossed=0.2".parse().unwrap());
        let errors = PhaseFaults::parse(&["gap=0.7".into(), "duplicate=0.6".into()], true, false).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        let errors = PhaseFaults::parse(&["crossed=0.1".into()], true, false).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
    }
}
