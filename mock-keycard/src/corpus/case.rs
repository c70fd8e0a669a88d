//! The corpus file format: one [`Case`] per JSON file (see `fixtures/bad-tokens/README.md`).

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use super::CorpusError;

/// The tool called when a case names none.
pub const DEFAULT_TOOL: &str = "whoami";

/// One corpus case: how to build a hostile (or control) token, and what the MCP server
/// must answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Short unique name (conventionally the file name without number and extension).
    pub name: String,
    /// One line: why the server must answer this way.
    pub why: String,
    /// How to build the token and the request.
    pub recipe: Recipe,
    /// What the server must answer.
    pub expect: Expect,
    /// The file the case was loaded from (set by the loader).
    #[serde(skip)]
    pub file: String,
}

/// How to build the token from the valid baseline (see the module docs of
/// [`crate::corpus`]).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// Merged over the baseline header; a `null` value removes the member.
    #[serde(default)]
    pub header: Map<String, Value>,
    /// Merged over the baseline claims; a `null` value removes the claim.
    #[serde(default)]
    pub claims: Map<String, Value>,
    /// Claim overrides applied after signing: the signature no longer covers them.
    #[serde(default)]
    pub after_signing: Map<String, Value>,
    /// Which key signs (default [`SignWith::Zone`]).
    #[serde(default)]
    pub sign: SignWith,
    /// Structural changes, applied in order (see [`Mutation`]).
    #[serde(default, deserialize_with = "one_or_many")]
    pub mutate: Vec<Mutation>,
    /// A literal token (placeholders expanded) instead of a built one.
    #[serde(default)]
    pub raw: Option<String>,
    /// The `Authorization` header template (`{token}` is replaced); default
    /// `Bearer {token}`; JSON `null` sends no `Authorization` header.
    #[serde(default, deserialize_with = "explicit_null")]
    pub authorization: Option<Option<String>>,
}

/// The signing key of a recipe.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum SignWith {
    /// The zone's current signing key (RS256).
    #[default]
    #[serde(rename = "zone-1", alias = "current")]
    Zone,
    /// A key of another zone (`fixtures/keys/other-zone.pem`, RS256).
    #[serde(rename = "other-zone")]
    OtherZone,
    /// A pool key the zone does not publish: never current, or rotated out past its grace
    /// period (`fixtures/keys/zone-3.pem`, RS256).
    #[serde(rename = "zone-3")]
    Unpublished,
    /// An empty signature (`header.payload.`).
    #[serde(rename = "none")]
    Empty,
    /// HMAC-SHA256 keyed with the zone's RSA public key PEM (the classic alg confusion).
    #[serde(rename = "hs256-public-key")]
    Hs256PublicKey,
    /// ES256 with `fixtures/keys/es256-zone.pem` (a P-256 key the zone does not publish).
    #[serde(rename = "es256")]
    Es256,
}

/// A structural change to the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutation {
    /// Replace the payload part with one that is not valid base64url (but still matches the
    /// RFC 6750 `b64token` syntax, so it reaches the JWT parser).
    BadBase64Payload,
    /// Drop the signature part: `header.payload`.
    TwoParts,
    /// Append a fourth part: `header.payload.signature.extra`.
    FourParts,
    /// Add a `pad` claim so the token is at least (at most one byte more than) this long.
    PadToBytes(usize),
    /// Add a `nested` claim of this many nested JSON arrays (spliced in as text).
    NestClaims(usize),
}

impl Mutation {
    /// Parses `bad-base64-payload`, `two-parts`, `four-parts`, `pad-to-bytes:N`,
    /// `nest-claims:N`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let number = |n: &str| {
            n.parse::<usize>()
                .map_err(|_| format!("{text:?}: expected a whole number after ':'"))
        };
        match text.split_once(':') {
            None => match text {
                "bad-base64-payload" => Ok(Self::BadBase64Payload),
                "two-parts" => Ok(Self::TwoParts),
                "four-parts" => Ok(Self::FourParts),
                _ => Err(format!("unknown mutation {text:?}")),
            },
            Some(("pad-to-bytes", n)) => number(n).map(Self::PadToBytes),
            Some(("nest-claims", n)) => number(n).map(Self::NestClaims),
            Some(_) => Err(format!("unknown mutation {text:?}")),
        }
    }
}

impl<'de> Deserialize<'de> for Mutation {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// What the server must answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// HTTP status.
    pub status: u16,
    /// The OAuth `error` in the `WWW-Authenticate` challenge and the JSON body; `null` for a
    /// 200.
    pub error: Option<String>,
    /// The exact `error_description` (placeholders expanded; `null` for a 200).
    #[serde(default)]
    pub description: Option<String>,
    /// The challenge's `scope` parameter, when the case pins it.
    #[serde(default)]
    pub scope: Option<String>,
    /// The tool outcome, for cases that pass authentication.
    #[serde(default)]
    pub outcome: Option<Outcome>,
    /// The token must be refused without any outbound request (no discovery, no JWKS, no
    /// STS). Checked by the in-process test; a remote run cannot see the server's fetches.
    #[serde(default)]
    pub no_key_fetch: bool,
}

/// The outcome of the tool call of a case that passes authentication.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outcome {
    /// The tool to call (also the tool the outcome is about).
    pub tool: String,
    /// `result.isError`.
    pub is_error: bool,
    /// A text content block must contain this.
    #[serde(default)]
    pub message_contains: Option<String>,
    /// Every member must equal the same member of `structuredContent`.
    #[serde(default)]
    pub structured: Option<Map<String, Value>>,
}

impl Case {
    /// The tool this case calls.
    pub fn tool(&self) -> &str {
        self.expect
            .outcome
            .as_ref()
            .map_or(DEFAULT_TOOL, |o| o.tool.as_str())
    }

    /// Checks that the case is coherent (a 200 has an outcome and no error, a refusal has an
    /// error and a description and no outcome, `raw` excludes the other recipe fields).
    pub fn validate(&self) -> Result<(), CorpusError> {
        let bad = |reason: &str| CorpusError::Invalid {
            file: self.file.clone(),
            reason: reason.to_owned(),
        };
        if self.name.trim().is_empty() || self.why.trim().is_empty() {
            return Err(bad("`name` and `why` must not be empty"));
        }
        if self.why.contains('\n') {
            return Err(bad("`why` must be one line"));
        }
        let e = &self.expect;
        if e.status == 200 {
            if e.error.is_some() || e.description.is_some() {
                return Err(bad("a 200 has no `error` or `description`"));
            }
            if e.outcome.is_none() {
                return Err(bad("a 200 needs the tool outcome (`tool`, `is_error`)"));
            }
        } else {
            if e.error.is_none() || e.description.is_none() {
                return Err(bad("a refusal needs `error` and `description`"));
            }
            if e.outcome.is_some() {
                return Err(bad("a refusal has no tool outcome"));
            }
        }
        let r = &self.recipe;
        if r.raw.is_some()
            && (!r.header.is_empty()
                || !r.claims.is_empty()
                || !r.mutate.is_empty()
                || !r.after_signing.is_empty()
                || r.sign != SignWith::Zone)
        {
            return Err(bad(
                "`raw` excludes `header`, `claims`, `after_signing`, `sign` and `mutate`",
            ));
        }
        Ok(())
    }
}

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Mutation>, D::Error> {
    let parse = |v: &Value| match v {
        Value::String(s) => Mutation::parse(s),
        other => Err(format!("a mutation must be a string, got {other}")),
    };
    match Value::deserialize(d)? {
        Value::Array(items) => items.iter().map(parse).collect(),
        one => parse(&one).map(|m| vec![m]),
    }
    .map_err(serde::de::Error::custom)
}

fn explicit_null<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}
