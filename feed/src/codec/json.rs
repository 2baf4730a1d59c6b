use super::{DecodeError, FeedRecord};

/// Appends the canonical JSON form of `record` to `out` (no trailing newline).
pub fn encode<T: FeedRecord>(record: &T, out: &mut Vec<u8>) {
    // Serializing our own plain structs into a Vec cannot fail: no maps with non-string
    // keys, no I/O.
    serde_json::to_writer(out, record).expect("feed records always serialize to JSON");
}

/// Parses one record from its canonical JSON form, naming the offending field on error.
///
/// The happy path is plain serde_json; only a record that fails is parsed a second time
/// with path tracking, so that naming the field costs nothing on good input.
pub fn decode<T: FeedRecord>(bytes: &[u8]) -> Result<T, DecodeError> {
    serde_json::from_slice(bytes).map_err(|_| explain::<T>(bytes))
}

fn explain<T: FeedRecord>(bytes: &[u8]) -> DecodeError {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Err(e) => {
            let path = e.path().to_string();
            let message = e.into_inner().to_string();
            let field = if path != "." { Some(path) } else { field_named_in(&message) };
            DecodeError { field, ..DecodeError::new(format!("not a valid {}: {message}", T::NAME)) }
        }
        Ok(_) => match de.end() {
            Err(e) => DecodeError::new(format!("trailing data after the {}: {e}", T::NAME)),
            Ok(()) => DecodeError::new(format!("not a valid {}", T::NAME)),
        },
    }
}

/// serde names a missing or unknown top-level field only in its message (`missing field
/// `price``); lift it out so the error can name it like any other. Config readers use it
/// for the same reason.
pub fn field_named_in(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `").or_else(|| message.strip_prefix("unknown field `"))?;
    Some(rest.split('`').next()?.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Trade;

    const GOOD: &str = r#"{"venue":"binance","symbol":"BTCUSDT","seq":7,"ts_ns":1700000000000000000,"price":42000.1,"qty":0.5,"side":"buy"}"#;

    #[test]
    fn round_trips_bytes_exactly() {
        let trade: Trade = decode(GOOD.as_bytes()).unwrap();
        let mut out = Vec::new();
        encode(&trade, &mut out);
        assert_eq!(std::str::from_utf8(&out).unwrap(), GOOD);
    }

    #[test]
    fn names_a_missing_field() {
        let err = decode::<Trade>(br#"{"venue":"v","symbol":"S","seq":1,"ts_ns":1,"qty":1,"side":"buy"}"#).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("price"));
    }

    #[test]
    fn names_a_field_of_the_wrong_type() {
        let bad = GOOD.replace("42000.1", "\"high\"");
        let err = decode::<Trade>(bad.as_bytes()).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("price"));
        assert!(err.to_string().contains("field `price`"), "{err}");
    }

    #[test]
    fn rejects_trailing_garbage() {
        let bad = format!("{GOOD} x");
        assert!(decode::<Trade>(bad.as_bytes()).is_err());
    }
}
