use std::fmt;

/// Why a kit server could not be started or used; the message says what to do.
#[derive(Debug)]
pub struct KitError(pub String);

/// Result of kit operations.
pub type Result<T> = std::result::Result<T, KitError>;

impl fmt::Display for KitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KitError {}

impl From<std::io::Error> for KitError {
    fn from(e: std::io::Error) -> Self {
        KitError(format!("test kit I/O error: {e}"))
    }
}
