use super::{SendFuture, Sink, require};
use crate::run::source::Outgoing;
use serde::Deserialize;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

/// `kind = "file"`: every message written to a file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSinkConfig {
    /// Output path (`.jsonl`).
    pub path: Option<PathBuf>,
}

impl FileSinkConfig {
    pub fn validate(&self, key: &str, problems: &mut Vec<String>) {
        require(problems, key, "file", "path", self.path.is_some());
    }
}

/// JSON Lines, one message per line.
pub struct FileSink {
    out: BufWriter<File>,
}

impl FileSink {
    pub fn new(config: &FileSinkConfig) -> Result<FileSink, String> {
        let path = config.path.as_ref().ok_or("needs a path")?;
        let file = File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(FileSink { out: BufWriter::new(file) })
    }
}

impl Sink for FileSink {
    fn send<'a>(&'a mut self, batch: &'a [Outgoing]) -> SendFuture<'a> {
        Box::pin(async move {
            for m in batch {
                self.out.write_all(&m.payload).map_err(|e| e.to_string())?;
                self.out.write_all(b"\n").map_err(|e| e.to_string())?;
            }
            Ok(())
        })
    }

    fn finish(&mut self) -> SendFuture<'_> {
        Box::pin(async move { self.out.flush().map_err(|e| e.to_string()) })
    }
}
