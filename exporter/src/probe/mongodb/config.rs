//! `[[mongodb]]`: the MongoDB probe's deployments.

use crate::config::{Config, Target, TargetProblems, check_tls, check_url};
use serde::Deserialize;
use std::time::Duration;
use tickwatch_common::tls::TlsConfig;
use tickwatch_common::{default, duration};

/// `[[mongodb]]`: one MongoDB deployment.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MongoTarget {
    /// Unique target name.
    pub name: String,
    /// `mongodb://[user:password@]host:port/?options`, or `mongodb+srv://[user:password@]name/?options`
    /// (hosts from the name's SRV records, options from its TXT record, through the
    /// system's resolver; TLS is on unless the URI says `tls=false`).
    pub uri: String,
    /// TLS: `{ ca_file, cert_file, key_file, insecure_skip_verify }` (Prometheus's names;
    /// `server_name` is not supported). It replaces the URI's own `tls=true&tlsCAFile=...`
    /// options; without it, those apply.
    pub tls_config: Option<TlsConfig>,
    /// Databases to report `dbStats` for.
    #[serde(default)]
    pub databases: Vec<String>,
    /// Collections to report count, size and freshness for.
    #[serde(default)]
    pub collections: Vec<CollectionRef>,
}

/// One collection of a `[[mongodb]]` target, or every collection of `db` whose name
/// matches `pattern`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectionRef {
    pub db: String,
    /// The collection's name; or set `pattern` instead.
    pub name: Option<String>,
    /// A shell pattern (`*`, `?`, `[abc]`) of collection names in `db`: listed again every
    /// `discovery_interval`, at most `max_keys` collections in all
    /// (`tickwatch_discovery_truncated{what="collections"}` says when it bites).
    pub pattern: Option<String>,
    /// Field holding each document's time (a BSON date, epoch seconds/ms/us/ns, or an
    /// RFC 3339 string): the newest document's age says whether writers are alive; when
    /// the field is indexed, documents written in the last minute are counted too.
    pub time_field: Option<String>,
    /// With `time_field`: the newest document may be this old before
    /// MongoDBCollectionNotWritten fires (exported as
    /// `mongodb_collection_max_age_seconds`). Default `5m`.
    #[serde(default = "default::secs::<300>", deserialize_with = "duration::deserialize")]
    pub max_age: Duration,
}

impl Target for MongoTarget {
    fn name(&self) -> &str {
        &self.name
    }

    fn tls_context(&self) -> Option<String> {
        let tls = self.tls_config.as_ref()?;
        let host = url::Url::parse(&self.uri).ok()?.host_str().unwrap_or_default().to_owned();
        Some(tls.context(&host))
    }

    fn validate(&self, _config: &Config, problems: &mut TargetProblems) {
        for (i, collection) in self.collections.iter().enumerate() {
            match (&collection.name, &collection.pattern) {
                (Some(_), None) => {}
                (None, Some(pattern)) => {
                    if let Err(e) = glob::Pattern::new(pattern) {
                        problems.at(
                            &format!("collections[{i}].pattern"),
                            format!("`{pattern}` is not a shell pattern: {e}"),
                        );
                    }
                }
                _ => problems.at(&format!("collections[{i}]"), "set either name or pattern"),
            }
        }
        if let Some(tls) = &self.tls_config {
            check_tls(tls, true, "mongodb://", problems);
            if let Err(why) = tls.refuse_server_name("MongoDB") {
                problems.at("tls_config.server_name", why);
            }
        }
        if let Err(why) = check_url(&self.uri, &["mongodb", "mongodb+srv"]) {
            problems.at("uri", why);
        }
    }
}
