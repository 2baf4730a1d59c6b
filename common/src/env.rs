//! `${VAR}` and `${VAR:-default}` in every string of a parsed config or scenario file, so
//! credentials and host names come from the environment. It works on parsed values, not
//! on the text, so a value holding quotes cannot change the file's structure.

/// What a variable is read from (the process environment, or a test's table).
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Replaces every `${NAME}` and `${NAME:-default}` in the strings of `value` (a table's
/// keys are paths like `sink[0].url`); an unset `NAME` without a default is reported as
/// `(key, why)`. `$${` writes a literal `${`.
pub fn interpolate(value: &mut toml::Value, key: &str, lookup: Lookup, problems: &mut Vec<(String, String)>) {
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

fn expand(text: &str, key: &str, lookup: Lookup, problems: &mut Vec<(String, String)>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        if let Some(literal) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = literal;
        } else if let Some(var) = after.strip_prefix("${") {
            let Some(end) = var.find('}') else {
                problems.push((key.to_owned(), "`${` without a closing `}`".to_owned()));
                out.push_str(after);
                return out;
            };
            let (name, default) = match var[..end].split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (&var[..end], None),
            };
            match (lookup(name), default) {
                (Some(v), _) => out.push_str(&v),
                (None, Some(default)) => out.push_str(default),
                (None, None) => problems.push((
                    key.to_owned(),
                    format!(
                        "environment variable `{name}` is not set (set it, give a default as ${{{name}:-value}}, or write $${{ for a literal ${{)"
                    ),
                )),
            }
            rest = &var[end + 1..];
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

    fn run(text: &str) -> (String, Vec<(String, String)>) {
        let lookup = |name: &str| (name == "PW").then(|| "s3cret".to_owned());
        let mut problems = Vec::new();
        (expand(text, "k", &lookup, &mut problems), problems)
    }

    #[test]
    fn expands_known_variables_and_defaults_and_reports_unknown_ones() {
        assert_eq!(run("redis://:${PW}@h/0").0, "redis://:s3cret@h/0");
        assert_eq!(run("redis://${HOST:-127.0.0.1}:${PORT:-6379}/0").0, "redis://127.0.0.1:6379/0");
        assert_eq!(run("${PW:-unused}").0, "s3cret");
        assert_eq!(run("${EMPTY:-}x").0, "x");
        assert_eq!(run("cost $5 and $${PW}").0, "cost $5 and ${PW}");
        let (_, problems) = run("${NOPE}x");
        assert_eq!(problems.len(), 1);
        assert!(problems[0].1.contains("`NOPE` is not set"));
        assert_eq!(run("${PW").1.len(), 1);
    }
}
