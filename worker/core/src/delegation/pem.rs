//! The Worker's web-identity private key: PEM text → PKCS#8 DER, plus its public half.
//!
//! `KEYCARD_PRIVATE_KEY` arrives from secret stores in many shapes: CRLF line endings,
//! surrounding whitespace or quotes, literal `\n` escapes instead of newlines. All of them
//! are accepted (that lenient armour clean-up is the one hand-written part). `BEGIN PRIVATE
//! KEY` (PKCS#8) passes through; `BEGIN RSA PRIVATE KEY` (PKCS#1, what `openssl genrsa
//! -traditional` writes) is wrapped into PKCS#8 here, byte for byte what `openssl pkcs8
//! -topk8 -nocrypt` produces. Encrypted keys and anything else get a [`PemError`] naming
//! what was found.
//!
//! The DER is read and written by RustCrypto's `pkcs1` / `pkcs8` (`der`) crates; the
//! modulus and public exponent come from there, so the public JWK (and its RFC 7638
//! thumbprint, the assertion `kid`) is known without any crypto call.
//!
//! This parser faces untrusted input (it is fuzzed): no input makes it panic. Error
//! messages never contain key material.

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};

use pkcs8::der::Encode as _;
use pkcs8::der::asn1::AnyRef;
use pkcs8::spki::AlgorithmIdentifierRef;

use crate::auth::jwk::Jwk;
use crate::ports::SecretBytes;

/// Smallest RSA modulus accepted for RS256 (RFC 7518 §3.3).
pub const MIN_RSA_BITS: usize = 2048;

/// Why the private key could not be read. Never contains key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PemError {
    /// No `-----BEGIN …-----` line at all.
    #[error("no PEM block found (expected a line like `-----BEGIN PRIVATE KEY-----`)")]
    NoPemBlock,
    /// A `BEGIN` line without its matching `END` line.
    #[error("the PEM block `{label}` has no matching `-----END {label}-----` line")]
    Unterminated {
        /// The label of the `BEGIN` line.
        label: String,
    },
    /// A password-protected key.
    #[error(
        "the key is encrypted (`{label}`); store it unencrypted: \
         `openssl pkcs8 -topk8 -nocrypt -in key.pem`"
    )]
    Encrypted {
        /// What was found (`ENCRYPTED PRIVATE KEY`, or `RSA PRIVATE KEY` with `Proc-Type`).
        label: String,
    },
    /// A PEM block that is not an RSA private key (a certificate, a public key, an EC key…).
    #[error(
        "found a `{label}` PEM block, expected an RSA private key \
         (`BEGIN PRIVATE KEY` or `BEGIN RSA PRIVATE KEY`)"
    )]
    UnsupportedLabel {
        /// The label found.
        label: String,
    },
    /// The body between the armour lines is not valid base64.
    #[error("the PEM body is not valid base64")]
    Base64,
    /// The DER structure is not what the label promises.
    #[error("the key's DER structure is malformed: {0}")]
    MalformedDer(String),
    /// A PKCS#8 key for another algorithm.
    #[error(
        "the key is not an RSA key (algorithm OID {oid}{}); RS256 needs RSA",
        named_algorithm(oid)
    )]
    NotRsa {
        /// The dotted algorithm OID found.
        oid: String,
    },
    /// An RSA key too small for RS256.
    #[error("the RSA key has {bits} bits; at least {MIN_RSA_BITS} are required")]
    KeyTooSmall {
        /// Modulus size in bits.
        bits: usize,
    },
}

fn named_algorithm(oid: &str) -> &'static str {
    match oid {
        "1.2.840.10045.2.1" => ", an EC key",
        "1.3.101.112" => ", an Ed25519 key",
        "1.2.840.113549.1.1.10" => ", an RSA-PSS-only key",
        _ => "",
    }
}

/// An RSA private key ready for [`crate::ports::Crypto::import_signing_key`].
#[derive(Clone, PartialEq, Eq)]
pub struct RsaPrivateKey {
    /// The key as PKCS#8 DER.
    pub pkcs8_der: SecretBytes,
    /// The public half (`kty`, `n`, `e`).
    pub public_jwk: Jwk,
    /// Modulus size in bits.
    pub bits: usize,
}

impl std::fmt::Debug for RsaPrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RsaPrivateKey")
            .field("pkcs8_der", &self.pkcs8_der)
            .field("bits", &self.bits)
            .field("kid", &self.public_jwk.thumbprint())
            .finish()
    }
}

/// Reads an RSA private key from PEM text (PKCS#8 or PKCS#1), checking it is at least
/// [`MIN_RSA_BITS`] bits.
pub fn parse_rsa_private_key(pem: &str) -> Result<RsaPrivateKey, PemError> {
    let pkcs8 = pem_to_pkcs8_der(pem)?;
    let key = rsa_key(inner_pkcs1(pkcs8.expose())?)?;
    let (n, e) = (key.modulus.as_bytes(), key.public_exponent.as_bytes());
    if n.is_empty() || e.is_empty() {
        return Err(PemError::MalformedDer("zero modulus or exponent".into()));
    }
    let bits = bit_length(n);
    if bits < MIN_RSA_BITS {
        return Err(PemError::KeyTooSmall { bits });
    }
    Ok(RsaPrivateKey {
        public_jwk: Jwk {
            kty: "RSA".into(),
            n: Some(URL_SAFE_NO_PAD.encode(n)),
            e: Some(URL_SAFE_NO_PAD.encode(e)),
            ..Jwk::default()
        },
        pkcs8_der: pkcs8,
        bits,
    })
}

/// PEM text → PKCS#8 DER of an RSA private key. PKCS#1 input is wrapped; PKCS#8 input is
/// checked (structure, `rsaEncryption`) and passed through unchanged.
pub fn pem_to_pkcs8_der(pem: &str) -> Result<SecretBytes, PemError> {
    let text = normalise(pem);
    let block = find_key_block(&text)?;
    let der = decode_body(block.body)?;
    match block.label {
        "PRIVATE KEY" => {
            rsa_key(inner_pkcs1(&der)?)?;
            Ok(SecretBytes::new(der))
        }
        "RSA PRIVATE KEY" => {
            rsa_key(&der)?;
            Ok(SecretBytes::new(wrap_pkcs1(&der)?))
        }
        // `find_key_block` only returns the two labels above.
        other => Err(PemError::UnsupportedLabel {
            label: other.to_owned(),
        }),
    }
}

/// Undoes what secret stores do to PEM text: literal `\n`/`\r\n` escapes, CRLF, one pair
/// of surrounding quotes, surrounding whitespace.
fn normalise(pem: &str) -> String {
    let mut text = pem.trim();
    for quote in ['"', '\''] {
        if text.len() >= 2 && text.starts_with(quote) && text.ends_with(quote) {
            text = text[1..text.len() - 1].trim();
        }
    }
    text.replace("\\r\\n", "\n")
        .replace("\\n", "\n")
        .replace("\r\n", "\n")
        .replace('\r', "\n")
}

struct Block<'a> {
    label: &'a str,
    body: &'a str,
}

/// The first RSA private-key block; if there is none, an error naming the first block.
fn find_key_block(text: &str) -> Result<Block<'_>, PemError> {
    let mut rest = text;
    let mut first_other: Option<PemError> = None;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + "-----BEGIN ".len()..];
        let Some(label_end) = after.find("-----") else {
            break;
        };
        let label = after[..label_end].trim();
        let body_and_more = &after[label_end + "-----".len()..];
        let end_marker = format!("-----END {label}-----");
        let Some(end) = body_and_more.find(&end_marker) else {
            return Err(first_other.unwrap_or(PemError::Unterminated {
                label: label.to_owned(),
            }));
        };
        let body = &body_and_more[..end];
        rest = &body_and_more[end + end_marker.len()..];
        match label {
            "PRIVATE KEY" => return Ok(Block { label, body }),
            "RSA PRIVATE KEY" if body.contains("Proc-Type:") || body.contains("DEK-Info:") => {
                return Err(PemError::Encrypted {
                    label: label.to_owned(),
                });
            }
            "RSA PRIVATE KEY" => return Ok(Block { label, body }),
            "ENCRYPTED PRIVATE KEY" => {
                first_other.get_or_insert(PemError::Encrypted {
                    label: label.to_owned(),
                });
            }
            _ => {
                first_other.get_or_insert(PemError::UnsupportedLabel {
                    label: label.chars().take(64).collect(),
                });
            }
        }
    }
    Err(first_other.unwrap_or(PemError::NoPemBlock))
}

fn decode_body(body: &str) -> Result<Vec<u8>, PemError> {
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.is_empty() {
        return Err(PemError::MalformedDer("the PEM body is empty".into()));
    }
    LENIENT.decode(compact).map_err(|_| PemError::Base64)
}

/// PKCS#1 `RSAPrivateKey` → PKCS#8 `PrivateKeyInfo` (version 0, `rsaEncryption` with
/// NULL parameters, no public key): what `openssl pkcs8 -topk8 -nocrypt` writes.
fn wrap_pkcs1(pkcs1: &[u8]) -> Result<Vec<u8>, PemError> {
    pkcs8::PrivateKeyInfo {
        algorithm: AlgorithmIdentifierRef {
            oid: pkcs1::ALGORITHM_OID,
            parameters: Some(AnyRef::NULL),
        },
        private_key: pkcs1,
        public_key: None,
    }
    .to_der()
    .map_err(malformed)
}

/// The PKCS#1 key inside a PKCS#8 `PrivateKeyInfo`, which must be `rsaEncryption`.
fn inner_pkcs1(pkcs8_der: &[u8]) -> Result<&[u8], PemError> {
    let info = pkcs8::PrivateKeyInfo::try_from(pkcs8_der).map_err(malformed)?;
    if info.algorithm.oid != pkcs1::ALGORITHM_OID {
        return Err(PemError::NotRsa {
            oid: info.algorithm.oid.to_string(),
        });
    }
    match info.algorithm.parameters {
        None => {}
        Some(p) if p.is_null() => {}
        Some(_) => {
            return Err(PemError::MalformedDer(
                "rsaEncryption parameters must be NULL".into(),
            ));
        }
    }
    Ok(info.private_key)
}

/// A PKCS#1 `RSAPrivateKey`, fully decoded (every field, nothing trailing).
fn rsa_key(pkcs1_der: &[u8]) -> Result<pkcs1::RsaPrivateKey<'_>, PemError> {
    pkcs1::RsaPrivateKey::try_from(pkcs1_der).map_err(malformed)
}

/// A DER error in words (its kind and position; never key bytes).
fn malformed(e: impl std::fmt::Display) -> PemError {
    PemError::MalformedDer(e.to_string())
}

fn bit_length(unsigned_be: &[u8]) -> usize {
    match unsigned_be.first() {
        None => 0,
        Some(first) => (unsigned_be.len() - 1) * 8 + (8 - first.leading_zeros() as usize),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PKCS1: &str = include_str!("../../../../fixtures/keys/worker-web-identity.pkcs1.pem");
    const PKCS8: &str = include_str!("../../../../fixtures/keys/worker-web-identity.pem");
    const EC: &str = include_str!("../../../../fixtures/keys/es256-zone.pem");

    #[test]
    fn pkcs1_wrap_equals_openssl_pkcs8_byte_for_byte() {
        let wrapped = pem_to_pkcs8_der(PKCS1).unwrap();
        let converted = pem_to_pkcs8_der(PKCS8).unwrap();
        assert_eq!(wrapped.expose().len(), 1217);
        assert_eq!(wrapped.expose(), converted.expose());
    }

    #[test]
    fn pkcs8_passes_through_unchanged() {
        let text = normalise(PKCS8);
        let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap();
        assert_eq!(pem_to_pkcs8_der(PKCS8).unwrap().expose(), &raw);
    }

    #[test]
    fn tolerates_crlf_escapes_quotes_and_whitespace() {
        let expected = pem_to_pkcs8_der(PKCS8).unwrap();
        let crlf = PKCS8.replace('\n', "\r\n");
        let escaped = PKCS8.trim().replace('\n', "\\n");
        let quoted = format!("  \"{escaped}\"\n");
        let indented = format!("\n\n   {}   \n", PKCS1.replace('\n', "\n  "));
        for input in [&crlf, &escaped, &quoted] {
            assert_eq!(pem_to_pkcs8_der(input).unwrap(), expected);
        }
        assert_eq!(pem_to_pkcs8_der(&indented).unwrap(), expected);
    }

    #[test]
    fn public_jwk_matches_for_both_encodings() {
        let a = parse_rsa_private_key(PKCS1).unwrap();
        let b = parse_rsa_private_key(PKCS8).unwrap();
        assert_eq!(a.public_jwk, b.public_jwk);
        assert_eq!(a.bits, 2048);
        assert_eq!(a.public_jwk.e.as_deref(), Some("AQAB"));
        // 2048-bit modulus: 256 bytes → 342 base64url characters.
        assert_eq!(a.public_jwk.n.as_deref().map(str::len), Some(342));
        assert!(a.public_jwk.thumbprint().is_some());
    }

    #[test]
    fn debug_never_shows_key_material() {
        let key = parse_rsa_private_key(PKCS8).unwrap();
        let debug = format!("{key:?}");
        assert!(debug.contains("[redacted]"), "{debug}");
        assert!(!debug.contains("MIIE"), "{debug}");
    }

    #[test]
    fn encrypted_keys_are_named() {
        let pkcs8 =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----";
        assert_eq!(
            pem_to_pkcs8_der(pkcs8).unwrap_err(),
            PemError::Encrypted {
                label: "ENCRYPTED PRIVATE KEY".into()
            }
        );
        let legacy = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nMIIB\n-----END RSA PRIVATE KEY-----";
        assert!(matches!(
            pem_to_pkcs8_der(legacy),
            Err(PemError::Encrypted { .. })
        ));
    }

    #[test]
    fn other_labels_and_algorithms_are_named() {
        let cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----";
        let err = pem_to_pkcs8_der(cert).unwrap_err();
        assert_eq!(
            err,
            PemError::UnsupportedLabel {
                label: "CERTIFICATE".into()
            }
        );
        assert!(err.to_string().contains("CERTIFICATE"));
        let ec = pem_to_pkcs8_der(EC).unwrap_err();
        assert_eq!(
            ec,
            PemError::NotRsa {
                oid: "1.2.840.10045.2.1".into()
            }
        );
        assert!(ec.to_string().contains("an EC key"), "{ec}");
    }

    #[test]
    fn a_certificate_before_the_key_is_skipped() {
        let bundle =
            format!("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n{PKCS1}");
        assert_eq!(
            pem_to_pkcs8_der(&bundle).unwrap(),
            pem_to_pkcs8_der(PKCS8).unwrap()
        );
    }

    #[test]
    fn structural_errors() {
        assert_eq!(pem_to_pkcs8_der("").unwrap_err(), PemError::NoPemBlock);
        assert_eq!(
            pem_to_pkcs8_der("not a key").unwrap_err(),
            PemError::NoPemBlock
        );
        assert_eq!(
            pem_to_pkcs8_der("-----BEGIN PRIVATE KEY-----\nMIIB").unwrap_err(),
            PemError::Unterminated {
                label: "PRIVATE KEY".into()
            }
        );
        assert_eq!(
            pem_to_pkcs8_der("-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----")
                .unwrap_err(),
            PemError::Base64
        );
        assert!(matches!(
            pem_to_pkcs8_der("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"),
            Err(PemError::MalformedDer(_))
        ));
        // Truncated real key.
        let short = &PKCS8[..PKCS8.len() / 2];
        let truncated = format!("{short}\n-----END PRIVATE KEY-----");
        assert!(matches!(
            pem_to_pkcs8_der(&truncated),
            Err(PemError::MalformedDer(_) | PemError::Base64)
        ));
    }

    #[test]
    fn small_keys_are_refused() {
        // A syntactically valid PKCS#1 key with a 512-bit modulus (values need not be a
        // real key for the size check).
        let mut n = vec![0xc1];
        n.extend(std::iter::repeat_n(0x11, 63));
        let three = pkcs1::UintRef::new(&[3]).unwrap();
        let der = pkcs1::RsaPrivateKey {
            modulus: pkcs1::UintRef::new(&n).unwrap(),
            public_exponent: three,
            private_exponent: three,
            prime1: three,
            prime2: three,
            exponent1: three,
            exponent2: three,
            coefficient: three,
            other_prime_infos: None,
        }
        .to_der()
        .unwrap();
        let pem = format!(
            "-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----",
            base64::engine::general_purpose::STANDARD.encode(&der)
        );
        assert_eq!(
            parse_rsa_private_key(&pem).unwrap_err(),
            PemError::KeyTooSmall { bits: 512 }
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_arbitrary_text(s in ".{0,400}") {
            let _ = parse_rsa_private_key(&s);
        }

        #[test]
        fn never_panics_on_arbitrary_der(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300), label in 0usize..2) {
            let label = ["PRIVATE KEY", "RSA PRIVATE KEY"][label];
            let pem = format!(
                "-----BEGIN {label}-----\n{}\n-----END {label}-----",
                base64::engine::general_purpose::STANDARD.encode(&bytes)
            );
            let _ = parse_rsa_private_key(&pem);
        }

        #[test]
        fn never_panics_on_mutated_keys(pos in 0usize..1217, byte in proptest::num::u8::ANY) {
            let mut der = pem_to_pkcs8_der(PKCS8).unwrap().expose().clone();
            if let Some(b) = der.get_mut(pos) { *b = byte; }
            let pem = format!(
                "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----",
                base64::engine::general_purpose::STANDARD.encode(&der)
            );
            let _ = parse_rsa_private_key(&pem);
        }
    }
}
