//! How Meta writes ids and integers in JSON (webhook bodies and Graph API answers alike):
//! one rule for each, so the two never read the same value differently.

use serde_json::Value;

/// An id given as a string or a number; a blank string is no id. Surrounding whitespace
/// is not part of an id.
pub fn id(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An integer given as a number (also a float with no fraction, within `i64`) or a
/// numeric string. Anything else (a fraction, a value outside `i64`) is no integer.
pub fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e18)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_and_integers_have_one_reading() {
        assert_eq!(id(&json!(" 123 ")), Some("123".into()));
        assert_eq!(id(&json!(123)), Some("123".into()));
        assert_eq!(id(&json!("  ")), None);
        assert_eq!(id(&json!(null)), None);
        assert_eq!(integer(&json!(5)), Some(5));
        assert_eq!(integer(&json!(5.0)), Some(5));
        assert_eq!(integer(&json!("613")), Some(613));
        assert_eq!(integer(&json!(5.5)), None);
        assert_eq!(integer(&json!(1e19)), None);
        assert_eq!(integer(&json!(true)), None);
    }
}
