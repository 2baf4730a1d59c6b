//! The keys a config table accepts, read from its type.

use serde::de::DeserializeOwned;

/// The keys a table read as `T` accepts, taken from serde's own answer to a key it does
/// not know (`unknown field ..., expected one of ...`), so the list cannot drift from the
/// type. `with` supplies keys and values that must come first, such as an enum's tag.
pub fn keys_of<T: DeserializeOwned>(with: &[(&str, &str)]) -> Vec<String> {
    let mut table: toml::Table =
        with.iter().map(|(k, v)| (k.to_string(), toml::Value::String(v.to_string()))).collect();
    table.insert("__no_such_key".into(), toml::Value::Integer(0));
    expected_by::<T>(toml::Value::Table(table))
}

/// The names of an enum's variants, from serde's answer to one it does not know.
pub fn variants_of<T: DeserializeOwned>() -> Vec<String> {
    expected_by::<T>(toml::Value::String("__no_such_variant".into()))
}

/// What serde says it expected when reading `value` as `T` fails.
fn expected_by<T: DeserializeOwned>(value: toml::Value) -> Vec<String> {
    let Err(e) = value.try_into::<T>() else { return Vec::new() };
    let message = e.to_string();
    let Some((_, expected)) = message.split_once("expected ") else { return Vec::new() };
    // serde lists them as "one of `a`, `b`", "`a` or `b`" or "`a`"; stop where the list ends.
    let mut names = Vec::new();
    for (i, part) in expected.split('`').enumerate().skip(1) {
        match i % 2 {
            1 => names.push(part.to_owned()),
            _ if part == ", " || part == " or " => {}
            _ => break,
        }
    }
    names
}
