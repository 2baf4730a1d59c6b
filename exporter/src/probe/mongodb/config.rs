//! `[[mongodb]]`: the MongoDB probe's deployments.

use crate::config::{Config, Target, TargetProblems, check_url};
use serde::Deserialize;

/// `[[mongodb]]`: one MongoDB deployment.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MongoTarget {
    /// Unique target name.
    pub name: String,
    /// `mongodb://[user:password@]host:port/?options` (`mongodb+srv://` is not supported:
    /// the exporter is built without a DNS resolver).
    pub uri: String,
    /// Databases to report `dbStats` for.
    #[serde(default)]
    pub databases: Vec<String>,
    /// Collections to report count, size and freshness for.
    #[serde(default)]
    pub collections: Vec<CollectionRef>,
}

/// One collection of a `[[mongodb]]` target.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectionRef {
    pub db: String,
    pub name: String,
    /// Field holding each document's time (a BSON date, epoch seconds/ms/us/ns, or an
    /// RFC 3339 string): the newest document's age says whether writers are alive; when
    /// the field is indexed, documents written in the last minute are counted too.
    pub time_field: Option<String>,
}

impl Target for MongoTarget {
    fn name(&self) -> &str {
        &self.name
    }

    fn validate(&self, _config: &Config, problems: &mut TargetProblems) {
        let why = match check_url(&self.uri, &["mongodb", "mongodb+srv"]) {
            Err(why) => why,
            Ok(scheme) if scheme == "mongodb+srv" => {
                "mongodb+srv:// needs DNS SRV lookups, which this build leaves out; list the hosts with mongodb://"
                    .into()
            }
            Ok(_) => return,
        };
        problems.at("uri", why);
    }
}
