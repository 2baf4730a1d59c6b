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
