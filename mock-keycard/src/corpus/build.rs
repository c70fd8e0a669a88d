//! Recipe → token: the valid baseline, the recipe's overrides, the signer, the mutations.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use super::CorpusError;
use super::case::{Case, Mutation, SignWith};
use super::expr::{Placeholders, merge};
use super::sign::{self, Es256Key};
use crate::keys::{KeyPair, embedded_pool, other_zone_key};
use crate::mint::{DEFAULT_MINT_CLIENT_ID, new_jti};
use crate::zone::Zone;

/// The pool key the default zone never publishes unless rotated twice.
const UNPUBLISHED_KEY: &str = "zone-3";

impl Placeholders {
    /// The placeholders for `zone`: its issuer and current `kid`, the MCP server's
    /// `resource` (canonicalised as the server reports it), the honeypot URL `attacker`,
    /// and `now` (seconds since the Unix epoch).
    pub fn for_zone(
        zone: &Zone,
        resource: &str,
        attacker: &str,
        now: i64,
    ) -> Result<Self, CorpusError> {
        let mut jwks = vec![(
            "zone-1".to_owned(),
            serde_json::to_value(zone.current_key().jwk()).unwrap_or(Value::Null),
        )];
        for key in [other_zone_key()?, unpublished_key()?] {
            jwks.push((
                key.name().to_owned(),
                serde_json::to_value(key.jwk()).unwrap_or(Value::Null),
            ));
        }
        Ok(Self {
            issuer: zone.issuer(),
            resource: canonical_resource(resource),
            kid: zone.current_kid(),
            attacker: attacker.trim_end_matches('/').to_owned(),
            now,
            jwks,
        })
    }
}

/// The canonical form of a resource identifier as the MCP server reports it: lowercase
/// scheme and host, default port dropped, no trailing slash (unparseable input is kept).
pub fn canonical_resource(value: &str) -> String {
    let Ok(url) = url::Url::parse(value.trim()) else {
        return value.to_owned();
    };
    let Some(host) = url.host_str() else {
        return value.to_owned();
    };
    let mut out = format!("{}://{host}", url.scheme());
    if let Some(port) = url.port() {
        out.push_str(&format!(":{port}"));
    }
    out.push_str(url.path().trim_end_matches('/'));
    out
}

fn unpublished_key() -> Result<Arc<KeyPair>, CorpusError> {
    embedded_pool()?
        .into_iter()
        .find(|k| k.name() == UNPUBLISHED_KEY)
        .ok_or_else(|| CorpusError::Key(format!("{UNPUBLISHED_KEY} is not in the embedded pool")))
}

/// A resolved signer.
enum Signer {
    Rsa(Arc<KeyPair>),
    Es256(&'static Es256Key),
    Hs256(String),
    Empty,
}

impl Signer {
    fn resolve(with: SignWith, zone: &Zone) -> Result<Self, CorpusError> {
        Ok(match with {
            SignWith::Zone => Self::Rsa(zone.current_key()),
            SignWith::OtherZone => Self::Rsa(other_zone_key()?),
            SignWith::Unpublished => Self::Rsa(unpublished_key()?),
            SignWith::Empty => Self::Empty,
            SignWith::Hs256PublicKey => Self::Hs256(sign::public_key_pem(&zone.current_key())?),
            SignWith::Es256 => Self::Es256(Es256Key::fixture()?),
        })
    }

    /// The baseline `alg` for this signer.
    fn alg(&self) -> &'static str {
        match self {
            Self::Rsa(_) | Self::Empty => "RS256",
            Self::Es256(_) => "ES256",
            Self::Hs256(_) => "HS256",
        }
    }

    /// The baseline `kid`: the signing key's own; the zone's current one for the
    /// key-less signers (an attacker would name the key they hope is used).
    fn kid(&self, vars: &Placeholders) -> String {
        match self {
            Self::Rsa(key) => key.kid().to_owned(),
            Self::Es256(key) => key.kid().to_owned(),
            Self::Hs256(_) | Self::Empty => vars.kid.clone(),
        }
    }

    fn sign(&self, input: &[u8]) -> Result<Vec<u8>, CorpusError> {
        match self {
            Self::Rsa(key) => sign::rs256(key, input),
            Self::Es256(key) => key.sign(input),
            Self::Hs256(pem) => sign::hmac_sha256(pem.as_bytes(), input),
            Self::Empty => Ok(Vec::new()),
        }
    }
}

/// The baseline claims: a valid token for `alice` through `mcp-client-a`.
pub fn baseline_claims(vars: &Placeholders) -> Map<String, Value> {
    let claims = json!({
        "iss": vars.issuer,
        "sub": "alice",
        "aud": vars.resource,
        "exp": vars.now.saturating_add(600),
        "iat": vars.now,
        "nbf": vars.now,
        "client_id": DEFAULT_MINT_CLIENT_ID,
        "scope": "mcp:tools",
        "jti": new_jti(),
    });
    match claims {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Builds the token of `case` with `zone`'s keys.
pub fn build_token(case: &Case, zone: &Zone, vars: &Placeholders) -> Result<String, CorpusError> {
    let recipe = &case.recipe;
    if let Some(raw) = &recipe.raw {
        return Ok(vars.expand(raw));
    }
    let signer = Signer::resolve(recipe.sign, zone)?;
    let mut header = Map::new();
    header.insert("alg".into(), signer.alg().into());
    header.insert("typ".into(), "JWT".into());
    header.insert("kid".into(), signer.kid(vars).into());
    merge(&mut header, evaluated(&recipe.header, vars)?);
    let mut claims = baseline_claims(vars);
    merge(&mut claims, evaluated(&recipe.claims, vars)?);

    let header = serde_json::to_string(&header).map_err(|e| CorpusError::Recipe(e.to_string()))?;
    let mut payload =
        serde_json::to_string(&claims).map_err(|e| CorpusError::Recipe(e.to_string()))?;
    for m in &recipe.mutate {
        if let Mutation::NestClaims(depth) = m {
            payload = splice_claim(&payload, "nested", &nested_arrays(*depth));
        }
    }
    let mut token = signed(&signer, &header, &payload)?;
    for m in &recipe.mutate {
        if let Mutation::PadToBytes(len) = m {
            token = padded(&signer, &header, &payload, &token, *len)?;
        }
    }
    if !recipe.after_signing.is_empty() {
        merge(&mut claims, evaluated(&recipe.after_signing, vars)?);
        let tampered =
            serde_json::to_string(&claims).map_err(|e| CorpusError::Recipe(e.to_string()))?;
        token = replace_payload(&token, &tampered);
    }
    for m in &recipe.mutate {
        token = match m {
            Mutation::BadBase64Payload => bad_base64_payload(&token),
            Mutation::TwoParts => token
                .rsplit_once('.')
                .map_or(token.clone(), |(hp, _)| hp.to_owned()),
            Mutation::FourParts => format!("{token}.AAAA"),
            Mutation::PadToBytes(_) | Mutation::NestClaims(_) => token,
        };
    }
    Ok(token)
}

/// The `Authorization` header value of `case` for `token` (`None`: send none).
pub fn authorization(case: &Case, token: &str) -> Option<String> {
    match &case.recipe.authorization {
        None => Some(format!("Bearer {token}")),
        Some(None) => None,
        Some(Some(template)) => Some(template.replace("{token}", token)),
    }
}

fn evaluated(
    map: &Map<String, Value>,
    vars: &Placeholders,
) -> Result<Map<String, Value>, CorpusError> {
    map.iter()
        .map(|(k, v)| Ok((vars.expand(k), vars.eval(v)?)))
        .collect()
}

fn signed(signer: &Signer, header: &str, payload: &str) -> Result<String, CorpusError> {
    let mut token = URL_SAFE_NO_PAD.encode(header);
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(payload));
    let signature = signer.sign(token.as_bytes())?;
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(signature));
    Ok(token)
}

/// Re-signs with a `pad` claim so the token is at least `len` bytes (the base64url length
/// grows in steps of one or two characters, so it may be one byte longer).
fn padded(
    signer: &Signer,
    header: &str,
    payload: &str,
    unpadded: &str,
    len: usize,
) -> Result<String, CorpusError> {
    if unpadded.len() >= len {
        return Ok(unpadded.to_owned());
    }
    let b64_len = |bytes: usize| bytes.div_ceil(3) * 4 - (3 - bytes % 3) % 3;
    let fixed = unpadded.len() - b64_len(payload.len());
    let with_pad = |n: usize| splice_claim(payload, "pad", &format!("\"{}\"", "x".repeat(n)));
    let mut n = (len - fixed) * 3 / 4;
    n = n.saturating_sub(with_pad(0).len() - payload.len());
    while fixed + b64_len(with_pad(n).len()) < len {
        n += 1;
    }
    while n > 0 && fixed + b64_len(with_pad(n - 1).len()) >= len {
        n -= 1;
    }
    signed(signer, header, &with_pad(n))
}

/// Inserts `"name": <json>` as the first member of the JSON object text `object`.
fn splice_claim(object: &str, name: &str, json: &str) -> String {
    let rest = object.strip_prefix('{').unwrap_or(object);
    let sep = if rest.trim_start().starts_with('}') {
        ""
    } else {
        ","
    };
    format!("{{\"{name}\":{json}{sep}{rest}")
}

/// `[[[…0…]]]`, `depth` arrays deep.
fn nested_arrays(depth: usize) -> String {
    let mut out = String::with_capacity(depth * 2 + 1);
    out.push_str(&"[".repeat(depth));
    out.push('0');
    out.push_str(&"]".repeat(depth));
    out
}

/// `token` with its payload part replaced by `payload` (signature kept).
fn replace_payload(token: &str, payload: &str) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    if let Some(part) = parts.get_mut(1) {
        *part = URL_SAFE_NO_PAD.encode(payload);
    }
    parts.join(".")
}

/// Replaces the payload's first character with `~`: allowed by the RFC 6750 `b64token`
/// syntax, not by base64url.
fn bad_base64_payload(token: &str) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    if let Some(payload) = parts.get_mut(1) {
        let tail: String = payload.chars().skip(1).collect();
        *payload = format!("~{tail}");
    }
    parts.join(".")
}
