//! How the Worker authenticates itself to the Keycard STS.
//!
//! * `client_secret_basic` (RFC 6749 §2.3.1): `Authorization: Basic
//!   base64(urlencode(client_id) ":" urlencode(client_secret))`.
//! * web identity, `private_key_jwt` (RFC 7523 §2.2): an RS256 client assertion signed with
//!   `KEYCARD_PRIVATE_KEY`, `kid` = the RFC 7638 thumbprint of its public key, `iss = sub =
//!   client_id =` this server's resource identifier, `aud` = the token endpoint, a random
//!   `jti`, `exp = iat + 300`. The public key is served at `/.well-known/jwks.json`.
//!
//! The PEM is parsed when the credentials are built (a bad key is a startup error); the
//! key is imported into the platform's crypto once, lazily, on first use.
//!
//! Preparing a request is split like oauth2-rs: [`ClientCredentials::authenticate`]
//! (async: it may sign) yields a [`ClientAuth`], whose [`ClientAuth::apply`] adds the form
//! fields and headers to a token request (pure).

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::{HeaderMap, HeaderValue, header};

use crate::auth::jwk::{Jwk, JwkSet};
use crate::config::Credential;
use crate::delegation::pem::{PemError, RsaPrivateKey};
use crate::ports::{Clock, Crypto, CryptoError, SigningKey};
use crate::secret::SecretString;

/// `client_assertion_type` for RFC 7523 JWT client authentication.
pub const CLIENT_ASSERTION_TYPE_JWT_BEARER: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Lifetime of a client assertion, in seconds (Keycard accepts at most five minutes).
pub const ASSERTION_LIFETIME_SECS: u64 = 300;

/// Why the Worker could not authenticate to the STS. Never contains a secret or key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    /// `KEYCARD_PRIVATE_KEY` is not a usable RSA private key.
    #[error("KEYCARD_PRIVATE_KEY is not a usable RSA private key: {0}")]
    BadPrivateKey(PemError),
    /// The platform's crypto refused to import `KEYCARD_PRIVATE_KEY`.
    #[error("KEYCARD_PRIVATE_KEY could not be imported for RS256 signing: {0}")]
    Import(CryptoError),
    /// Signing the client assertion or drawing its `jti` failed.
    #[error("could not sign the client assertion: {0}")]
    Sign(CryptoError),
    /// Web identity needs this server's resource identifier, and none is known.
    #[error(
        "web identity needs this server's resource identifier (KEYCARD_RESOURCE_ID or the request origin)"
    )]
    NoResourceId,
}

impl CredentialsError {
    /// The same problem, as a startup [`crate::ConfigError`] naming the variable.
    pub fn into_config_error(self) -> crate::ConfigError {
        crate::ConfigError::Invalid {
            name: "KEYCARD_PRIVATE_KEY",
            reason: match self {
                Self::BadPrivateKey(e) => e.to_string(),
                other => other.to_string(),
            },
        }
    }
}

/// Which RFC 6749 / RFC 7523 client authentication method is in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// `client_secret_basic`.
    ClientSecretBasic,
    /// `private_key_jwt`.
    PrivateKeyJwt,
}

/// The Worker's STS credentials, built once per isolate from [`Credential`].
pub struct ClientCredentials {
    inner: Inner,
}

enum Inner {
    Basic {
        client_id: String,
        header: HeaderValue,
    },
    WebIdentity(Box<WebIdentity>),
}

struct WebIdentity {
    key: RsaPrivateKey,
    kid: String,
    crypto: Arc<dyn Crypto>,
    clock: Arc<dyn Clock>,
    /// The imported key; the async mutex makes the first import single-flight.
    imported: futures::lock::Mutex<Option<Arc<dyn SigningKey>>>,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            Inner::Basic { client_id, .. } => f
                .debug_struct("ClientCredentials::ClientSecretBasic")
                .field("client_id", client_id)
                .field("client_secret", &"[redacted]")
                .finish(),
            Inner::WebIdentity(w) => f
                .debug_struct("ClientCredentials::PrivateKeyJwt")
                .field("kid", &w.kid)
                .field("private_key", &"[redacted]")
                .finish(),
        }
    }
}

/// What one token request needs to authenticate the client: form fields and headers.
/// Its `Debug` redacts the values.
#[derive(Clone, Default)]
pub struct ClientAuth {
    form: Vec<(String, SecretString)>,
    headers: HeaderMap,
}

impl std::fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientAuth")
            .field(
                "form",
                &self
                    .form
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl ClientAuth {
    /// Adds the client authentication to a token request's form and headers.
    pub fn apply(&self, form: &mut Vec<(String, String)>, headers: &mut HeaderMap) {
        for (name, value) in &self.form {
            form.push((name.clone(), value.expose().clone()));
        }
        for (name, value) in &self.headers {
            headers.insert(name.clone(), value.clone());
        }
    }
}

impl ClientCredentials {
    /// Credentials for `credential`. Parses a private key's PEM now, so a bad key is a
    /// startup error; the platform import happens on first use.
    pub fn new(
        credential: &Credential,
        crypto: Arc<dyn Crypto>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, CredentialsError> {
        let inner = match credential {
            Credential::ClientSecret {
                client_id,
                client_secret,
            } => Inner::Basic {
                client_id: client_id.clone(),
                header: basic_authorization(client_id, client_secret.expose()),
            },
            Credential::PrivateKey { pem } => {
                let key = crate::delegation::pem::parse_rsa_private_key(pem.expose())
                    .map_err(CredentialsError::BadPrivateKey)?;
                let kid = key.public_jwk.thumbprint().ok_or_else(|| {
                    CredentialsError::BadPrivateKey(PemError::MalformedDer(
                        "no modulus or exponent".into(),
                    ))
                })?;
                Inner::WebIdentity(Box::new(WebIdentity {
                    key,
                    kid,
                    crypto,
                    clock,
                    imported: futures::lock::Mutex::new(None),
                }))
            }
        };
        Ok(Self { inner })
    }

    /// The authentication method.
    pub fn method(&self) -> AuthMethod {
        match self.inner {
            Inner::Basic { .. } => AuthMethod::ClientSecretBasic,
            Inner::WebIdentity(_) => AuthMethod::PrivateKeyJwt,
        }
    }

    /// The `kid` of the web-identity key (its RFC 7638 thumbprint).
    pub fn key_id(&self) -> Option<&str> {
        match &self.inner {
            Inner::Basic { .. } => None,
            Inner::WebIdentity(w) => Some(&w.kid),
        }
    }

    /// The configured client id (client-secret mode; in web identity it is the resource
    /// identifier, known per request).
    pub fn client_id(&self) -> Option<&str> {
        match &self.inner {
            Inner::Basic { client_id, .. } => Some(client_id),
            Inner::WebIdentity(_) => None,
        }
    }

    /// The public key set served at `/.well-known/jwks.json` (web identity only).
    pub fn public_jwks(&self) -> Option<JwkSet> {
        match &self.inner {
            Inner::Basic { .. } => None,
            Inner::WebIdentity(w) => Some(JwkSet {
                keys: vec![Jwk {
                    kid: Some(w.kid.clone()),
                    alg: Some("RS256".into()),
                    use_: Some("sig".into()),
                    ..w.key.public_jwk.clone()
                }],
            }),
        }
    }

    /// Imports the signing key now (web identity; a no-op otherwise). Hosts may call this
    /// at startup to surface an import failure early.
    pub async fn warm_up(&self) -> Result<(), CredentialsError> {
        match &self.inner {
            Inner::Basic { .. } => Ok(()),
            Inner::WebIdentity(w) => w.signing_key().await.map(|_| ()),
        }
    }

    /// The client authentication for one token request to `token_endpoint`, on behalf of
    /// the server identified by `resource_id` (web identity's `iss`/`sub`/`client_id`).
    pub async fn authenticate(
        &self,
        resource_id: Option<&str>,
        token_endpoint: &str,
    ) -> Result<ClientAuth, CredentialsError> {
        match &self.inner {
            Inner::Basic { header, .. } => {
                let mut headers = HeaderMap::new();
                headers.insert(header::AUTHORIZATION, header.clone());
                Ok(ClientAuth {
                    form: Vec::new(),
                    headers,
                })
            }
            Inner::WebIdentity(w) => {
                let resource_id = resource_id.ok_or(CredentialsError::NoResourceId)?;
                let assertion = w.assertion(resource_id, token_endpoint).await?;
                Ok(ClientAuth {
                    form: vec![
                        (
                            "client_id".into(),
                            SecretString::new(resource_id.to_owned()),
                        ),
                        (
                            "client_assertion_type".into(),
                            SecretString::new(CLIENT_ASSERTION_TYPE_JWT_BEARER.to_owned()),
                        ),
                        ("client_assertion".into(), assertion),
                    ],
                    headers: HeaderMap::new(),
                })
            }
        }
    }
}

impl WebIdentity {
    async fn signing_key(&self) -> Result<Arc<dyn SigningKey>, CredentialsError> {
        let mut slot = self.imported.lock().await;
        if let Some(key) = slot.as_ref() {
            return Ok(key.clone());
        }
        let key = self
            .crypto
            .import_signing_key(&self.key.pkcs8_der)
            .await
            .map_err(CredentialsError::Import)?;
        *slot = Some(key.clone());
        Ok(key)
    }

    async fn assertion(
        &self,
        resource_id: &str,
        token_endpoint: &str,
    ) -> Result<SecretString, CredentialsError> {
        let mut jti = [0u8; 16];
        self.crypto
            .fill_random(&mut jti)
            .map_err(CredentialsError::Sign)?;
        let iat = self.clock.now_secs();
        let header = serde_json::json!({ "alg": "RS256", "typ": "JWT", "kid": self.kid });
        let claims = serde_json::json!({
            "iss": resource_id,
            "sub": resource_id,
            "aud": token_endpoint,
            "jti": URL_SAFE_NO_PAD.encode(jti),
            "iat": iat,
            "exp": iat + ASSERTION_LIFETIME_SECS,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let key = self.signing_key().await?;
        let signature = key
            .sign(signing_input.as_bytes())
            .await
            .map_err(CredentialsError::Sign)?;
        Ok(SecretString::new(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        )))
    }
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))`, marked sensitive.
fn basic_authorization(client_id: &str, client_secret: &str) -> HeaderValue {
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let credentials = format!("{}:{}", encode(client_id), encode(client_secret));
    // Base64 output is always a valid header value.
    let mut value = HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(credentials)))
        .unwrap_or_else(|_| HeaderValue::from_static("Basic"));
    value.set_sensitive(true);
    value
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ports::testing::{ManualClock, SharedManualClock};
    use crate::ports::{BoxFuture, JwsAlg, SecretBytes, VerifyingKey};
    use std::sync::atomic::{AtomicUsize, Ordering};

    pub(crate) const PKCS1: &str =
        include_str!("../../../../fixtures/keys/worker-web-identity.pkcs1.pem");

    /// A fake Crypto: "signs" by hashing, counts imports, draws deterministic randomness.
    #[derive(Default)]
    pub(crate) struct FakeCrypto {
        pub imports: AtomicUsize,
        pub fail_import: bool,
        counter: AtomicUsize,
    }

    pub(crate) struct FakeKey(Vec<u8>);

    impl SigningKey for FakeKey {
        fn sign<'a>(&'a self, message: &'a [u8]) -> BoxFuture<'a, Result<Vec<u8>, CryptoError>> {
            use sha2::Digest as _;
            let mut h = sha2::Sha256::new();
            h.update(&self.0);
            h.update(message);
            Box::pin(async move { Ok(h.finalize().to_vec()) })
        }
        fn public_jwk(&self) -> Jwk {
            Jwk::default()
        }
    }

    impl Crypto for FakeCrypto {
        fn import_verifying_key<'a>(
            &'a self,
            _alg: JwsAlg,
            _jwk: &'a Jwk,
        ) -> BoxFuture<'a, Result<Arc<dyn VerifyingKey>, CryptoError>> {
            Box::pin(async { Err(CryptoError::Failed("not in this fake".into())) })
        }
        fn import_signing_key<'a>(
            &'a self,
            pkcs8_der: &'a SecretBytes,
        ) -> BoxFuture<'a, Result<Arc<dyn SigningKey>, CryptoError>> {
            self.imports.fetch_add(1, Ordering::SeqCst);
            let fail = self.fail_import;
            Box::pin(async move {
                if fail {
                    return Err(CryptoError::BadKey("refused by the fake".into()));
                }
                Ok(Arc::new(FakeKey(pkcs8_der.expose().clone())) as Arc<dyn SigningKey>)
            })
        }
        fn fill_random(&self, buf: &mut [u8]) -> Result<(), CryptoError> {
            let n = self.counter.fetch_add(1, Ordering::SeqCst);
            for (i, b) in buf.iter_mut().enumerate() {
                *b = (n + i) as u8;
            }
            Ok(())
        }
    }

    fn web_identity(crypto: Arc<FakeCrypto>) -> ClientCredentials {
        let clock = SharedManualClock(ManualClock::new(1_700_000_000_123));
        ClientCredentials::new(
            &Credential::PrivateKey { pem: PKCS1.into() },
            crypto,
            Arc::new(clock),
        )
        .unwrap()
    }

    fn decode_part(part: &str) -> serde_json::Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    fn form_map(auth: &ClientAuth) -> (Vec<(String, String)>, HeaderMap) {
        let mut form = Vec::new();
        let mut headers = HeaderMap::new();
        auth.apply(&mut form, &mut headers);
        (form, headers)
    }

    #[test]
    fn basic_header_urlencodes_then_base64s() {
        let header = basic_authorization("my client:1", "p@ss w/rd+&é:");
        let value = header.to_str().unwrap();
        let decoded =
            String::from_utf8(STANDARD.decode(&value["Basic ".len()..]).unwrap()).unwrap();
        assert_eq!(decoded, "my+client%3A1:p%40ss+w%2Frd%2B%26%C3%A9%3A");
        assert!(header.is_sensitive());
        // RFC 6749 §2.3.1 example-ish: plain values unchanged.
        let plain = basic_authorization("s6BhdRkqt3", "7Fjfp0ZBr1KtDRbnfVdmIw");
        assert_eq!(
            plain.to_str().unwrap(),
            "Basic czZCaGRSa3F0Mzo3RmpmcDBaQnIxS3REUmJuZlZkbUl3"
        );
    }

    #[tokio::test]
    async fn client_secret_basic_sets_only_the_header() {
        let creds = ClientCredentials::new(
            &Credential::ClientSecret {
                client_id: "id".into(),
                client_secret: "s3cr3t".into(),
            },
            Arc::new(FakeCrypto::default()),
            Arc::new(SharedManualClock(ManualClock::new(0))),
        )
        .unwrap();
        assert_eq!(creds.method(), AuthMethod::ClientSecretBasic);
        assert!(creds.public_jwks().is_none());
        let auth = creds.authenticate(None, "https://z/token").await.unwrap();
        let (form, headers) = form_map(&auth);
        assert!(form.is_empty());
        assert_eq!(
            headers[header::AUTHORIZATION].to_str().unwrap(),
            format!("Basic {}", STANDARD.encode("id:s3cr3t"))
        );
        assert!(!format!("{creds:?}").contains("s3cr3t"));
        assert!(!format!("{auth:?}").contains("aWQ6czNjcjN0"));
    }

    #[tokio::test]
    async fn assertion_header_and_claims() {
        let crypto = Arc::new(FakeCrypto::default());
        let creds = web_identity(crypto.clone());
        assert_eq!(creds.method(), AuthMethod::PrivateKeyJwt);
        let auth = creds
            .authenticate(
                Some("https://mcp.example.com"),
                "https://z.keycard.cloud/oauth/token",
            )
            .await
            .unwrap();
        let (form, headers) = form_map(&auth);
        assert!(headers.is_empty());
        let names: Vec<&str> = form.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            ["client_id", "client_assertion_type", "client_assertion"]
        );
        assert_eq!(form[0].1, "https://mcp.example.com");
        assert_eq!(form[1].1, CLIENT_ASSERTION_TYPE_JWT_BEARER);

        let parts: Vec<&str> = form[2].1.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header = decode_part(parts[0]);
        let thumbprint = crate::delegation::pem::parse_rsa_private_key(PKCS1)
            .unwrap()
            .public_jwk
            .thumbprint()
            .unwrap();
        assert_eq!(
            header,
            serde_json::json!({ "alg": "RS256", "typ": "JWT", "kid": thumbprint })
        );
        let claims = decode_part(parts[1]);
        assert_eq!(claims["iss"], "https://mcp.example.com");
        assert_eq!(claims["sub"], "https://mcp.example.com");
        assert_eq!(claims["aud"], "https://z.keycard.cloud/oauth/token");
        assert_eq!(claims["iat"], 1_700_000_000);
        assert_eq!(
            claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
            300
        );
        let jti = URL_SAFE_NO_PAD
            .decode(claims["jti"].as_str().unwrap())
            .unwrap();
        assert_eq!(jti.len(), 16);
        // The signature covers exactly `header.claims` with the imported key.
        let expected = FakeKey(
            crate::delegation::pem::pem_to_pkcs8_der(PKCS1)
                .unwrap()
                .expose()
                .clone(),
        )
        .sign(format!("{}.{}", parts[0], parts[1]).as_bytes())
        .await
        .unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(parts[2]).unwrap(), expected);
        assert!(!format!("{auth:?}").contains(parts[2]));
    }

    #[tokio::test]
    async fn key_imported_once_and_jti_fresh_each_time() {
        let crypto = Arc::new(FakeCrypto::default());
        let creds = web_identity(crypto.clone());
        let (a, b) = futures::join!(
            creds.authenticate(Some("https://r"), "https://t"),
            creds.authenticate(Some("https://r"), "https://t")
        );
        let c = creds
            .authenticate(Some("https://r"), "https://t")
            .await
            .unwrap();
        assert_eq!(crypto.imports.load(Ordering::SeqCst), 1);
        let jti = |auth: &ClientAuth| {
            let (form, _) = form_map(auth);
            let claims = decode_part(form[2].1.split('.').nth(1).unwrap());
            claims["jti"].as_str().unwrap().to_owned()
        };
        let jtis = [jti(&a.unwrap()), jti(&b.unwrap()), jti(&c)];
        assert_ne!(jtis[0], jtis[1]);
        assert_ne!(jtis[1], jtis[2]);
    }

    #[tokio::test]
    async fn public_jwks_has_kid_alg_use() {
        let creds = web_identity(Arc::new(FakeCrypto::default()));
        let jwks = creds.public_jwks().unwrap();
        assert_eq!(jwks.keys.len(), 1);
        let key = &jwks.keys[0];
        assert_eq!(key.kid.as_deref(), creds.key_id());
        assert_eq!(key.kid, key.thumbprint());
        assert_eq!(key.alg.as_deref(), Some("RS256"));
        assert_eq!(key.use_.as_deref(), Some("sig"));
        assert!(
            key.n
                .as_deref()
                .unwrap()
                .starts_with("uoyno7WH7-RPfWk8ebHPVzTMphosN2_oxT3mKUm8")
        );
        let json = serde_json::to_string(&jwks).unwrap();
        for private in ["\"d\"", "\"p\"", "\"q\"", "\"dp\""] {
            assert!(!json.contains(private), "{json}");
        }
    }

    #[tokio::test]
    async fn failures_name_the_variable_never_the_key() {
        let crypto = Arc::new(FakeCrypto {
            fail_import: true,
            ..FakeCrypto::default()
        });
        let creds = web_identity(crypto.clone());
        let err = creds
            .authenticate(Some("https://r"), "https://t")
            .await
            .unwrap_err();
        assert!(matches!(err, CredentialsError::Import(_)));
        assert!(err.to_string().contains("KEYCARD_PRIVATE_KEY"));
        // A failed import is not remembered: the next call tries again.
        let _ = creds.warm_up().await;
        assert_eq!(crypto.imports.load(Ordering::SeqCst), 2);

        assert_eq!(
            creds.authenticate(None, "https://t").await.unwrap_err(),
            CredentialsError::NoResourceId
        );

        let bad = ClientCredentials::new(
            &Credential::PrivateKey {
                pem: "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----".into(),
            },
            crypto,
            Arc::new(SharedManualClock(ManualClock::new(0))),
        )
        .unwrap_err();
        let config_error = bad.into_config_error();
        let msg = config_error.to_string();
        assert!(msg.starts_with("KEYCARD_PRIVATE_KEY is invalid"), "{msg}");
        assert!(msg.contains("PUBLIC KEY"), "{msg}");
        assert!(!msg.contains("MIIB"), "{msg}");
        let debug = format!("{:?}", web_identity(Arc::new(FakeCrypto::default())));
        assert!(!debug.contains("MII"), "{debug}");
    }

    #[tokio::test]
    async fn real_rs256_assertion_verifies_with_the_published_jwk() {
        let crypto = Arc::new(crate::ports::rust_crypto::RustCrypto::new());
        let creds = ClientCredentials::new(
            &Credential::PrivateKey { pem: PKCS1.into() },
            crypto.clone(),
            Arc::new(SharedManualClock(ManualClock::new(1_700_000_000_000))),
        )
        .unwrap();
        let auth = creds
            .authenticate(Some("https://mcp.example.com"), "https://z/token")
            .await
            .unwrap();
        let (form, _) = form_map(&auth);
        let jwt = &form[2].1;
        let (signing_input, signature) = jwt.rsplit_once('.').unwrap();
        let jwks = creds.public_jwks().unwrap();
        let verifier = crypto
            .import_verifying_key(JwsAlg::Rs256, &jwks.keys[0])
            .await
            .unwrap();
        let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
        assert!(
            verifier
                .verify(signing_input.as_bytes(), &signature)
                .await
                .unwrap()
        );
        assert!(!verifier.verify(b"tampered", &signature).await.unwrap());
        // The key the platform imported is the key we publish.
        let pkcs8 = crate::delegation::pem::pem_to_pkcs8_der(PKCS1).unwrap();
        let imported = crypto
            .import_signing_key(&pkcs8)
            .await
            .unwrap()
            .public_jwk();
        assert_eq!(
            (imported.n, imported.e),
            (jwks.keys[0].n.clone(), jwks.keys[0].e.clone())
        );
    }
}
