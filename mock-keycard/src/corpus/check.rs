//! Judging a server's answer against a case's expectation: status, the `WWW-Authenticate`
//! challenge, the JSON error body, the tool outcome, and that nothing echoes the token.

use serde_json::Value;

use super::case::Case;
use super::expr::Placeholders;

/// The parts of an HTTP response a case is judged on.
#[derive(Debug, Clone, Copy)]
pub struct Answer<'a> {
    /// HTTP status.
    pub status: u16,
    /// The `WWW-Authenticate` header, if any (not valid UTF-8 counts as absent).
    pub www_authenticate: Option<&'a str>,
    /// The body.
    pub body: &'a [u8],
}

/// Every way `answer` differs from `case`'s expectation (empty: it passes). `token` is the
/// bearer token that was sent: no part of the answer may contain it.
pub fn check(case: &Case, vars: &Placeholders, token: &str, answer: &Answer<'_>) -> Vec<String> {
    let expect = &case.expect;
    let mut problems = Vec::new();
    if answer.status != expect.status {
        problems.push(format!(
            "status {} (expected {}); body: {}",
            answer.status,
            expect.status,
            excerpt(answer.body)
        ));
        return problems;
    }
    // A token long enough not to occur by chance must never be echoed back.
    if token.len() >= 16 {
        let echoed = answer.www_authenticate.is_some_and(|h| h.contains(token))
            || String::from_utf8_lossy(answer.body).contains(token);
        if echoed {
            problems.push("the answer echoes the bearer token".to_owned());
        }
    }
    let body: Option<Value> = serde_json::from_slice(answer.body).ok();
    match (&expect.error, &expect.description) {
        (Some(error), Some(description)) => {
            let description = vars.expand(description);
            check_challenge(
                answer.www_authenticate,
                error,
                &description,
                expect.scope.as_deref(),
                &mut problems,
            );
            // A 401 may come without a body: its challenge, checked above, then carries
            // the error and its description (RFC 6750 §3). The wasm host answers a refused
            // token so (`keycard_core::http::response::strip_to_challenge`).
            if !(answer.status == 401 && answer.body.is_empty()) {
                check_error_body(body.as_ref(), error, &description, &mut problems);
            }
        }
        _ => check_outcome(case, body.as_ref(), &mut problems),
    }
    problems
}

fn check_challenge(
    header: Option<&str>,
    error: &str,
    description: &str,
    scope: Option<&str>,
    problems: &mut Vec<String>,
) {
    let Some(header) = header else {
        problems.push("no WWW-Authenticate challenge".to_owned());
        return;
    };
    let Some(params) = parse_challenge(header) else {
        problems.push(format!(
            "WWW-Authenticate is not a Bearer challenge: {header}"
        ));
        return;
    };
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    if param("error") != Some(error) {
        problems.push(format!(
            "WWW-Authenticate error={:?} (expected {error:?})",
            param("error")
        ));
    }
    if param("error_description") != Some(description) {
        problems.push(format!(
            "WWW-Authenticate error_description={:?} (expected {description:?})",
            param("error_description")
        ));
    }
    if param("resource_metadata").is_none_or(str::is_empty) {
        problems.push("WWW-Authenticate has no resource_metadata".to_owned());
    }
    if let Some(scope) = scope
        && param("scope") != Some(scope)
    {
        problems.push(format!(
            "WWW-Authenticate scope={:?} (expected {scope:?})",
            param("scope")
        ));
    }
}

fn check_error_body(
    body: Option<&Value>,
    error: &str,
    description: &str,
    problems: &mut Vec<String>,
) {
    let Some(body) = body else {
        problems.push("the error body is not JSON".to_owned());
        return;
    };
    if body.get("error").and_then(Value::as_str) != Some(error) {
        problems.push(format!(
            "body error {} (expected {error:?})",
            show(body.get("error"))
        ));
    }
    if body.get("error_description").and_then(Value::as_str) != Some(description) {
        problems.push(format!(
            "body error_description {} (expected {description:?})",
            show(body.get("error_description"))
        ));
    }
}

fn check_outcome(case: &Case, body: Option<&Value>, problems: &mut Vec<String>) {
    let Some(outcome) = &case.expect.outcome else {
        problems.push("the case has neither an error nor an outcome".to_owned());
        return;
    };
    let Some(body) = body else {
        problems.push("the JSON-RPC answer is not JSON".to_owned());
        return;
    };
    let Some(result) = body.get("result") else {
        problems.push(format!(
            "no JSON-RPC result: {}",
            excerpt(body.to_string().as_bytes())
        ));
        return;
    };
    let is_error = result
        .get("isError")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let texts: Vec<&str> = result
        .get("content")
        .and_then(Value::as_array)
        .map(|blocks| {
            blocks
                .iter()
                .filter_map(|b| b.get("text")?.as_str())
                .collect()
        })
        .unwrap_or_default();
    if is_error != outcome.is_error {
        problems.push(format!(
            "{} isError={is_error} (expected {}): {}",
            outcome.tool,
            outcome.is_error,
            texts.join(" | ")
        ));
    }
    if let Some(needle) = &outcome.message_contains
        && !texts.iter().any(|t| t.contains(needle.as_str()))
    {
        problems.push(format!(
            "{} answered {:?}, which does not contain {needle:?}",
            outcome.tool,
            texts.join(" | ")
        ));
    }
    if let Some(expected) = &outcome.structured {
        let actual = result.get("structuredContent");
        for (name, value) in expected {
            let got = actual.and_then(|s| s.get(name));
            // An expected `null` means "no value": an optional property left out (as
            // derived output schemas do) reports the same thing.
            let same = got == Some(value) || (value.is_null() && got.is_none());
            if !same {
                problems.push(format!(
                    "{} structuredContent.{name} = {} (expected {value})",
                    outcome.tool,
                    show(got)
                ));
            }
        }
    }
}

/// The auth-params of a `Bearer` challenge (`None` for another scheme or bad syntax).
/// Handles quoted strings with `\` escapes and token values.
pub fn parse_challenge(header: &str) -> Option<Vec<(String, String)>> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut params = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.next_if(|c| *c == ' ' || *c == ',').is_some() {}
        if chars.peek().is_none() {
            return Some(params);
        }
        let mut name = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=') {
            name.push(c);
        }
        chars.next()?; // '='
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => value.push(chars.next()?),
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| *c != ',') {
                value.push(c);
            }
            value = value.trim().to_owned();
        }
        params.push((name.trim().to_owned(), value));
    }
}

fn show(value: Option<&Value>) -> String {
    value.map_or_else(|| "absent".to_owned(), Value::to_string)
}

fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let short: String = text.chars().take(300).collect();
    if short.len() < text.len() {
        format!("{short}…")
    } else {
        short
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse() {
        let params = parse_challenge(
            r#"Bearer error="invalid_token", error_description="a, \"b\"", resource_metadata="http://x/y", scope=mcp:tools"#,
        )
        .expect("bearer");
        assert_eq!(
            params,
            vec![
                ("error".to_owned(), "invalid_token".to_owned()),
                ("error_description".to_owned(), "a, \"b\"".to_owned()),
                ("resource_metadata".to_owned(), "http://x/y".to_owned()),
                ("scope".to_owned(), "mcp:tools".to_owned()),
            ]
        );
        assert!(parse_challenge("Basic realm=\"x\"").is_none());
        assert!(parse_challenge("Bearer error=\"unterminated").is_none());
        assert_eq!(parse_challenge("Bearer"), Some(Vec::new()));
    }
}
