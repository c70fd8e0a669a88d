//! A small, hand-written check of tool arguments against the tool's input schema.
//!
//! Not a JSON Schema validator: it checks what catches most model mistakes, precisely —
//! `required` properties, the primitive `type` of each declared property (a string or a
//! list of types), `enum` membership and `additionalProperties: false`. Anything richer
//! (formats, ranges, nested objects) is left to the tool.

use serde_json::{Map, Value};

/// Why arguments do not fit the schema. The message names the argument.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgumentError {
    /// A `required` property is absent.
    #[error("missing required argument `{0}`")]
    Missing(String),
    /// A property has the wrong JSON type.
    #[error("argument `{name}` must be {expected}, got {found}")]
    WrongType {
        /// The argument.
        name: String,
        /// The schema's type(s), e.g. `"a string"` or `"one of: string, null"`.
        expected: String,
        /// The JSON type received.
        found: &'static str,
    },
    /// A value outside the property's `enum`.
    #[error("argument `{name}` must be one of {allowed}, got {found}")]
    NotAllowed {
        /// The argument.
        name: String,
        /// The allowed values, as JSON.
        allowed: String,
        /// The value received, as JSON (truncated).
        found: String,
    },
    /// An argument the schema does not declare, with `additionalProperties: false`.
    #[error("unexpected argument `{name}`; this tool accepts {accepted}")]
    Unexpected {
        /// The argument.
        name: String,
        /// The declared properties, or "no arguments".
        accepted: String,
    },
}

/// The JSON type name of `value` as JSON Schema spells it (integers are `"integer"`).
pub fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(n) if n.as_f64().is_some_and(|f| f.fract() == 0.0) => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_matches(expected: &str, value: &Value) -> bool {
    let actual = json_type(value);
    expected == actual || (expected == "number" && actual == "integer")
}

/// Checks `args` against `schema` (an object schema). Unknown schema shapes pass.
pub fn check_arguments(schema: &Value, args: &Map<String, Value>) -> Result<(), ArgumentError> {
    let empty = Map::new();
    let properties = schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);

    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        for name in required.iter().filter_map(Value::as_str) {
            if !args.contains_key(name) {
                return Err(ArgumentError::Missing(name.to_owned()));
            }
        }
    }

    // Deterministic order: check arguments sorted by name.
    let mut names: Vec<&String> = args.keys().collect();
    names.sort();
    for name in names {
        let Some(value) = args.get(name) else {
            continue;
        };
        let Some(property) = properties.get(name) else {
            if schema.get("additionalProperties") == Some(&Value::Bool(false)) {
                let accepted = if properties.is_empty() {
                    "no arguments".to_owned()
                } else {
                    let mut keys: Vec<&str> = properties.keys().map(String::as_str).collect();
                    keys.sort_unstable();
                    format!("only: {}", keys.join(", "))
                };
                return Err(ArgumentError::Unexpected {
                    name: name.clone(),
                    accepted,
                });
            }
            continue;
        };
        check_type(name, property, value)?;
        if let Some(allowed) = property.get("enum").and_then(Value::as_array)
            && !allowed.contains(value)
        {
            return Err(ArgumentError::NotAllowed {
                name: name.clone(),
                allowed: Value::Array(allowed.clone()).to_string(),
                found: value.to_string().chars().take(80).collect(),
            });
        }
    }
    Ok(())
}

fn check_type(name: &str, property: &Value, value: &Value) -> Result<(), ArgumentError> {
    let expected: Vec<&str> = match property.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => return Ok(()),
    };
    if expected.is_empty() || expected.iter().any(|t| type_matches(t, value)) {
        return Ok(());
    }
    let expected = match expected.as_slice() {
        [one] => with_article(one),
        many => format!("one of: {}", many.join(", ")),
    };
    Err(ArgumentError::WrongType {
        name: name.to_owned(),
        expected,
        found: json_type(value),
    })
}

fn with_article(type_name: &str) -> String {
    match type_name {
        "integer" | "object" | "array" => format!("an {type_name}"),
        "null" => "null".to_owned(),
        _ => format!("a {type_name}"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // test code: a panic is a test failure
mod tests {
    use super::*;
    use serde_json::json;

    fn args(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "login": { "type": "string" },
                "count": { "type": "integer" },
                "ratio": { "type": "number" },
                "note": { "type": ["string", "null"] },
                "mode": { "type": "string", "enum": ["fast", "slow"] }
            },
            "required": ["login"],
            "additionalProperties": false
        })
    }

    #[test]
    fn valid_arguments_pass() {
        let ok =
            args(json!({"login": "octocat", "count": 3, "ratio": 2, "note": null, "mode": "fast"}));
        assert_eq!(check_arguments(&schema(), &ok), Ok(()));
        // 2.0 counts as an integer, integers as numbers.
        let ok = args(json!({"login": "x", "count": 2.0, "ratio": 0.5}));
        assert_eq!(check_arguments(&schema(), &ok), Ok(()));
    }

    #[test]
    fn missing_required_names_the_argument() {
        let err = check_arguments(&schema(), &args(json!({"count": 1}))).unwrap_err();
        assert_eq!(err.to_string(), "missing required argument `login`");
    }

    #[test]
    fn wrong_types_are_precise() {
        let err = check_arguments(&schema(), &args(json!({"login": 42}))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "argument `login` must be a string, got integer"
        );
        let err =
            check_arguments(&schema(), &args(json!({"login": "a", "count": 1.5}))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "argument `count` must be an integer, got number"
        );
        let err = check_arguments(&schema(), &args(json!({"login": "a", "note": 1}))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "argument `note` must be one of: string, null, got integer"
        );
    }

    #[test]
    fn enum_and_additional_properties() {
        let err =
            check_arguments(&schema(), &args(json!({"login": "a", "mode": "medium"}))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "argument `mode` must be one of [\"fast\",\"slow\"], got \"medium\""
        );
        let err = check_arguments(&schema(), &args(json!({"login": "a", "zzz": 1}))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unexpected argument `zzz`; this tool accepts only: count, login, mode, note, ratio"
        );
        let none = json!({"type": "object", "additionalProperties": false});
        let err = check_arguments(&none, &args(json!({"x": 1}))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unexpected argument `x`; this tool accepts no arguments"
        );
        // Open schemas accept extra arguments.
        assert_eq!(
            check_arguments(&json!({"type": "object"}), &args(json!({"x": 1}))),
            Ok(())
        );
    }
}
