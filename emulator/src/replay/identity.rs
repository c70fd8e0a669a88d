//! Identities as the oracle compares them, and how they are read out of tool results.

use serde_json::Value;

/// Who made a request: the identity chain its token carries.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Who {
    /// `iss`.
    pub issuer: String,
    /// `sub` (`None`: token without subject).
    pub sub: Option<String>,
    /// `client_id` of the token (the user's MCP client).
    pub client_id: String,
}

impl std::fmt::Display for Who {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "(iss={:?}, sub={:?}, client_id={:?})",
            self.issuer, self.sub, self.client_id
        )
    }
}

/// What the upstream API saw: the identity of the token it received, and that token's id.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UpstreamSeen {
    /// The identity chain.
    pub who: Who,
    /// The upstream token's `jti`.
    pub jti: String,
}

/// The structured result of a tool call: `structuredContent`, or the JSON in the first
/// text content block.
pub fn structured(result: &Value) -> Option<Value> {
    if let Some(s) = result.get("structuredContent").filter(|v| v.is_object()) {
        return Some(s.clone());
    }
    first_text_object(result, "content")
}

/// The JSON object in the first text contents of a `resources/read` result (a delegated
/// resource's upstream answer).
pub fn resource_json(result: &Value) -> Option<Value> {
    first_text_object(result, "contents")
}

/// The JSON object in the first `text` entry of `result[list]` (a tool result's
/// `content`, a resource read's `contents`).
fn first_text_object(result: &Value, list: &str) -> Option<Value> {
    let text = result
        .get(list)?
        .as_array()?
        .iter()
        .find_map(|c| c.get("text").and_then(Value::as_str))?;
    serde_json::from_str::<Value>(text)
        .ok()
        .filter(Value::is_object)
}

/// The upstream profile in a `github_user` result or a `profile_resource` read.
pub fn profile(result: &Value) -> Option<Value> {
    resource_json(result).or_else(|| structured(result))
}

/// The concatenated text blocks of a tool result (error messages).
pub fn text(result: &Value) -> String {
    result
        .get("content")
        .and_then(Value::as_array)
        .map(|blocks| {
            blocks
                .iter()
                .filter_map(|c| c.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

fn str_of<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a str> {
    keys.iter().find_map(|k| v.get(*k).and_then(Value::as_str))
}

/// `whoami`'s answer as an identity: `issuer`, `subject` (null → `None`), `client_id`.
pub fn whoami_identity(structured: &Value) -> Option<Who> {
    let issuer = str_of(structured, &["issuer", "iss"])?.to_owned();
    let client_id = str_of(structured, &["client_id", "clientId"])?.to_owned();
    let sub = match structured.get("subject").or_else(|| structured.get("sub")) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Null) | None => None,
        Some(_) => return None,
    };
    Some(Who {
        issuer,
        sub,
        client_id,
    })
}

/// The demo upstream's `keycard` object (in `github_user`'s profile): `iss`, `sub`, the
/// original `client_id` (the user's MCP client; also accepted as `original_client_id`
/// or `act.client_id`), and `jti`.
pub fn upstream_identity(structured: &Value) -> Option<UpstreamSeen> {
    let k = structured.get("keycard")?;
    let issuer = str_of(k, &["iss", "issuer"])?.to_owned();
    let sub = str_of(k, &["sub"]).map(str::to_owned);
    let client_id = str_of(k, &["original_client_id", "client_id"])
        .or_else(|| k.get("act").and_then(|a| str_of(a, &["client_id"])))?
        .to_owned();
    let jti = str_of(k, &["jti"])?.to_owned();
    Some(UpstreamSeen {
        who: Who {
            issuer,
            sub,
            client_id,
        },
        jti,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_whoami_from_structured_or_text() {
        let r = json!({"structuredContent": {"issuer": "i", "subject": null, "client_id": "c"}});
        let who = whoami_identity(&structured(&r).unwrap()).unwrap();
        assert_eq!(who.sub, None);
        let r = json!({"content": [{"type": "text", "text": "{\"issuer\":\"i\",\"subject\":\"a::b\",\"client_id\":\"c\"}"}]});
        assert_eq!(
            whoami_identity(&structured(&r).unwrap()).unwrap().sub,
            Some("a::b".into())
        );
        assert!(whoami_identity(&json!({"issuer": "i", "subject": 3, "client_id": "c"})).is_none());
        assert_eq!(
            text(&json!({"content": [{"text": "a"}, {"text": "b"}]})),
            "a b"
        );
    }

    #[test]
    fn reads_the_upstream_keycard_object() {
        let s = json!({"login": "x", "keycard": {"iss": "i", "sub": "s", "client_id": "c", "act": {"sub": "app"}, "jti": "j"}});
        let seen = upstream_identity(&s).unwrap();
        assert_eq!(seen.jti, "j");
        assert_eq!(seen.who.client_id, "c");
        assert!(upstream_identity(&json!({"login": "x"})).is_none());
    }
}
