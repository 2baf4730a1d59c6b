//! Why a probe or a background connection failed: the bounded `reason` label of
//! `tickwatch_probe_errors_total` and `websocket_errors_total`. A leaf module, so every
//! module that can fail names its reasons here and control flow matches variants, never
//! label strings.

use std::fmt;

/// One failure reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// No answer within the scrape's budget (or the connect timeout).
    Timeout,
    /// The server could not be reached, or the connection broke.
    Connection,
    /// The server refused the credentials.
    Auth,
    /// The server answered a command with an error.
    Command,
    /// The target's URI or settings cannot be used by the driver.
    Config,
    /// A background subscription (monitor, feed source) is not open.
    Disconnected,
    /// The TLS handshake failed (untrusted, expired or wrong-host certificate).
    Tls,
    /// A frame or message was larger than `max_message_bytes`.
    TooLarge,
    /// A text frame was not valid UTF-8.
    InvalidUtf8,
    /// The server closed the connection.
    Closed,
    /// The HTTP upgrade failed.
    Handshake,
    /// The server broke the WebSocket protocol.
    Protocol,
    /// A ping was not answered before the next one was due.
    PingTimeout,
    /// The first data message did not match the target's `expect`.
    ExpectMismatch,
    /// The probe panicked (a bug: please report it); only its own target fails.
    Panic,
}

impl Reason {
    /// Every reason, in the order the README lists them.
    pub const ALL: [Reason; 15] = [
        Reason::Timeout,
        Reason::Connection,
        Reason::Auth,
        Reason::Command,
        Reason::Config,
        Reason::Disconnected,
        Reason::Tls,
        Reason::TooLarge,
        Reason::InvalidUtf8,
        Reason::Closed,
        Reason::Handshake,
        Reason::Protocol,
        Reason::PingTimeout,
        Reason::ExpectMismatch,
        Reason::Panic,
    ];

    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::Timeout => "timeout",
            Reason::Connection => "connection",
            Reason::Auth => "auth",
            Reason::Command => "command",
            Reason::Config => "config",
            Reason::Disconnected => "disconnected",
            Reason::Tls => "tls",
            Reason::TooLarge => "too_large",
            Reason::InvalidUtf8 => "invalid_utf8",
            Reason::Closed => "closed",
            Reason::Handshake => "handshake",
            Reason::Protocol => "protocol",
            Reason::PingTimeout => "ping_timeout",
            Reason::ExpectMismatch => "expect_mismatch",
            Reason::Panic => "panic",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Reason;

    #[test]
    fn the_readme_names_every_reason() {
        let readme = include_str!("../../README.md");
        for reason in Reason::ALL {
            assert!(readme.contains(&format!("`{reason}`")), "README.md does not list the reason `{reason}`");
        }
    }
}
