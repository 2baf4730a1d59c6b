//! `${VAR}` interpolation in every string of the parsed file.

use super::Problem;

/// Replaces every `${NAME}` in the strings of `value` from `lookup`; a name that is not
/// set is a problem at that key. `$${` writes a literal `${`.
pub fn interpolate(
    value: &mut toml::Value,
    key: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<Problem>,
) {
    match value {
        toml::Value::String(s) if s.contains('$') => *s = expand(s, key, lookup, problems),
        toml::Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                interpolate(item, &format!("{key}[{i}]"), lookup, problems);
            }
        }
        toml::Value::Table(table) => {
            for (k, v) in table.iter_mut() {
                let path = if key.is_empty() { k.clone() } else { format!("{key}.{k}") };
                interpolate(v, &path, lookup, problems);
            }
        }
        _ => {}
    }
}

fn expand(text: &str, key: &str, lookup: &dyn Fn(&str) -> Option<String>, problems: &mut Vec<Problem>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        if let Some(literal) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = literal;
        } else if let Some(var) = after.strip_prefix("${") {
            match var.find('}') {
                Some(end) => {
                    let name = &var[..end];
                    match lookup(name) {
                        Some(v) => out.push_str(&v),
                        None => problems.push(Problem {
                            key: key.to_owned(),
                            why: format!(
                                "environment variable `{name}` is not set (set it, or write $${{ for a literal ${{)"
                            ),
                        }),
                    }
                    rest = &var[end + 1..];
                }
                None => {
                    problems.push(Problem { key: key.to_owned(), why: "`${` without a closing `}`".to_owned() });
                    out.push_str(after);
                    rest = "";
                }
            }
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> (String, Vec<Problem>) {
        let lookup = |name: &str| (name == "PW").then(|| "s3cret".to_owned());
        let mut problems = Vec::new();
        (expand(text, "k", &lookup, &mut problems), problems)
    }

    #[test]
    fn expands_known_variables_and_reports_unknown_ones() {
        assert_eq!(run("redis://:${PW}@h/0").0, "redis://:s3cret@h/0");
        assert_eq!(run("cost $5 and $${PW}").0, "cost $5 and ${PW}");
        let (_, problems) = run("${NOPE}x");
        assert_eq!(problems.len(), 1);
        assert!(problems[0].why.contains("`NOPE` is not set"));
        assert_eq!(run("${PW").1.len(), 1);
    }
}
