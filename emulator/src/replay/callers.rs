//! Tokens for every principal, minted once (in parallel: RSA signing is the expensive
//! part of setting up a large replay) and reused for all of its requests; or, with
//! `--fresh-subjects`, one principal at a time just before its request ([`mint_caller`]).

use http::HeaderValue;
use mock_keycard::{DEFAULT_MINT_CLIENT_ID, MintRequest};

use super::driver::Caller;
use super::identity::Who;
use super::trace::Principal;
use super::zones::ReplayZones;

/// Why tokens could not be minted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MintError {
    /// The zone refused to sign.
    #[error("minting a token for principal {principal}: {reason}")]
    Mint {
        /// The principal.
        principal: u32,
        /// Why.
        reason: String,
    },
    /// The token is not a valid header value (cannot happen for a JWT).
    #[error("token for principal {0} is not a valid header value")]
    Header(u32),
}

/// The same JWT with one signature character changed: well-formed, but it must not verify.
pub fn break_signature(token: &str) -> String {
    let Some(dot) = token.rfind('.') else {
        return format!("{token}x");
    };
    let mut bytes = token.as_bytes().to_vec();
    let sig_len = bytes.len() - dot - 1;
    if sig_len == 0 {
        return format!("{token}x");
    }
    let at = dot + 1 + sig_len / 2;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap_or_else(|_| format!("{token}x"))
}

pub(crate) fn bearer(token: &str, principal: u32) -> Result<HeaderValue, MintError> {
    let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| MintError::Header(principal))?;
    value.set_sensitive(true);
    Ok(value)
}

/// How subject tokens are signed (`--subject-alg`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SubjectAlg {
    /// RS256 with the zone's current key, like Keycard's access tokens (the default,
    /// except with `--fresh-subjects`).
    Rs256,
    /// ES256 with the zone's ES256 access-token key (mock-keycard `[keys] access_es256`):
    /// a P-256 signature costs a small fraction of an RSA-2048 one, which makes minting a token per
    /// request practical (the default with `--fresh-subjects`).
    Es256,
}

impl SubjectAlg {
    /// The mock zone's `mint` key for this algorithm.
    pub fn mint_key(self) -> Option<&'static str> {
        match self {
            Self::Rs256 => None,
            Self::Es256 => Some(mock_keycard::ES256_KEY),
        }
    }

    /// The JWS name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Es256 => "ES256",
        }
    }
}

/// The `client_id` a principal's token is minted for (the mock's default when unset).
pub(crate) fn mint_client_id(p: &Principal) -> String {
    p.client_id
        .clone()
        .unwrap_or_else(|| DEFAULT_MINT_CLIENT_ID.to_owned())
}

/// The caller for `p`, holding `access_token` minted for it by `issuer` (valid, and a
/// broken-signature twin for the bad-token requests).
pub(crate) fn caller(
    p: &Principal,
    issuer: String,
    client_id: String,
    access_token: &str,
    expires_at: i64,
) -> Result<Caller, MintError> {
    Ok(Caller {
        who: Who {
            issuer,
            sub: p.sub.clone(),
            client_id,
        },
        zone: p.zone,
        auth: bearer(access_token, p.id)?,
        bad_auth: bearer(&break_signature(access_token), p.id)?,
        expires_at: u64::try_from(expires_at).unwrap_or(0),
        revoke_at: p.revoke_at,
        rotated_auth: None,
    })
}

/// Mints `p`'s token at its zone (signed with `alg`) and builds its caller.
pub fn mint_caller(
    zones: &ReplayZones,
    p: &Principal,
    alg: SubjectAlg,
) -> Result<Caller, MintError> {
    let zone = zones.get(p.zone);
    let client_id = mint_client_id(p);
    let minted = zone
        .zone()
        .mint(MintRequest {
            sub: p.sub.clone(),
            client_id: Some(client_id.clone()),
            lifetime_secs: p.lifetime_secs.map(|s| s as i64),
            key: alg.mint_key().map(str::to_owned),
            ..MintRequest::default()
        })
        .map_err(|e| MintError::Mint {
            principal: p.id,
            reason: e.to_string(),
        })?;
    caller(
        p,
        zone.issuer(),
        client_id,
        &minted.access_token,
        minted.expires_at,
    )
}

/// The same principal's token signed with the primary zone's *next* pool key (what
/// the zone signs with after one rotation), for `--fault rotate-mid-run`.
fn mint_rotated(
    zones: &ReplayZones,
    p: &Principal,
    key: &str,
) -> Result<Option<HeaderValue>, MintError> {
    if p.zone != super::trace::ZoneRef::Primary {
        return Ok(None);
    }
    let minted = zones
        .get(p.zone)
        .zone()
        .mint(MintRequest {
            sub: p.sub.clone(),
            client_id: Some(mint_client_id(p)),
            lifetime_secs: p.lifetime_secs.map(|s| s as i64),
            key: Some(key.to_owned()),
            ..MintRequest::default()
        })
        .map_err(|e| MintError::Mint {
            principal: p.id,
            reason: e.to_string(),
        })?;
    bearer(&minted.access_token, p.id).map(Some)
}

/// Adds to every primary-zone caller a token signed with `key` (e.g. `zone-2`, the key
/// the primary zone rotates to first), used from the mid-run rotation on.
pub fn mint_rotated_all(
    zones: &ReplayZones,
    principals: &[Principal],
    callers: &mut [Caller],
    key: &str,
) -> Result<(), MintError> {
    for (p, c) in principals.iter().zip(callers.iter_mut()) {
        c.rotated_auth = mint_rotated(zones, p, key)?;
    }
    Ok(())
}

/// Mints a token per principal (signed with `alg`) on all cores.
pub fn mint_all(
    zones: &ReplayZones,
    principals: &[Principal],
    alg: SubjectAlg,
) -> Result<Vec<Caller>, MintError> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = principals.len().div_ceil(threads).max(1);
    let results: Vec<Result<Vec<Caller>, MintError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = principals
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || part.iter().map(|p| mint_caller(zones, p, alg)).collect())
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(MintError::Mint {
                        principal: 0,
                        reason: "minting thread panicked".into(),
                    })
                })
            })
            .collect()
    });
    let mut callers = Vec::with_capacity(principals.len());
    for part in results {
        callers.extend(part?);
    }
    Ok(callers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_signature_differs_only_in_the_signature() {
        let t = "aaa.bbb.cccAccc";
        let b = break_signature(t);
        assert_ne!(b, t);
        assert_eq!(&b[..8], "aaa.bbb.");
        assert_eq!(b.len(), t.len());
        assert_eq!(break_signature("nodots"), "nodotsx");
    }
}
