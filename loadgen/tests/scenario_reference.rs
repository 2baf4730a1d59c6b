//! examples/scenario.toml is the scenario reference: `tickwatch-loadgen check` accepts it,
//! and every key of every table, every sink kind and every fault is written in it (set,
//! or in a comment with its default). The keys come from the types, so a new key without
//! docs fails here.

use std::path::Path;
use std::process::Command;
use tickwatch_common::keys::{keys_of, variants_of};
use tickwatch_feed::faults::{ChainFault, FaultKind, TradeFault};
use tickwatch_loadgen::run::observe::{ObserveConfig, ObserverKind};
use tickwatch_loadgen::scenario::{Expect, Phase, Scenario, SinkKind, SourceConfig, SourceKind};
use tickwatch_tests::Reference;

const REFERENCE: &str = include_str!("../../examples/scenario.toml");
const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/scenario.toml");

/// The keys every `[[sink]]` has beside its kind's own. They cannot be read from
/// `SinkConfig` (serde's `flatten` passes unknown keys on to the kind, so only the kind
/// names them), hence this list; a scenario that sets them all loads below.
const SHARED_SINK_KEYS: &[&str] = &["name", "source", "kind", "max_batch", "timeout"];

#[test]
fn the_reference_scenario_passes_check() {
    let out = Command::new(env!("CARGO_BIN_EXE_tickwatch-loadgen")).args(["check", PATH]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let scenario = tickwatch_loadgen::scenario::load(Path::new(PATH)).unwrap();
    assert!(scenario.sink.iter().any(|s| s.max_batch != 1024), "the reference sets max_batch");
}

#[test]
fn the_reference_scenario_documents_every_key() {
    let mut reference = Reference::new(REFERENCE);
    reference
        .require("scenario", keys_of::<Scenario>(&[]))
        .require("source", keys_of::<SourceConfig>(&[]))
        .require("phase", keys_of::<Phase>(&[]))
        .require("expect", keys_of::<Expect>(&[]))
        .require("observe", keys_of::<ObserveConfig>(&[]))
        .require("sink", SHARED_SINK_KEYS.iter().map(|k| k.to_string()).collect());
    let sink_kinds = keys_of::<SinkKind>(&[("kind", "no-such-kind")]);
    assert!(sink_kinds.len() >= 6, "{sink_kinds:?}");
    for sink_kind in &sink_kinds {
        reference
            .mention("sink kind", &format!("kind = \"{sink_kind}\""))
            .require(&format!("sink({sink_kind})"), keys_of::<SinkKind>(&[("kind", sink_kind)]));
    }
    for observer_kind in variants_of::<ObserverKind>() {
        reference.mention("observer kind", &format!("kind = \"{observer_kind}\""));
    }
    let source_kinds = variants_of::<SourceKind>();
    assert!(source_kinds.len() >= 3, "{source_kinds:?}");
    for source_kind in &source_kinds {
        reference.mention("source kind", &format!("kind = \"{source_kind}\""));
    }
    for (_, fault, _) in TradeFault::ALL {
        reference.mention("trade fault", fault);
    }
    for (_, fault, _) in ChainFault::ALL {
        reference.mention("chain fault", fault);
    }
    let missing = reference.missing();
    assert!(missing.is_empty(), "examples/scenario.toml does not document: {}", missing.join(", "));
}
