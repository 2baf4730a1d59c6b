//! Reading Prometheus's text exposition in assertions.

/// The value of the first series of `name` that has every label of `labels` (exactly that
/// label name with exactly that value; other labels may be there too).
pub fn value(exposition: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    values(exposition, name, labels).into_iter().next()
}

/// The values of every series of `name` that has every label of `labels`, in order.
pub fn values(exposition: &str, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
    exposition
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|line| {
            let series = Series::parse(line)?;
            let has = |(k, val): &(&str, &str)| series.labels.iter().any(|(sk, sv)| sk == k && sv == val);
            (series.name == name && labels.iter().all(has)).then_some(series.value)
        })
        .collect()
}

/// One line of the exposition: `name{a="x",b="y"} value [timestamp]`.
struct Series<'a> {
    name: &'a str,
    /// Label names and their unescaped values.
    labels: Vec<(&'a str, String)>,
    value: f64,
}

impl Series<'_> {
    fn parse(line: &str) -> Option<Series<'_>> {
        let name_end = line.find(['{', ' '])?;
        let (name, mut rest) = line.split_at(name_end);
        let mut labels = Vec::new();
        if let Some(after) = rest.strip_prefix('{') {
            rest = after;
            loop {
                rest = rest.trim_start_matches(',');
                if let Some(after) = rest.strip_prefix('}') {
                    rest = after;
                    break;
                }
                let (key, after) = rest.split_once("=\"")?;
                let mut value = String::new();
                let mut chars = after.char_indices();
                let end = loop {
                    match chars.next()? {
                        (i, '"') => break i,
                        (_, '\\') => match chars.next()?.1 {
                            'n' => value.push('\n'),
                            c => value.push(c),
                        },
                        (_, c) => value.push(c),
                    }
                };
                labels.push((key, value));
                rest = &after[end + 1..];
            }
        }
        let value = rest.split_whitespace().next()?.parse().ok()?;
        Some(Series { name, labels, value })
    }
}

#[cfg(test)]
mod tests {
    use super::{value, values};

    const TEXT: &str = "# HELP x help\n\
        celery_queue_length{target=\"b\",queue_name=\"enrich\"} 4\n\
        celery_worker_up{target=\"b\",hostname=\"w@h\",name=\"x\"} 1\n\
        odd{target=\"a\\\"b,c\",name=\"n\"} 2.5 1700000000\n\
        plain 7\n";

    #[test]
    fn labels_match_by_name_not_by_suffix() {
        assert_eq!(value(TEXT, "celery_queue_length", &[("name", "enrich")]), None);
        assert_eq!(value(TEXT, "celery_queue_length", &[("queue_name", "enrich")]), Some(4.0));
        assert_eq!(value(TEXT, "celery_worker_up", &[("name", "x")]), Some(1.0));
        assert_eq!(value(TEXT, "celery_worker_up", &[("name", "w@h")]), None);
        assert_eq!(values(TEXT, "celery_queue_length", &[("target", "b")]), vec![4.0]);
        assert_eq!(values(TEXT, "nope", &[]), Vec::<f64>::new());
    }

    #[test]
    fn escapes_commas_and_timestamps_are_read() {
        assert_eq!(value(TEXT, "odd", &[("target", "a\"b,c"), ("name", "n")]), Some(2.5));
        assert_eq!(value(TEXT, "plain", &[]), Some(7.0));
        assert_eq!(value(TEXT, "plai", &[]), None);
    }
}
