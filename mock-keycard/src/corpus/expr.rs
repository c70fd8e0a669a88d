//! Placeholders and the small value language of recipes.
//!
//! Strings may contain `{issuer}`, `{resource}`, `{kid}` (the zone's current signing key
//! id) and `{attacker}` (the base URL of a honeypot that must never be contacted).
//! An object with a single `$`-member is an operator:
//!
//! | operator | result |
//! |---|---|
//! | `{"$now": N}` | now + N seconds (an integer, or a float when N has a fraction) |
//! | `{"$string": X}` | X as a JSON string (`{"$string": {"$now": 600}}` → `"1700000600"`) |
//! | `{"$upper": X}` | X (a string) in upper case |
//! | `{"$repeat": [S, N]}` | the string S repeated N times (N ≤ 1 MiB / len S) |
//! | `{"$jwk": NAME}` | the public JWK of `zone-1`, `other-zone` or `zone-3` |

use serde_json::{Map, Number, Value};

use super::CorpusError;

/// Largest string `$repeat` builds.
const MAX_REPEAT_BYTES: usize = 1024 * 1024;

/// What placeholders and operators expand to.
#[derive(Debug, Clone)]
pub struct Placeholders {
    /// `{issuer}`: the zone's issuer.
    pub issuer: String,
    /// `{resource}`: the MCP server's canonical resource identifier.
    pub resource: String,
    /// `{kid}`: the zone's current signing key id.
    pub kid: String,
    /// `{attacker}`: a URL that must never be fetched.
    pub attacker: String,
    /// Seconds since the Unix epoch.
    pub now: i64,
    /// Public JWKs by key name, for `$jwk`.
    pub jwks: Vec<(String, Value)>,
}

impl Placeholders {
    /// Replaces the `{…}` placeholders in `text`.
    pub fn expand(&self, text: &str) -> String {
        text.replace("{issuer}", &self.issuer)
            .replace("{resource}", &self.resource)
            .replace("{kid}", &self.kid)
            .replace("{attacker}", &self.attacker)
    }

    /// Evaluates a recipe value: placeholders in strings (and object keys), operators.
    pub fn eval(&self, value: &Value) -> Result<Value, CorpusError> {
        match value {
            Value::String(s) => Ok(Value::String(self.expand(s))),
            Value::Array(items) => items.iter().map(|v| self.eval(v)).collect(),
            Value::Object(map) => match operator(map) {
                Some((op, arg)) => self.operator(op, arg),
                None => map
                    .iter()
                    .map(|(k, v)| Ok((self.expand(k), self.eval(v)?)))
                    .collect::<Result<Map<_, _>, _>>()
                    .map(Value::Object),
            },
            other => Ok(other.clone()),
        }
    }

    fn operator(&self, op: &str, arg: &Value) -> Result<Value, CorpusError> {
        let bad = |reason: String| CorpusError::Recipe(format!("{op}: {reason}"));
        match op {
            "$now" => {
                if let Some(offset) = arg.as_i64() {
                    return Ok(Value::from(self.now.saturating_add(offset)));
                }
                let offset = arg
                    .as_f64()
                    .ok_or_else(|| bad("expects a number of seconds".into()))?;
                #[allow(clippy::cast_precision_loss)]
                let at = self.now as f64 + offset;
                Number::from_f64(at)
                    .map(Value::Number)
                    .ok_or_else(|| bad("not a finite number".into()))
            }
            "$string" => Ok(match self.eval(arg)? {
                Value::String(s) => Value::String(s),
                other => Value::String(other.to_string()),
            }),
            "$upper" => match self.eval(arg)? {
                Value::String(s) => Ok(Value::String(s.to_uppercase())),
                _ => Err(bad("expects a string".into())),
            },
            "$repeat" => {
                let (Some(text), Some(count)) = (
                    arg.get(0).map(|v| self.eval(v)).transpose()?,
                    arg.get(1).and_then(Value::as_u64),
                ) else {
                    return Err(bad("expects [string, count]".into()));
                };
                let text = text
                    .as_str()
                    .ok_or_else(|| bad("expects [string, count]".into()))?
                    .to_owned();
                let count = usize::try_from(count).unwrap_or(usize::MAX);
                if text.len().saturating_mul(count) > MAX_REPEAT_BYTES {
                    return Err(bad(format!("more than {MAX_REPEAT_BYTES} bytes")));
                }
                Ok(Value::String(text.repeat(count)))
            }
            "$jwk" => {
                let name = arg
                    .as_str()
                    .ok_or_else(|| bad("expects a key name".into()))?;
                self.jwks
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, jwk)| jwk.clone())
                    .ok_or_else(|| bad(format!("unknown key {name:?}")))
            }
            _ => Err(CorpusError::Recipe(format!("unknown operator {op}"))),
        }
    }
}

/// `Some((op, arg))` when `map` is a single `$`-member object.
fn operator(map: &Map<String, Value>) -> Option<(&str, &Value)> {
    let mut members = map.iter();
    let (key, value) = members.next()?;
    (members.next().is_none() && key.starts_with('$')).then_some((key.as_str(), value))
}

/// Merges `overrides` (already evaluated) into `base`; `null` removes a member.
pub fn merge(base: &mut Map<String, Value>, overrides: Map<String, Value>) {
    for (name, value) in overrides {
        if value.is_null() {
            base.remove(&name);
        } else {
            base.insert(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars() -> Placeholders {
        Placeholders {
            issuer: "http://127.0.0.1:8788".into(),
            resource: "http://127.0.0.1:8787".into(),
            kid: "KID".into(),
            attacker: "http://127.0.0.1:9".into(),
            now: 1_700_000_000,
            jwks: vec![("other-zone".into(), json!({"kty": "RSA"}))],
        }
    }

    #[test]
    fn placeholders_and_operators() {
        let v = vars();
        let input = json!({
            "iss": "{issuer}/",
            "aud": ["{resource}", "x"],
            "exp": {"$now": -31},
            "f": {"$now": 600.5},
            "s": {"$string": {"$now": 600}},
            "u": {"$upper": "{issuer}"},
            "r": {"$repeat": ["ab", 3]},
            "j": {"$jwk": "other-zone"},
            "two": {"$now": 1, "x": 2},
        });
        let out = v.eval(&input).expect("eval");
        assert_eq!(out["iss"], "http://127.0.0.1:8788/");
        assert_eq!(out["aud"], json!(["http://127.0.0.1:8787", "x"]));
        assert_eq!(out["exp"], 1_699_999_969_i64);
        assert_eq!(out["f"], 1_700_000_600.5);
        assert_eq!(out["s"], "1700000600");
        assert_eq!(out["u"], "HTTP://127.0.0.1:8788");
        assert_eq!(out["r"], "ababab");
        assert_eq!(out["j"], json!({"kty": "RSA"}));
        // Two members: not an operator, a plain object.
        assert_eq!(out["two"], json!({"$now": 1, "x": 2}));
    }

    #[test]
    fn bad_operators_are_errors_not_panics() {
        let v = vars();
        for bad in [
            json!({"$now": "soon"}),
            json!({"$upper": 1}),
            json!({"$repeat": ["x"]}),
            json!({"$repeat": ["x", 2_000_000]}),
            json!({"$jwk": "nope"}),
            json!({"$eval": 1}),
        ] {
            assert!(matches!(v.eval(&bad), Err(CorpusError::Recipe(_))), "{bad}");
        }
    }

    #[test]
    fn merge_removes_nulls() {
        let mut base = json!({"a": 1, "b": 2})
            .as_object()
            .cloned()
            .unwrap_or_default();
        let over = json!({"a": null, "c": 3})
            .as_object()
            .cloned()
            .unwrap_or_default();
        merge(&mut base, over);
        assert_eq!(Value::Object(base), json!({"b": 2, "c": 3}));
    }
}
