use std::path::Path;

/// The shipped alert rules (`dashboards/prometheus/alerts.yml`) with every `for:` duration
/// divided by `divisor`, so alerts meant to wait minutes wait seconds in tests and demos.
pub fn scaled_alert_rules(divisor: u32) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dashboards/prometheus/alerts.yml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(|line| match line.trim_start().strip_prefix("for: ") {
            Some(d) => {
                let scaled = parse_duration(d.trim()) / divisor;
                format!("{}for: {}ms", &line[..line.len() - line.trim_start().len()], scaled.as_millis())
            }
            None => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Prometheus durations as the rules use them: a number and one unit (s, m, h).
fn parse_duration(text: &str) -> std::time::Duration {
    let (number, unit) = text.split_at(text.len() - 1);
    let n: u64 = number.parse().unwrap_or_else(|_| panic!("`{text}` is not a duration like 5m"));
    std::time::Duration::from_secs(match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => panic!("`{text}`: unit must be s, m or h"),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_shrink() {
        let rules = super::scaled_alert_rules(60);
        assert!(rules.contains("for: 1000ms") && !rules.contains("for: 1m"));
    }
}
