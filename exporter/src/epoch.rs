//! Timestamps as feeds and databases write them: epoch numbers in seconds, milliseconds,
//! microseconds or nanoseconds, told apart by their size.

use std::time::{SystemTime, UNIX_EPOCH};

/// Epoch seconds, ms, us or ns (any date between 1973 and 5138) as milliseconds.
pub fn epoch_to_ms(value: f64) -> f64 {
    match value.abs() {
        v if v < 1e11 => value * 1e3,
        v if v < 1e14 => value,
        v if v < 1e17 => value / 1e3,
        _ => value / 1e6,
    }
}

/// Now, in milliseconds since the epoch.
pub fn now_ms() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64() * 1e3).unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::epoch_to_ms;

    #[test]
    fn units_follow_from_size() {
        assert_eq!(epoch_to_ms(1_700_000_000.0), 1_700_000_000_000.0);
        assert_eq!(epoch_to_ms(1_700_000_000_000.0), 1_700_000_000_000.0);
        assert_eq!(epoch_to_ms(1_700_000_000_000_000.0), 1_700_000_000_000.0);
        assert_eq!(epoch_to_ms(1_700_000_000_000_000_000.0), 1_700_000_000_000.0);
    }
}
