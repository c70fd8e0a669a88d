//! An in-process fake Keycard zone (one or more issuers) and its demo upstream API, as
//! one [`HttpClient`]: no sockets, latency from a [`LatencyScript`].
//!
//! * `GET <issuer>/.well-known/oauth-authorization-server`: RFC 8414 metadata.
//! * `GET <issuer>/.well-known/jwks.json`: the zone's keys.
//! * `POST <issuer>/oauth/token`: RFC 8693 token exchange. Authenticates the Worker
//!   (`client_secret_basic`), reads the subject token's claims (the ground truth of who is
//!   asking; signatures are not this fake's concern) and issues an opaque `up-<n>` token,
//!   recorded in the issuance log as bound to (issuer, sub, client_id, aud, resource).
//! * `GET <upstream>/user`: looks the bearer up in the issuance log and answers the
//!   identity it was issued for; unknown, revoked or expired tokens get 401. Every call is
//!   recorded with the request's `x-request-id`.
//!
//! Each response is delayed by one script step before it is computed and one after, so
//! the schedule decides which requests overlap with issuance, revocation and clock moves.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{Method, header};
use keycard_core::delegation::exchange::{GRANT_TYPE_TOKEN_EXCHANGE, TOKEN_TYPE_ACCESS_TOKEN};
use keycard_core::ports::testing::{ManualClock, json_response};
use keycard_core::ports::{BoxFuture, HttpClient, HttpError};
use serde_json::{Value, json};

use super::latency::LatencyScript;
use super::tokens::read_claims;

/// The header the tests put on upstream requests to tie upstream calls to requests.
pub const REQUEST_ID: &str = "x-request-id";

/// Who an upstream token was issued for: the identity chain behind a request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Chain {
    /// `iss` of the user's token.
    pub issuer: String,
    /// `sub` of the user's token.
    pub subject: Option<String>,
    /// `client_id` of the user's token (the MCP client).
    pub client_id: String,
    /// `aud` of the user's token (which MCP server resource it was issued for).
    pub audience: String,
}

/// One token the zone issued.
#[derive(Debug, Clone)]
pub struct Issuance {
    /// The opaque upstream token (`up-<n>`).
    pub token: String,
    /// Whom it was issued for.
    pub chain: Chain,
    /// The upstream resource it is for.
    pub resource: String,
    /// When it stops being accepted upstream (ms).
    pub expires_at_ms: u64,
    /// Revoked (consent withdrawn) before it expired.
    pub revoked: bool,
}

/// One call the upstream API received.
#[derive(Debug, Clone)]
pub struct UpstreamCall {
    /// The `x-request-id` it carried.
    pub request_id: Option<String>,
    /// The bearer it carried (`None` if there was no bearer at all).
    pub token: Option<String>,
    /// The status it answered.
    pub status: u16,
}

/// Static facts about the fake deployment.
#[derive(Debug, Clone)]
pub struct ZoneSetup {
    /// The issuers this zone serves (each under its own origin).
    pub issuers: Vec<String>,
    /// The Worker's `client_secret_basic` credentials at the STS.
    pub client_id: String,
    /// The Worker's client secret.
    pub client_secret: String,
    /// The upstream API base URL (the only resource the zone issues tokens for).
    pub upstream: String,
    /// `expires_in` of issued upstream tokens, seconds.
    pub token_lifetime_secs: u64,
    /// The JWKS served for every issuer.
    pub jwks: Value,
}

#[derive(Debug, Default)]
struct Log {
    issued: Vec<Issuance>,
    by_token: HashMap<String, usize>,
    upstream_calls: Vec<UpstreamCall>,
    refusals: Vec<String>,
}

/// The fake zone + upstream.
#[derive(Debug)]
pub struct FakeZone {
    setup: ZoneSetup,
    clock: Arc<ManualClock>,
    latency: LatencyScript,
    log: Mutex<Log>,
}

impl FakeZone {
    /// A zone reading time from `clock`, delaying responses by `latency`.
    pub fn new(setup: ZoneSetup, clock: Arc<ManualClock>, latency: LatencyScript) -> Arc<Self> {
        Arc::new(Self {
            setup,
            clock,
            latency,
            log: Mutex::default(),
        })
    }

    fn log(&self) -> MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now_ms(&self) -> u64 {
        keycard_core::Clock::now_ms(&keycard_core::ports::testing::SharedManualClock(
            self.clock.clone(),
        ))
    }

    /// The issuance record of `token`, if the zone ever issued it.
    pub fn issuance(&self, token: &str) -> Option<Issuance> {
        let log = self.log();
        log.by_token
            .get(token)
            .and_then(|&i| log.issued.get(i))
            .cloned()
    }

    /// Every token issued so far.
    pub fn issued(&self) -> Vec<Issuance> {
        self.log().issued.clone()
    }

    /// Every upstream call so far.
    pub fn upstream_calls(&self) -> Vec<UpstreamCall> {
        self.log().upstream_calls.clone()
    }

    /// Why each refused exchange was refused.
    pub fn refusals(&self) -> Vec<String> {
        self.log().refusals.clone()
    }

    /// Revokes every token issued so far for `chain` (the user withdrew consent; later
    /// exchanges succeed again, as after re-consent). Returns how many were revoked.
    pub fn revoke(&self, chain: &Chain) -> usize {
        let mut log = self.log();
        let mut n = 0;
        for issuance in log.issued.iter_mut().filter(|i| &i.chain == chain) {
            if !issuance.revoked {
                issuance.revoked = true;
                n += 1;
            }
        }
        n
    }

    /// Answers one request synchronously (the latency is added around it by `send`).
    fn answer(&self, request: &http::Request<Bytes>) -> Result<http::Response<Bytes>, HttpError> {
        let uri = request.uri().to_string();
        for issuer in &self.setup.issuers {
            let Some(path) = uri.strip_prefix(issuer.as_str()) else {
                continue;
            };
            return Ok(match (request.method(), path) {
                (&Method::GET, "/.well-known/oauth-authorization-server") => json_response(
                    200,
                    json!({
                        "issuer": issuer,
                        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
                        "token_endpoint": format!("{issuer}/oauth/token"),
                        "grant_types_supported": [GRANT_TYPE_TOKEN_EXCHANGE],
                    }),
                ),
                (&Method::GET, "/.well-known/jwks.json") => {
                    json_response(200, self.setup.jwks.clone())
                }
                (&Method::POST, "/oauth/token") => self.token_endpoint(issuer, request),
                _ => json_response(404, json!({ "error": "not_found" })),
            });
        }
        if let Some(path) = uri.strip_prefix(self.setup.upstream.as_str()) {
            return Ok(match (request.method(), path) {
                (&Method::GET, "/user") => self.upstream_user(request),
                _ => json_response(404, json!({ "message": "Not Found" })),
            });
        }
        Err(HttpError::Connect(format!("no route to {uri}")))
    }

    fn refuse(&self, status: u16, error: &str, description: &str) -> http::Response<Bytes> {
        self.log().refusals.push(format!("{error}: {description}"));
        json_response(
            status,
            json!({ "error": error, "error_description": description }),
        )
    }

    fn token_endpoint(
        &self,
        issuer: &str,
        request: &http::Request<Bytes>,
    ) -> http::Response<Bytes> {
        let expected_basic = format!(
            "Basic {}",
            STANDARD.encode(format!(
                "{}:{}",
                self.setup.client_id, self.setup.client_secret
            ))
        );
        let authorized = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == expected_basic);
        if !authorized {
            return self.refuse(401, "invalid_client", "client authentication failed");
        }
        let Ok(form) = serde_urlencoded::from_bytes::<HashMap<String, String>>(request.body())
        else {
            return self.refuse(400, "invalid_request", "the body is not a form");
        };
        let field = |name: &str| form.get(name).map(String::as_str);
        if field("grant_type") != Some(GRANT_TYPE_TOKEN_EXCHANGE) {
            return self.refuse(400, "unsupported_grant_type", "expected token exchange");
        }
        if field("subject_token_type") != Some(TOKEN_TYPE_ACCESS_TOKEN) {
            return self.refuse(400, "invalid_request", "subject_token_type");
        }
        let Some(resource) = field("resource") else {
            return self.refuse(400, "invalid_target", "no resource");
        };
        if resource != self.setup.upstream {
            return self.refuse(400, "invalid_target", "unknown resource");
        }
        let Some(claims) = field("subject_token").and_then(read_claims) else {
            return self.refuse(400, "invalid_grant", "the subject token is not a JWT");
        };
        if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
            return self.refuse(
                400,
                "invalid_grant",
                "the subject token is from another issuer",
            );
        }
        let Some(subject) = claims.get("sub").and_then(Value::as_str) else {
            return self.refuse(400, "invalid_grant", "the subject token has no sub");
        };
        let Some(client_id) = claims.get("client_id").and_then(Value::as_str) else {
            return self.refuse(400, "invalid_grant", "the subject token has no client_id");
        };
        let Some(audience) = claims.get("aud").and_then(Value::as_str) else {
            return self.refuse(400, "invalid_grant", "the subject token has no aud");
        };
        let chain = Chain {
            issuer: issuer.to_owned(),
            subject: Some(subject.to_owned()),
            client_id: client_id.to_owned(),
            audience: audience.to_owned(),
        };
        let expires_at_ms = self.now_ms() + self.setup.token_lifetime_secs * 1000;
        let mut log = self.log();
        let token = format!("up-{}", log.issued.len() + 1);
        let index = log.issued.len();
        log.issued.push(Issuance {
            token: token.clone(),
            chain,
            resource: resource.to_owned(),
            expires_at_ms,
            revoked: false,
        });
        log.by_token.insert(token.clone(), index);
        json_response(
            200,
            json!({
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": self.setup.token_lifetime_secs,
                "issued_token_type": TOKEN_TYPE_ACCESS_TOKEN,
            }),
        )
    }

    fn upstream_user(&self, request: &http::Request<Bytes>) -> http::Response<Bytes> {
        let request_id = request
            .headers()
            .get(REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let token = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_owned);
        let now = self.now_ms();
        let issuance = token.as_deref().and_then(|t| self.issuance(t));
        let response = match &issuance {
            Some(i) if !i.revoked && now < i.expires_at_ms && i.resource == self.setup.upstream => {
                json_response(
                    200,
                    json!({
                        "login": i.chain.subject,
                        "iss": i.chain.issuer,
                        "sub": i.chain.subject,
                        "client_id": i.chain.client_id,
                        "aud": i.chain.audience,
                    }),
                )
            }
            _ => json_response(401, json!({ "message": "Bad credentials" })),
        };
        self.log().upstream_calls.push(UpstreamCall {
            request_id,
            token,
            status: response.status().as_u16(),
        });
        response
    }
}

impl HttpClient for FakeZone {
    fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> BoxFuture<'_, Result<http::Response<Bytes>, HttpError>> {
        let before = self.latency.next();
        let after = self.latency.next();
        Box::pin(async move {
            before.await;
            let answer = self.answer(&request);
            after.await;
            answer
        })
    }
}

/// The chain an upstream `/user` answer names, if it is well formed.
pub fn chain_in_profile(body: &[u8]) -> Option<Chain> {
    let profile: Value = serde_json::from_slice(body).ok()?;
    Some(Chain {
        issuer: profile.get("iss")?.as_str()?.to_owned(),
        subject: profile.get("sub")?.as_str().map(str::to_owned),
        client_id: profile.get("client_id")?.as_str()?.to_owned(),
        audience: profile.get("aud")?.as_str()?.to_owned(),
    })
}
