//! The seam between the core and its hosts.
//!
//! The core performs no I/O, reads no clock and draws no randomness by itself. Everything
//! it needs from the outside world arrives through the three traits here:
//!
//! * [`Clock`]: the current time and a way to wait (for timeouts),
//! * [`HttpClient`]: one outbound HTTP exchange over `http::Request<Bytes>`,
//! * [`Crypto`]: key import, signature verification and signing, randomness.
//!
//! The wasm Worker implements them with `Date.now()`, `fetch` and WebCrypto; the native
//! hosts with the system clock, reqwest (or an in-process router) and pure-Rust crypto.
//! All futures are `Send` so a native host may use a multi-threaded runtime; the wasm
//! host wraps its (single-threaded) JS futures with `worker::send::SendFuture`.

#[cfg(any(test, feature = "rust-crypto"))]
pub mod rust_crypto;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::auth::jwk::Jwk;

/// A boxed, `Send` future: what every port method returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Milliseconds since the Unix epoch.
pub type UnixMillis = u64;

/// The source of time. The core never reads the system clock.
pub trait Clock: Send + Sync + 'static {
    /// The current wall-clock time in milliseconds since the Unix epoch.
    fn now_ms(&self) -> UnixMillis;

    /// A future that completes after `duration` (used to enforce outbound timeouts).
    ///
    /// It must wake the waker of its *latest* poll, as every future must: a host may poll
    /// a request once with a no-op waker before an executor drives it (the wasm host
    /// does, to answer without a future when it can), and a sleep that kept its first
    /// poll's waker would then wake nobody.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;

    /// The current time in whole seconds since the Unix epoch (JWT `NumericDate`).
    fn now_secs(&self) -> u64 {
        self.now_ms() / 1000
    }
}

/// Why an outbound HTTP exchange produced no response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// The connection could not be made or was dropped before a response arrived.
    #[error("connection failed: {0}")]
    Connect(String),
    /// The peer did not answer in time (hosts may also let the core's own timeout fire).
    #[error("timed out")]
    Timeout,
    /// The request could not be sent at all (bad URL, host limitation).
    #[error("request failed: {0}")]
    Other(String),
}

/// The largest response body an [`HttpClient`] hands to the core, in bytes (16 MiB). A
/// larger body is an [`HttpError::Other`], never a truncated document. Every response the
/// core reads (discovery, JWKS, STS, upstream APIs) is far smaller.
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// One outbound HTTP exchange. Implementations must not follow redirects (a 3xx is
/// returned as it came, like `fetch` with `redirect: "manual"`: the core decides, and a
/// redirect never carries credentials elsewhere), must refuse a body over
/// [`MAX_RESPONSE_BYTES`] with an error, and must not log request headers (they carry
/// credentials).
pub trait HttpClient: Send + Sync + 'static {
    /// Sends `request` (absolute URI) and returns the whole response.
    fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> BoxFuture<'_, Result<http::Response<Bytes>, HttpError>>;
}

/// JWS algorithms the core accepts. Never `none`, never HMAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JwsAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PSS with SHA-256 and MGF1 with SHA-256.
    Ps256,
    /// ECDSA on P-256 with SHA-256 (signature is the 64-byte `r || s`).
    Es256,
}

impl JwsAlg {
    /// Parses a JOSE `alg` value; anything outside the allowlist is `None`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "RS256" => Some(Self::Rs256),
            "PS256" => Some(Self::Ps256),
            "ES256" => Some(Self::Es256),
            _ => None,
        }
    }

    /// The JOSE name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Ps256 => "PS256",
            Self::Es256 => "ES256",
        }
    }
}

/// Why a crypto operation failed (distinct from "the signature does not match").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The key material is malformed or of the wrong type for the algorithm.
    #[error("unusable key: {0}")]
    BadKey(String),
    /// The platform refused the operation.
    #[error("crypto operation failed: {0}")]
    Failed(String),
}

/// An imported public key, ready to verify signatures for one algorithm.
pub trait VerifyingKey: Send + Sync {
    /// Checks `signature` over `message`. `Ok(false)` means "does not verify".
    fn verify<'a>(
        &'a self,
        message: &'a [u8],
        signature: &'a [u8],
    ) -> BoxFuture<'a, Result<bool, CryptoError>>;
}

/// An imported RSA private key used to sign `private_key_jwt` client assertions (RS256).
pub trait SigningKey: Send + Sync {
    /// RS256 signature over `message`.
    fn sign<'a>(&'a self, message: &'a [u8]) -> BoxFuture<'a, Result<Vec<u8>, CryptoError>>;
    /// The public half as a JWK (`kty`, `n`, `e`; the core adds `kid`, `alg`, `use`).
    fn public_jwk(&self) -> Jwk;
}

/// Signature verification, signing and randomness.
pub trait Crypto: Send + Sync + 'static {
    /// Imports a public JWK for `alg`. Called once per key; the keyring caches the result.
    fn import_verifying_key<'a>(
        &'a self,
        alg: JwsAlg,
        jwk: &'a Jwk,
    ) -> BoxFuture<'a, Result<Arc<dyn VerifyingKey>, CryptoError>>;

    /// Imports an RSA private key from PKCS#8 DER (the core converts PKCS#1 and PEM first).
    fn import_signing_key<'a>(
        &'a self,
        pkcs8_der: &'a SecretBytes,
    ) -> BoxFuture<'a, Result<Arc<dyn SigningKey>, CryptoError>>;

    /// Fills `buf` with cryptographically secure random bytes.
    fn fill_random(&self, buf: &mut [u8]) -> Result<(), CryptoError>;
}

/// Secret bytes (private key DER) with a redacted `Debug`.
pub type SecretBytes = crate::secret::Secret<Vec<u8>>;

/// The three ports bundled, as the [`crate::Gateway`] takes them.
#[derive(Clone)]
pub struct Ports {
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Outbound HTTP.
    pub http: Arc<dyn HttpClient>,
    /// Crypto.
    pub crypto: Arc<dyn Crypto>,
}

impl std::fmt::Debug for Ports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ports { .. }")
    }
}

/// Races `fut` against `timeout` on `clock`; `None` when the timeout fired first.
pub async fn with_timeout<T>(
    clock: &dyn Clock,
    timeout: Duration,
    fut: impl Future<Output = T>,
) -> Option<T> {
    use futures::future::{Either, select};
    let sleep = clock.sleep(timeout);
    let fut = std::pin::pin!(fut);
    match select(fut, sleep).await {
        Either::Left((value, _)) => Some(value),
        Either::Right(((), _)) => None,
    }
}
