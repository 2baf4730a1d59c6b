//! The example config is the config reference: every key of every section, nested tables
//! and feed source types included, is written in it (set, or in a comment with its
//! default). The keys come from the types themselves, so a new key without docs fails here.

use tickwatch_common::keys::{documented, keys_of};
use tickwatch_exporter::config::{Defaults, WebConfig};
use tickwatch_exporter::probe::KINDS;
use tickwatch_exporter::probe::feed::{FeedSource, FieldMap};
use tickwatch_exporter::probe::mongodb::CollectionRef;

const EXAMPLE: &str = include_str!("../../examples/exporter.toml");

fn table(key: &str, value: &str) -> toml::Table {
    let mut t = toml::Table::new();
    t.insert(key.into(), toml::Value::String(value.into()));
    t
}

#[test]
fn the_example_config_documents_every_key() {
    let mut sections: Vec<(String, Vec<String>)> = vec![
        ("web".into(), keys_of::<WebConfig>(toml::Table::new())),
        ("defaults".into(), keys_of::<Defaults>(toml::Table::new())),
        ("mongodb.collections".into(), keys_of::<CollectionRef>(toml::Table::new())),
        ("feed.fields".into(), keys_of::<FieldMap>(toml::Table::new())),
    ];
    for kind in KINDS {
        assert!(EXAMPLE.contains(&format!("[[{}]]", kind.section())), "no [[{}]] in the example", kind.section());
        sections.push((kind.section().into(), kind.keys()));
    }
    let source_types = keys_of::<FeedSource>(table("type", "no-such-type"));
    assert!(source_types.len() >= 4, "{source_types:?}");
    for source_type in &source_types {
        assert!(
            EXAMPLE.contains(&format!("type = \"{source_type}\"")),
            "no feed source of type {source_type} ({source_types:?})"
        );
        let keys = keys_of::<FeedSource>(table("type", source_type));
        sections.push((format!("feed.source({source_type})"), keys));
    }
    let mut missing = Vec::new();
    for (section, keys) in &sections {
        assert!(!keys.is_empty(), "no keys found for {section}");
        missing.extend(keys.iter().filter(|k| !documented(EXAMPLE, k)).map(|k| format!("{section}.{k}")));
    }
    assert!(missing.is_empty(), "examples/exporter.toml does not document: {}", missing.join(", "));
}
