//! Tool schemas: derived from Rust types ([`input_schema_for`], [`output_schema_for`]),
//! and a small, hand-written check of a JSON object against one ([`check_arguments`]).
//!
//! Derived schemas are made portable — the forms every client validator accepts: no
//! `$schema`, every subschema inlined (no `$ref`/`$defs` for non-recursive types), only the
//! standard `format`s, and no `"type": [T, "null"]` arrays: an `Option` argument is simply
//! not required, and a nullable output field is `anyOf: [{T}, {"type": "null"}]`.
//!
//! The check is not a JSON Schema validator: it checks what catches most model mistakes,
//! precisely — `required` properties, the primitive `type` of each declared property (a
//! string or a list of types), `enum` membership and `additionalProperties: false`.
//! Anything richer (formats, ranges, nested objects) is left to serde and the tool. A
//! `null` for a property that is not required counts as absent (serde reads it as `None`).

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use schemars::transform::RestrictFormats;
use serde_json::{Map, Value};

/// The input schema of a tool whose arguments are `T` (deserialized from the arguments
/// object): see the module docs for the portable form.
pub fn input_schema_for<T: JsonSchema>() -> Value {
    let mut schema = generate::<T>(SchemaSettings::draft2020_12().for_deserialize());
    portable(&mut schema, Nullable::Drop);
    if let Value::Object(map) = &mut schema
        && !map.contains_key("properties")
        && map.get("type").and_then(Value::as_str) == Some("object")
    {
        map.insert("properties".into(), Value::Object(Map::new()));
    }
    schema
}

/// The output schema of a tool whose structured output is `T` (serialized).
pub fn output_schema_for<T: JsonSchema>() -> Value {
    let mut schema = generate::<T>(SchemaSettings::draft2020_12().for_serialize());
    portable(&mut schema, Nullable::AnyOf);
    schema
}

/// Checks that `schema` is a form MCP elicitation allows (`requestedSchema`): an object
/// whose properties are each a string (with `format`, `enum` or `oneOf` choices), a
/// number, an integer, a boolean, or an array of such choices (multi-select). `Err`
/// names the first field that is not, and why.
///
/// ```
/// use keycard_core::tools::schema::check_form_schema;
/// use serde_json::json;
/// assert!(check_form_schema(&json!({"type": "object", "properties": {
///     "name": {"type": "string"}, "age": {"type": "integer"},
///     "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}}}})).is_ok());
/// let nested = json!({"type": "object", "properties": {"address": {"type": "object"}}});
/// assert!(check_form_schema(&nested).unwrap_err().contains("`address`"));
/// ```
pub fn check_form_schema(schema: &Value) -> Result<(), String> {
    if schema.get("type").and_then(Value::as_str) != Some("object") {
        return Err("an elicitation form must be an object schema".into());
    }
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return Ok(());
    };
    for (name, field) in properties {
        let kind = field.get("type").and_then(Value::as_str);
        let fine = match kind {
            Some("string" | "number" | "integer" | "boolean") => true,
            Some("array") => field.get("items").is_some_and(|items| {
                items.get("enum").is_some()
                    || items.get("anyOf").is_some()
                    || items.get("oneOf").is_some()
            }),
            _ => false,
        };
        if !fine {
            return Err(format!(
                "elicitation forms hold only strings, numbers, integers, booleans and enum choices: field `{name}` is {}",
                match kind {
                    Some(k) => format!("of type {k}"),
                    None => "of no single type (an Option of a struct, an untagged enum…?)".into(),
                }
            ));
        }
    }
    Ok(())
}

/// Alias of [`output_schema_for`], for [`super::Json`].
pub(crate) fn schema_for<T: JsonSchema>() -> Value {
    output_schema_for::<T>()
}

fn generate<T: JsonSchema>(settings: SchemaSettings) -> Value {
    let settings = settings
        .with(|s| s.inline_subschemas = true)
        .with_transform(RestrictFormats::default());
    settings
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Nullable {
    /// `[T, "null"]` → `T` (the property is optional instead).
    Drop,
    /// `[T, "null"]` → `anyOf: [{T}, {null}]`.
    AnyOf,
}

fn portable(schema: &mut Value, nullable: Nullable) {
    if let Value::Object(map) = schema {
        // The root's `title` is the Rust type's name and its description the type's doc
        // comment: noise for a client, which has the tool's own description.
        for key in ["$schema", "title", "description"] {
            map.remove(key);
        }
    }
    walk(schema, nullable);
}

/// Whether this node's `null` alternative goes away (`Drop` mode, and it had one).
fn nullable_dropped(map: &Map<String, Value>, nullable: Nullable) -> bool {
    nullable == Nullable::Drop
        && map
            .get("type")
            .and_then(Value::as_array)
            .is_some_and(|t| t.iter().any(|t| t.as_str() == Some("null")))
}

fn walk(schema: &mut Value, nullable: Nullable) {
    match schema {
        Value::Object(map) => {
            if nullable_dropped(map, nullable)
                && let Some(Value::Array(values)) = map.get_mut("enum")
            {
                values.retain(|v| !v.is_null());
            }
            if let Some(Value::Array(types)) = map.get("type").cloned() {
                let others: Vec<Value> = types
                    .iter()
                    .filter(|t| t.as_str() != Some("null"))
                    .cloned()
                    .collect();
                let had_null = others.len() < types.len();
                match (others.as_slice(), had_null, nullable) {
                    ([one], false, _) | ([one], true, Nullable::Drop) => {
                        map.insert("type".into(), one.clone());
                    }
                    (_, true, Nullable::AnyOf) if !others.is_empty() => {
                        map.remove("type");
                        let mut alternatives: Vec<Value> = others
                            .into_iter()
                            .map(|t| serde_json::json!({ "type": t }))
                            .collect();
                        alternatives.push(serde_json::json!({ "type": "null" }));
                        // Keywords of the non-null type (enum, format, items…) stay beside
                        // `anyOf`, where they constrain the non-null alternative too.
                        map.insert("anyOf".into(), Value::Array(alternatives));
                    }
                    _ => {}
                }
            }
            let required: Vec<String> = map
                .get("required")
                .and_then(Value::as_array)
                .map(|r| {
                    r.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            for (key, value) in map.iter_mut() {
                match (key.as_str(), value) {
                    ("properties", Value::Object(properties)) => {
                        for (name, property) in properties.iter_mut() {
                            // A property that may be absent is never null when present
                            // (`skip_serializing_if = "Option::is_none"`): no null branch.
                            let mode = if required.contains(name) {
                                nullable
                            } else {
                                Nullable::Drop
                            };
                            walk(property, mode);
                        }
                    }
                    (_, value) => walk(value, nullable),
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                walk(item, nullable);
            }
        }
        _ => {}
    }
}

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
        let required = schema
            .get("required")
            .and_then(Value::as_array)
            .is_some_and(|r| r.iter().any(|n| n.as_str() == Some(name.as_str())));
        if value.is_null() && !required {
            continue;
        }
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
