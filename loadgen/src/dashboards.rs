//! `run --dashboards DIR`: the panels of the Grafana dashboards in DIR with their queries
//! made runnable against Prometheus (Grafana's `$__rate_interval`, `$__interval`,
//! `$__range` and template variables resolved to match everything), so that every panel
//! can be proven to show data for the run, as the dashboard opened at its end over the
//! run's time range would, instead of assumed to.

use serde_json::Value;
use std::path::Path;

/// One panel and its queries; it shows data when any of them returns some.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    /// `dashboard file: panel title`.
    pub name: String,
    /// The queries as written (see [`resolve`]).
    pub exprs: Vec<String>,
}

/// Every panel with a query (rows' panels included) of every `*.json` dashboard in `dir`,
/// in file order; hidden queries are left out.
pub fn read(dir: &Path) -> Result<Vec<Panel>, String> {
    let shown = dir.display();
    let entries = std::fs::read_dir(dir).map_err(|e| format!("--dashboards {shown}: {e}"))?;
    let mut files: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("--dashboards {shown}: no *.json dashboards in it"));
    }
    let mut queries = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let board: Value = serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", file.display()))?;
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        collect(&name, &board, &mut queries);
    }
    Ok(queries)
}

fn collect(board: &str, node: &Value, out: &mut Vec<Panel>) {
    for panel in node["panels"].as_array().into_iter().flatten() {
        let title = panel["title"].as_str().unwrap_or("(untitled)");
        let targets = panel["targets"].as_array().into_iter().flatten().filter(|t| t["hide"] != true);
        let exprs: Vec<String> = targets.filter_map(|t| t["expr"].as_str()).map(str::to_owned).collect();
        if !exprs.is_empty() {
            out.push(Panel { name: format!("{board}: {title}"), exprs });
        }
        collect(board, panel, out);
    }
}

/// Grafana's macros as a default Grafana with a 15 s scrape would fill them in, and each
/// label matcher on a template variable as matching every value.
pub fn resolve(expr: &str, range_seconds: u64) -> String {
    let range = range_seconds.max(1);
    let mut text = expr
        .replace("$__rate_interval", "1m")
        .replace("${__rate_interval}", "1m")
        .replace("$__interval_ms", "15000")
        .replace("$__interval", "15s")
        .replace("${__interval}", "15s")
        .replace("$__range_s", &range.to_string())
        .replace("$__range_ms", &(range * 1000).to_string())
        .replace("$__range", &format!("{range}s"))
        .replace("${__range}", &format!("{range}s"));
    // `label OP "...$var..."` becomes `label=~".*"` for every matcher operator.
    let mut out = String::with_capacity(text.len());
    while let Some(quote) = text.find('"') {
        let Some(len) = text[quote + 1..].find('"') else { break };
        let value = &text[quote + 1..quote + 1 + len];
        let before = text[..quote].trim_end();
        let op = ["=~", "!~", "!=", "="].into_iter().find(|op| before.ends_with(op));
        match op {
            Some(op) if value.contains('$') || value.contains("[[") => {
                out.push_str(before[..before.len() - op.len()].trim_end());
                out.push_str("=~\".*\"");
            }
            _ => out.push_str(&text[..quote + len + 2]),
        }
        text = text[quote + len + 2..].to_owned();
    }
    out.push_str(&text);
    out
}

#[cfg(test)]
mod tests {
    use super::resolve;

    #[test]
    fn macros_and_variables_resolve() {
        assert_eq!(
            resolve(
                r#"sum by (target) (rate(redis_commands_processed_total{target="$target"}[$__rate_interval]))"#,
                90
            ),
            r#"sum by (target) (rate(redis_commands_processed_total{target=~".*"}[1m]))"#
        );
        assert_eq!(
            resolve(r#"x{a=~"${a:regex}", b != "[[b]]", c="keep"}[$__range] offset $__interval"#, 90),
            r#"x{a=~".*", b=~".*", c="keep"}[90s] offset 15s"#
        );
        assert_eq!(resolve("up", 0), "up");
    }
}
