//! The bad-token corpus (`fixtures/bad-tokens/`): hostile and control bearer tokens, each
//! described by a recipe over a valid baseline, with the exact answer an MCP server
//! protected by this zone must give. Implemented once, used by the in-process table test
//! (`tests/tests/it/bad_tokens.rs`) and by `mock-keycard corpus --target <url>` against a
//! deployed server (the wasm Worker under workerd in CI).
//!
//! Baseline header `{"alg":"RS256","typ":"JWT","kid":<kid of the signing key>}` (`alg` is
//! `ES256`/`HS256` for those signers); baseline claims `{"iss":"{issuer}","sub":"alice",
//! "aud":"{resource}","exp":now+600,"iat":now,"nbf":now,"client_id":"mcp-client-a",
//! "scope":"mcp:tools","jti":<random>}`. A recipe's `header`/`claims` are merged over them
//! (`null` removes a member; see [`Placeholders`] for placeholders and operators), then the
//! token is signed ([`SignWith`]) and mutated ([`Mutation`]) — or given literally (`raw`).

mod build;
mod case;
mod check;
mod expr;
mod run;
mod sign;

use std::path::{Path, PathBuf};

pub use build::{authorization, baseline_claims, build_token, canonical_resource};
pub use case::{Case, DEFAULT_TOOL, Expect, Mutation, Outcome, Recipe, SignWith};
pub use check::{Answer, check, parse_challenge};
pub use expr::{Placeholders, merge};
pub use run::{CaseResult, Honeypot, MCP_PROTOCOL_VERSION, RunReport, request_body, run_remote};
pub use sign::{Es256Key, hmac_sha256, public_key_pem};

/// The corpus directory of this repository (`fixtures/bad-tokens`).
pub fn default_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/bad-tokens")
}

/// Errors loading the corpus or building a token.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    /// The directory or a file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file is not a valid case.
    #[error("{file}: {reason}")]
    Invalid {
        /// The file.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// Two files share a `name`.
    #[error("duplicate case name {0:?}")]
    Duplicate(String),
    /// A recipe cannot be evaluated.
    #[error("recipe: {0}")]
    Recipe(String),
    /// A signing key is unusable.
    #[error("key: {0}")]
    Key(String),
}

impl From<crate::keys::KeyError> for CorpusError {
    fn from(e: crate::keys::KeyError) -> Self {
        Self::Key(e.to_string())
    }
}

/// Loads every `*.json` case in `dir`, sorted by file name, each validated.
pub fn load_corpus(dir: impl AsRef<Path>) -> Result<Vec<Case>, CorpusError> {
    let dir = dir.as_ref();
    let read_err = |path: &Path, source| CorpusError::Read {
        path: path.display().to_string(),
        source,
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| read_err(dir, e))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut cases: Vec<Case> = Vec::with_capacity(files.len());
    for path in files {
        let text = std::fs::read_to_string(&path).map_err(|e| read_err(&path, e))?;
        let file = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let mut case: Case = serde_json::from_str(&text).map_err(|e| CorpusError::Invalid {
            file: file.clone(),
            reason: e.to_string(),
        })?;
        case.file = file;
        case.validate()?;
        if cases.iter().any(|c| c.name == case.name) {
            return Err(CorpusError::Duplicate(case.name));
        }
        cases.push(case);
    }
    Ok(cases)
}

#[cfg(test)]
mod tests;
