//! examples/scenario.toml is the scenario reference: `tickwatch-loadgen check` accepts it,
//! and every key of every table, every sink kind and every fault is written in it (set,
//! or in a comment with its default). The keys come from the types, so a new key without
//! docs fails here.

use std::path::Path;
use std::process::Command;
use tickwatch_common::keys::{documented, keys_of, variants_of};
use tickwatch_feed::faults::{ChainFault, FaultKind, TradeFault};
use tickwatch_loadgen::scenario::{Expect, Phase, Scenario, SinkKind, SourceConfig, SourceKind};

const REFERENCE: &str = include_str!("../../examples/scenario.toml");
const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/scenario.toml");

/// The keys every `[[sink]]` has beside its kind's own. They cannot be read from
/// `SinkConfig` (serde's `flatten` passes unknown keys on to the kind, so only the kind
/// names them), hence this list; a scenario that sets them all loads below.
const SHARED_SINK_KEYS: &[&str] = &["name", "source", "kind", "max_batch", "timeout"];

fn kind(name: &str) -> toml::Table {
    let mut t = toml::Table::new();
    t.insert("kind".into(), toml::Value::String(name.into()));
    t
}

#[test]
fn the_reference_scenario_passes_check() {
    let out = Command::new(env!("CARGO_BIN_EXE_tickwatch-loadgen")).args(["check", PATH]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let scenario = tickwatch_loadgen::scenario::load(Path::new(PATH)).unwrap();
    assert!(scenario.sink.iter().any(|s| s.max_batch != 1024), "the reference sets max_batch");
}

#[test]
fn the_reference_scenario_documents_every_key() {
    let mut sections: Vec<(String, Vec<String>)> = vec![
        ("scenario".into(), keys_of::<Scenario>(toml::Table::new())),
        ("source".into(), keys_of::<SourceConfig>(toml::Table::new())),
        ("phase".into(), keys_of::<Phase>(toml::Table::new())),
        ("expect".into(), keys_of::<Expect>(toml::Table::new())),
        ("sink".into(), SHARED_SINK_KEYS.iter().map(|k| k.to_string()).collect()),
    ];
    let sink_kinds = keys_of::<SinkKind>(kind("no-such-kind"));
    assert!(sink_kinds.len() >= 6, "{sink_kinds:?}");
    for sink_kind in &sink_kinds {
        assert!(REFERENCE.contains(&format!("kind = \"{sink_kind}\"")), "no sink of kind {sink_kind}");
        sections.push((format!("sink({sink_kind})"), keys_of::<SinkKind>(kind(sink_kind))));
    }
    let source_kinds = variants_of::<SourceKind>();
    assert!(source_kinds.len() >= 3, "{source_kinds:?}");
    for source_kind in &source_kinds {
        assert!(REFERENCE.contains(&format!("kind = \"{source_kind}\"")), "no source of kind {source_kind}");
    }
    let mut missing = Vec::new();
    for (section, keys) in &sections {
        assert!(!keys.is_empty(), "no keys found for {section}");
        // A table is documented by its header (`[expect]`, `[[sink]]`).
        let written = |k: &String| documented(REFERENCE, k) || REFERENCE.contains(&format!("[{k}]"));
        missing.extend(keys.iter().filter(|k| !written(k)).map(|k| format!("{section}.{k}")));
    }
    let faults =
        TradeFault::ALL.iter().map(|(_, name, _)| *name).chain(ChainFault::ALL.iter().map(|(_, name, _)| *name));
    missing.extend(faults.filter(|name| !REFERENCE.contains(name)).map(|name| format!("fault {name}")));
    assert!(missing.is_empty(), "examples/scenario.toml does not document: {}", missing.join(", "));
}
