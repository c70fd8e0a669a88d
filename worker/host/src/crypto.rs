//! `Crypto` over WebCrypto (SubtleCrypto).
//!
//! Keys are imported once (the core's keyring caches the returned handle) and every
//! verification is a single `crypto.subtle.verify` call: ~40x faster inside workerd than
//! pure-Rust RSA compiled to wasm, and it keeps the big-number code out of the wasm.

use std::sync::Arc;

use js_sys::{Array, Object, Reflect, Uint8Array};
use keycard_core::auth::jwk::Jwk;
use keycard_core::ports::{
    BoxFuture, Crypto, CryptoError, JwsAlg, SecretBytes, SigningKey, VerifyingKey,
};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, SubtleCrypto};
use worker::send::{SendFuture, SendWrapper};

/// WebCrypto from the isolate's global `crypto`.
pub struct WebCrypto;

fn global_crypto() -> Result<web_sys::Crypto, CryptoError> {
    Reflect::get(&js_sys::global(), &JsValue::from_str("crypto"))
        .ok()
        .filter(|v| !v.is_undefined())
        .map(|v| v.unchecked_into::<web_sys::Crypto>())
        .ok_or_else(|| CryptoError::Failed("globalThis.crypto is not available".into()))
}

fn subtle() -> Result<SubtleCrypto, CryptoError> {
    Ok(global_crypto()?.subtle())
}

fn js_err(context: &str, e: JsValue) -> CryptoError {
    CryptoError::Failed(format!("{context}: {}", crate::js::error_message(&e)))
}

fn obj(pairs: &[(&str, JsValue)]) -> Result<Object, CryptoError> {
    let o = Object::new();
    for (k, v) in pairs {
        Reflect::set(&o, &JsValue::from_str(k), v).map_err(|e| js_err("building object", e))?;
    }
    Ok(o)
}

fn s(v: &str) -> JsValue {
    JsValue::from_str(v)
}

/// The `importKey` algorithm for `alg`.
fn import_algorithm(alg: JwsAlg) -> Result<Object, CryptoError> {
    match alg {
        JwsAlg::Rs256 => obj(&[("name", s("RSASSA-PKCS1-v1_5")), ("hash", s("SHA-256"))]),
        JwsAlg::Ps256 => obj(&[("name", s("RSA-PSS")), ("hash", s("SHA-256"))]),
        JwsAlg::Es256 => obj(&[("name", s("ECDSA")), ("namedCurve", s("P-256"))]),
    }
}

/// The `verify`/`sign` parameters for `alg`.
fn op_algorithm(alg: JwsAlg) -> Result<Object, CryptoError> {
    match alg {
        JwsAlg::Rs256 => obj(&[("name", s("RSASSA-PKCS1-v1_5"))]),
        JwsAlg::Ps256 => obj(&[("name", s("RSA-PSS")), ("saltLength", JsValue::from(32))]),
        JwsAlg::Es256 => obj(&[("name", s("ECDSA")), ("hash", s("SHA-256"))]),
    }
}

fn usages(u: &str) -> JsValue {
    Array::of1(&s(u)).into()
}

/// The public members of `jwk` as a JS object (never private members).
fn jwk_object(alg: JwsAlg, jwk: &Jwk) -> Result<Object, CryptoError> {
    let missing = |m: &str| CryptoError::BadKey(format!("JWK lacks `{m}`"));
    match alg {
        JwsAlg::Rs256 | JwsAlg::Ps256 => {
            if jwk.kty != "RSA" {
                return Err(CryptoError::BadKey(format!(
                    "{} needs an RSA key",
                    alg.name()
                )));
            }
            obj(&[
                ("kty", s("RSA")),
                ("n", s(jwk.n.as_deref().ok_or_else(|| missing("n"))?)),
                ("e", s(jwk.e.as_deref().ok_or_else(|| missing("e"))?)),
                ("ext", JsValue::TRUE),
            ])
        }
        JwsAlg::Es256 => {
            if jwk.kty != "EC" || jwk.crv.as_deref() != Some("P-256") {
                return Err(CryptoError::BadKey("ES256 needs an EC P-256 key".into()));
            }
            obj(&[
                ("kty", s("EC")),
                ("crv", s("P-256")),
                ("x", s(jwk.x.as_deref().ok_or_else(|| missing("x"))?)),
                ("y", s(jwk.y.as_deref().ok_or_else(|| missing("y"))?)),
                ("ext", JsValue::TRUE),
            ])
        }
    }
}

struct WebVerifyingKey {
    alg: JwsAlg,
    key: SendWrapper<CryptoKey>,
}

impl VerifyingKey for WebVerifyingKey {
    fn verify<'a>(
        &'a self,
        message: &'a [u8],
        signature: &'a [u8],
    ) -> BoxFuture<'a, Result<bool, CryptoError>> {
        Box::pin(SendFuture::new(async move {
            let promise = subtle()?
                .verify_with_object_and_u8_array_and_u8_array(
                    &op_algorithm(self.alg)?,
                    &self.key,
                    signature,
                    message,
                )
                .map_err(|e| js_err("verify", e))?;
            let ok = JsFuture::from(promise)
                .await
                .map_err(|e| js_err("verify", e))?;
            Ok(ok.as_bool().unwrap_or(false))
        }))
    }
}

struct WebSigningKey {
    key: SendWrapper<CryptoKey>,
    public: Jwk,
}

impl SigningKey for WebSigningKey {
    fn sign<'a>(&'a self, message: &'a [u8]) -> BoxFuture<'a, Result<Vec<u8>, CryptoError>> {
        Box::pin(SendFuture::new(async move {
            let promise = subtle()?
                .sign_with_object_and_u8_array(&op_algorithm(JwsAlg::Rs256)?, &self.key, message)
                .map_err(|e| js_err("sign", e))?;
            let buf = JsFuture::from(promise)
                .await
                .map_err(|e| js_err("sign", e))?;
            Ok(Uint8Array::new(&buf).to_vec())
        }))
    }

    fn public_jwk(&self) -> Jwk {
        self.public.clone()
    }
}

async fn import_verifying(alg: JwsAlg, jwk: &Jwk) -> Result<Arc<dyn VerifyingKey>, CryptoError> {
    let promise = subtle()?
        .import_key_with_object(
            "jwk",
            &jwk_object(alg, jwk)?,
            &import_algorithm(alg)?,
            false,
            &usages("verify"),
        )
        .map_err(|e| CryptoError::BadKey(js_err("importKey", e).to_string()))?;
    let key = JsFuture::from(promise)
        .await
        .map_err(|e| CryptoError::BadKey(js_err("importKey", e).to_string()))?;
    Ok(Arc::new(WebVerifyingKey {
        alg,
        key: SendWrapper::new(key.unchecked_into()),
    }))
}

async fn import_signing(der: &[u8]) -> Result<Arc<dyn SigningKey>, CryptoError> {
    let subtle = subtle()?;
    let data = Uint8Array::from(der);
    // Extractable so the public half can be exported as a JWK; the private key never
    // leaves WebCrypto otherwise.
    let promise = subtle
        .import_key_with_object(
            "pkcs8",
            &data,
            &import_algorithm(JwsAlg::Rs256)?,
            true,
            &usages("sign"),
        )
        .map_err(|e| CryptoError::BadKey(js_err("importKey(pkcs8)", e).to_string()))?;
    let key: CryptoKey = JsFuture::from(promise)
        .await
        .map_err(|e| CryptoError::BadKey(js_err("importKey(pkcs8)", e).to_string()))?
        .unchecked_into();
    let exported = JsFuture::from(
        subtle
            .export_key("jwk", &key)
            .map_err(|e| js_err("exportKey", e))?,
    )
    .await
    .map_err(|e| js_err("exportKey", e))?;
    let member = |m: &str| {
        Reflect::get(&exported, &JsValue::from_str(m))
            .ok()
            .and_then(|v| v.as_string())
            .ok_or_else(|| CryptoError::BadKey(format!("exported JWK lacks `{m}`")))
    };
    let public = Jwk {
        kty: "RSA".into(),
        n: Some(member("n")?),
        e: Some(member("e")?),
        ..Jwk::default()
    };
    Ok(Arc::new(WebSigningKey {
        key: SendWrapper::new(key),
        public,
    }))
}

impl Crypto for WebCrypto {
    fn import_verifying_key<'a>(
        &'a self,
        alg: JwsAlg,
        jwk: &'a Jwk,
    ) -> BoxFuture<'a, Result<Arc<dyn VerifyingKey>, CryptoError>> {
        Box::pin(SendFuture::new(import_verifying(alg, jwk)))
    }

    fn import_signing_key<'a>(
        &'a self,
        pkcs8_der: &'a SecretBytes,
    ) -> BoxFuture<'a, Result<Arc<dyn SigningKey>, CryptoError>> {
        Box::pin(SendFuture::new(import_signing(pkcs8_der.expose())))
    }

    fn fill_random(&self, buf: &mut [u8]) -> Result<(), CryptoError> {
        global_crypto()?
            .get_random_values_with_u8_array(buf)
            .map(|_| ())
            .map_err(|e| js_err("getRandomValues", e))
    }
}
