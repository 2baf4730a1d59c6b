//! The example config is the config reference: every key of every section, nested tables
//! and feed source types included, is written in it (set, or in a comment with its
//! default). The keys come from the types themselves, so a new key without docs fails here.

use tickwatch_common::keys::keys_of;
use tickwatch_common::tls::TlsConfig;
use tickwatch_exporter::config::{Defaults, WebConfig};
use tickwatch_exporter::probe::KINDS;
use tickwatch_exporter::probe::feed::{FeedSource, FieldMap};
use tickwatch_exporter::probe::mongodb::CollectionRef;
use tickwatch_tests::Reference;

const EXAMPLE: &str = include_str!("../../examples/exporter.toml");

#[test]
fn the_example_config_documents_every_key() {
    let mut reference = Reference::new(EXAMPLE);
    reference
        .require("web", keys_of::<WebConfig>(&[]))
        .require("defaults", keys_of::<Defaults>(&[]))
        .require("mongodb.collections", keys_of::<CollectionRef>(&[]))
        .require("feed.fields", keys_of::<FieldMap>(&[]))
        .require("tls_config", keys_of::<TlsConfig>(&[]));
    for kind in KINDS {
        reference.mention("section", &format!("[[{}]]", kind.section())).require(kind.section(), kind.keys());
    }
    let source_types = keys_of::<FeedSource>(&[("type", "no-such-type")]);
    assert!(source_types.len() >= 4, "{source_types:?}");
    for source_type in &source_types {
        reference
            .mention("feed source", &format!("type = \"{source_type}\""))
            .require(&format!("feed.source({source_type})"), keys_of::<FeedSource>(&[("type", source_type)]));
    }
    let missing = reference.missing();
    assert!(missing.is_empty(), "examples/exporter.toml does not document: {}", missing.join(", "));
}

/// The README's metric table names every family the exporter declares (in `families!`
/// tables and `Family::gauge(...)`-style entries), so a new family without docs fails
/// here.
#[test]
fn the_readme_lists_every_metric_family() {
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let mut files = vec![root.join("exporter/src")];
    let mut declared = std::collections::BTreeSet::new();
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap();
        // Test modules declare demo families of their own.
        let source = source.split("#[cfg(test)]").next().unwrap();
        for kind in ["gauge", "counter", "histogram", "summary"] {
            for (_, rest) in source.match_indices(kind).map(|(i, _)| source.split_at(i + kind.len())) {
                let rest = rest.trim_start_matches(['(', ' ', '\n']);
                let Some(literal) = rest.strip_prefix('"').and_then(|r| r.split('"').next()) else { continue };
                if !literal.is_empty() && literal.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                    declared.insert(literal.to_owned());
                }
            }
        }
    }
    assert!(declared.len() > 100 && declared.contains("redis_commands_total"), "{declared:?}");
    let missing: Vec<_> = declared.iter().filter(|name| !readme.contains(name.as_str())).collect();
    assert!(missing.is_empty(), "README.md's metric table lacks: {missing:?}");
}
