//! Decoding JSON request bodies into typed inputs, with errors that name the exact field.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::Error;

/// Deserialises `value` into `T`. On failure the error names the field, prefixed with `at`
/// (e.g. `events[3].actor.email`; a missing field is named itself, not its parent).
pub fn from_value<T: DeserializeOwned>(value: Value, at: &str) -> Result<T, Error> {
    if !value.is_object() {
        let field = if at.is_empty() { "body" } else { at };
        return Err(Error::invalid(field, "must be a JSON object"));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let mut field = if path == "." { String::new() } else { path };
        let message = e.inner().to_string();
        // "missing field `x`" is reported at the parent; the caller wants to hear about `x`.
        if let Some(name) = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
        {
            field = if field.is_empty() {
                name.to_string()
            } else {
                format!("{field}.{name}")
            };
        }
        Error::invalid(field_path(at, &field), message)
    })
}

/// `at.field`, or whichever is not empty (`body` when both are).
pub fn field_path(at: &str, field: &str) -> String {
    match (at.is_empty(), field.is_empty()) {
        (true, true) => "body".into(),
        (true, false) => field.to_string(),
        (false, true) => at.to_string(),
        (false, false) => format!("{at}.{field}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        b: u8,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        a: String,
        inner: Inner,
    }

    fn field(r: Result<Outer, Error>) -> String {
        match r {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn names_the_field() {
        assert_eq!(field(from_value(json!({"inner": {"b": 1}}), "")), "a");
        assert_eq!(
            field(from_value(json!({"a": "x", "inner": {}}), "")),
            "inner.b"
        );
        assert_eq!(
            field(from_value(json!({"a": "x", "inner": {"b": 300}}), "")),
            "inner.b"
        );
        assert_eq!(
            field(from_value(json!({"a": "x", "inner": {"b": 1}, "z": 1}), "")),
            "z"
        );
        assert_eq!(
            field(from_value(json!({"a": 1, "inner": {"b": 1}}), "events[2]")),
            "events[2].a"
        );
        assert_eq!(field(from_value(json!([1]), "")), "body");
        assert_eq!(field(from_value(json!(1), "events[0]")), "events[0]");
    }
}
