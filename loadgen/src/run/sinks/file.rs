use super::{SendFuture, Sink};
use crate::run::source::Outgoing;
use crate::scenario::SinkConfig;
use std::fs::File;
use std::io::{BufWriter, Write};

/// JSON Lines, one message per line.
pub struct FileSink {
    out: BufWriter<File>,
}

impl FileSink {
    pub fn new(config: &SinkConfig) -> Result<FileSink, String> {
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
