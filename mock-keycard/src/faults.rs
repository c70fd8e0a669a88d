//! Fault injection per endpoint: fixed latency, seeded random jitter, error statuses,
//! malformed bodies and dropped connections, each failure with a probability.
//!
//! Latency always applies (it is not a failure); `probability` (default 1) decides whether a
//! request also fails. When several failures are set, `drop` wins over `status`, which wins
//! over `malformed`. Randomness comes from one `StdRng` per zone seeded by `seed` (default 0),
//! so a sequential run is reproducible. Latency is a `tokio::time::sleep`: concurrent requests
//! interleave.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::zone::Zone;

/// Errors in a fault configuration.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FaultError {
    /// Status outside 400..=599.
    #[error("fault status {0} is not an HTTP error status (400..=599)")]
    Status(u16),
    /// Probability outside [0, 1].
    #[error("fault probability {0} is not within [0, 1]")]
    Probability(f64),
}

/// The endpoints faults can target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Endpoint {
    /// Both discovery documents.
    Discovery,
    /// The JWKS.
    Jwks,
    /// The token endpoint.
    Token,
    /// The demo upstream API.
    Upstream,
    /// The authorization endpoint.
    Authorize,
    /// Dynamic client registration.
    Register,
}

/// Faults for one endpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FaultSpec {
    /// Fixed latency added to every request (ms).
    pub latency_ms: u64,
    /// Extra uniform random latency in `0..=jitter_ms` (ms), from the seeded RNG.
    pub jitter_ms: u64,
    /// Answer with this error status.
    pub status: Option<u16>,
    /// Answer 200 with a truncated JSON body.
    pub malformed: bool,
    /// Close the connection without a complete response.
    pub drop: bool,
    /// Probability that a request fails (`status`/`malformed`/`drop`); default 1.
    pub probability: Option<f64>,
}

/// Faults for every endpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Faults {
    /// RNG seed for jitter and probabilities.
    pub seed: Option<u64>,
    /// Discovery documents.
    pub discovery: Option<FaultSpec>,
    /// JWKS.
    pub jwks: Option<FaultSpec>,
    /// Token endpoint.
    pub token: Option<FaultSpec>,
    /// Demo upstream.
    pub upstream: Option<FaultSpec>,
    /// Authorization endpoint.
    pub authorize: Option<FaultSpec>,
    /// Registration endpoint.
    pub register: Option<FaultSpec>,
}

impl Faults {
    /// The spec for `endpoint`.
    pub fn get(&self, endpoint: Endpoint) -> Option<&FaultSpec> {
        match endpoint {
            Endpoint::Discovery => self.discovery.as_ref(),
            Endpoint::Jwks => self.jwks.as_ref(),
            Endpoint::Token => self.token.as_ref(),
            Endpoint::Upstream => self.upstream.as_ref(),
            Endpoint::Authorize => self.authorize.as_ref(),
            Endpoint::Register => self.register.as_ref(),
        }
    }

    /// Sets the spec for `endpoint` (builder style).
    pub fn with(mut self, endpoint: Endpoint, spec: FaultSpec) -> Self {
        let slot = match endpoint {
            Endpoint::Discovery => &mut self.discovery,
            Endpoint::Jwks => &mut self.jwks,
            Endpoint::Token => &mut self.token,
            Endpoint::Upstream => &mut self.upstream,
            Endpoint::Authorize => &mut self.authorize,
            Endpoint::Register => &mut self.register,
        };
        *slot = Some(spec);
        self
    }

    /// Checks statuses and probabilities.
    pub fn validate(&self) -> Result<(), FaultError> {
        let specs = [
            &self.discovery,
            &self.jwks,
            &self.token,
            &self.upstream,
            &self.authorize,
            &self.register,
        ];
        for spec in specs.into_iter().flatten() {
            if let Some(status) = spec.status
                && !(400..=599).contains(&status)
            {
                return Err(FaultError::Status(status));
            }
            if let Some(p) = spec.probability
                && !(0.0..=1.0).contains(&p)
            {
                return Err(FaultError::Probability(p));
            }
        }
        Ok(())
    }
}

/// A decided failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    Drop,
    Status(u16),
    Malformed,
}

/// What to do with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Plan {
    pub delay: Duration,
    pub failure: Option<Failure>,
}

/// Current faults plus the seeded RNG.
#[derive(Debug)]
pub(crate) struct FaultState {
    faults: Faults,
    rng: StdRng,
}

impl FaultState {
    pub(crate) fn new(faults: Faults) -> Self {
        let rng = StdRng::seed_from_u64(faults.seed.unwrap_or(0));
        Self { faults, rng }
    }

    pub(crate) fn faults(&self) -> &Faults {
        &self.faults
    }

    pub(crate) fn plan(&mut self, endpoint: Endpoint) -> Option<Plan> {
        let spec = self.faults.get(endpoint)?.clone();
        let jitter = if spec.jitter_ms > 0 {
            self.rng.gen_range(0..=spec.jitter_ms)
        } else {
            0
        };
        let delay = Duration::from_millis(spec.latency_ms.saturating_add(jitter));
        let wants_failure = spec.drop || spec.status.is_some() || spec.malformed;
        let fails = wants_failure
            && match spec.probability {
                None => true,
                Some(p) if p >= 1.0 => true,
                Some(p) => self.rng.gen_bool(p.max(0.0)),
            };
        let failure = if !fails {
            None
        } else if spec.drop {
            Some(Failure::Drop)
        } else if let Some(status) = spec.status {
            Some(Failure::Status(status))
        } else {
            Some(Failure::Malformed)
        };
        Some(Plan { delay, failure })
    }
}

/// Axum middleware applying the zone's faults for `endpoint`.
pub(crate) async fn inject(
    State((zone, endpoint)): State<(Zone, Endpoint)>,
    request: Request,
    next: Next,
) -> Response {
    let Some(plan) = zone.fault_plan(endpoint) else {
        return next.run(request).await;
    };
    if !plan.delay.is_zero() {
        tokio::time::sleep(plan.delay).await;
    }
    match plan.failure {
        None => next.run(request).await,
        Some(failure) => {
            tracing::debug!(?endpoint, ?failure, "injecting fault");
            failure_response(endpoint, failure)
        }
    }
}

fn failure_response(endpoint: Endpoint, failure: Failure) -> Response {
    match failure {
        Failure::Drop => {
            // A body that fails before its first byte makes hyper abort the connection: the
            // client sees a closed connection / incomplete message, not an HTTP answer.
            let stream = futures::stream::once(async {
                Err::<bytes::Bytes, std::io::Error>(std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    "injected fault: connection dropped",
                ))
            });
            let mut response = Response::new(Body::from_stream(stream));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        Failure::Malformed => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"injected_fault":"malformed","access_token":"#,
        )
            .into_response(),
        Failure::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let body = match endpoint {
                Endpoint::Upstream => serde_json::json!({
                    "message": "injected fault",
                    "status": code.to_string(),
                }),
                _ => serde_json::json!({
                    "error": if code == 503 || code == 429 { "temporarily_unavailable" } else { "server_error" },
                    "error_description": format!("injected fault: HTTP {code}"),
                }),
            };
            let mut response = (status, axum::Json(body)).into_response();
            if code == 429 || code == 503 {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_plans_are_reproducible_and_probability_is_honoured() {
        let faults = Faults {
            seed: Some(7),
            ..Faults::default()
        }
        .with(
            Endpoint::Token,
            FaultSpec {
                latency_ms: 5,
                jitter_ms: 50,
                status: Some(503),
                probability: Some(0.5),
                ..FaultSpec::default()
            },
        );
        let run = || {
            let mut state = FaultState::new(faults.clone());
            (0..200)
                .map(|_| state.plan(Endpoint::Token).expect("plan"))
                .collect::<Vec<_>>()
        };
        let (a, b) = (run(), run());
        assert_eq!(a, b);
        let failed = a.iter().filter(|p| p.failure.is_some()).count();
        assert!((60..140).contains(&failed), "{failed} of 200 failed");
        assert!(
            a.iter().all(
                |p| p.delay >= Duration::from_millis(5) && p.delay <= Duration::from_millis(55)
            )
        );
        assert!(a.iter().any(|p| p.delay > Duration::from_millis(30)));
        let mut state = FaultState::new(faults);
        assert!(state.plan(Endpoint::Jwks).is_none());
    }

    #[test]
    fn validation_rejects_bad_status_and_probability() {
        let bad = Faults::default().with(
            Endpoint::Jwks,
            FaultSpec {
                status: Some(200),
                ..FaultSpec::default()
            },
        );
        assert_eq!(bad.validate(), Err(FaultError::Status(200)));
        let bad = Faults::default().with(
            Endpoint::Jwks,
            FaultSpec {
                probability: Some(1.5),
                ..FaultSpec::default()
            },
        );
        assert_eq!(bad.validate(), Err(FaultError::Probability(1.5)));
    }
}
