//! Tools and resources for checking the checker: correct ones that must pass a
//! [`super::LeakTest`] with zero leaks, and **deliberately leaky** ones that must fail it
//! (mutation checks, e.g. a template's CI swapping [`leaky_memo_tool`] in and asserting
//! that its leak test fails).
//!
//! The leaky tools and resources are bugs on purpose. Never deploy them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use keycard_core::resources::Resource;
use keycard_core::tools::{NoArgs, Tool, ToolContext, ToolError};

/// The URI of [`delegated_profile_resource`] and [`leaky_memo_resource`].
pub const PROFILE_RESOURCE_URI: &str = "upstream://profile";

/// Fetches `GET /user` from the default upstream on the caller's behalf and returns the
/// body as text: a correct delegated tool (`"upstream_profile"`).
pub fn delegated_profile_tool() -> Tool {
    Tool::new("upstream_profile")
        .description("Your profile from the upstream API, as it answered.")
        .upstream(keycard_core::config::DEFAULT_UPSTREAM)
        .handler(|ctx: ToolContext, _: NoArgs| async move { fetch_profile(&ctx).await })
}

/// Arguments of [`plain_echo_tool`].
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct EchoArgs {
    /// What to say back.
    pub text: String,
}

/// A plain typed tool with no upstream (`"echo"`): says `text` back to the caller by
/// their subject.
pub fn plain_echo_tool() -> Tool {
    Tool::new("echo")
        .description("Says the text back.")
        .handler(|ctx: ToolContext, args: EchoArgs| async move {
            let who = ctx.identity().subject().unwrap_or("service client");
            Ok::<_, ToolError>(format!("{who} said: {}", args.text))
        })
}

async fn fetch_profile(ctx: &ToolContext) -> Result<String, ToolError> {
    let api = ctx.default_upstream();
    let response = api.fetch(api.get("/user").body(Bytes::new())?).await?;
    if !response.status().is_success() {
        return Err(ToolError::new(format!(
            "the upstream answered HTTP {}",
            response.status().as_u16()
        )));
    }
    Ok(String::from_utf8_lossy(response.body()).into_owned())
}

/// **LEAKY ON PURPOSE** (`"upstream_profile"`, a drop-in for [`delegated_profile_tool`]):
/// memoises the upstream's answer in one process-wide slot keyed by nothing — what a
/// `static CACHE: OnceLock<String>` in a Worker module does — so every later caller gets
/// the first caller's profile. The canary oracle catches it.
pub fn leaky_memo_tool() -> Tool {
    let memo: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    Tool::new("upstream_profile")
        .description("Your profile from the upstream API (memoised: LEAKY ON PURPOSE).")
        .upstream(keycard_core::config::DEFAULT_UPSTREAM)
        .handler(move |ctx: ToolContext, _: NoArgs| {
            let memo = memo.clone();
            async move {
                if let Some(hit) = memo.lock().unwrap_or_else(PoisonError::into_inner).clone() {
                    return Ok(hit);
                }
                let body = fetch_profile(&ctx).await?;
                *memo.lock().unwrap_or_else(PoisonError::into_inner) = Some(body.clone());
                Ok(body)
            }
        })
}

/// **LEAKY ON PURPOSE** (`"upstream_profile"`): memoises the upstream's answer keyed by
/// the wrong field — the MCP client id, which many users share — so users of the same
/// client get each other's profiles.
pub fn leaky_wrong_key_tool() -> Tool {
    let memo: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    Tool::new("upstream_profile")
        .description("Your profile from the upstream API (memoised per client: LEAKY ON PURPOSE).")
        .upstream(keycard_core::config::DEFAULT_UPSTREAM)
        .handler(move |ctx: ToolContext, _: NoArgs| {
            let memo = memo.clone();
            async move {
                let key = ctx.identity().client_id().to_owned();
                let hit = memo
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get(&key)
                    .cloned();
                if let Some(hit) = hit {
                    return Ok(hit);
                }
                let body = fetch_profile(&ctx).await?;
                memo.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(key, body.clone());
                Ok(body)
            }
        })
}

/// **LEAKY ON PURPOSE** (`"upstream_status"`): keeps the first caller's [`ToolContext`]
/// and makes every later caller's upstream call through it — with the first caller's
/// delegated token — returning only the HTTP status, so no data (and no canary) shows
/// in the answer. The upstream-token oracle catches it.
pub fn leaky_context_tool() -> Tool {
    let first: Arc<Mutex<Option<ToolContext>>> = Arc::default();
    Tool::new("upstream_status")
        .description("Whether the upstream answers (reuses a context: LEAKY ON PURPOSE).")
        .upstream(keycard_core::config::DEFAULT_UPSTREAM)
        .handler(move |ctx: ToolContext, _: NoArgs| {
            let first = first.clone();
            async move {
                let ctx = {
                    let mut first = first.lock().unwrap_or_else(PoisonError::into_inner);
                    match &*first {
                        Some(kept) => kept.clone(),
                        None if ctx.identity().subject().is_some() => {
                            *first = Some(ctx.clone());
                            ctx
                        }
                        None => ctx,
                    }
                };
                let api = ctx.default_upstream();
                let response = api.fetch(api.get("/user").body(Bytes::new())?).await?;
                Ok::<_, ToolError>(format!("upstream status {}", response.status().as_u16()))
            }
        })
}

/// The caller's profile as a resource ([`PROFILE_RESOURCE_URI`]): reading it fetches
/// `GET /user` from the default upstream on the caller's behalf and returns the body as
/// JSON text. A correct delegated resource.
pub fn delegated_profile_resource() -> Resource {
    Resource::new(PROFILE_RESOURCE_URI)
        .name("profile")
        .description("Your profile from the upstream API, as it answered.")
        .mime_type("application/json")
        .upstream(keycard_core::config::DEFAULT_UPSTREAM)
        .handler(|ctx: ToolContext| async move { fetch_profile(&ctx).await })
}

/// **LEAKY ON PURPOSE** ([`PROFILE_RESOURCE_URI`], a drop-in for
/// [`delegated_profile_resource`]): memoises the upstream's answer in one process-wide
/// slot keyed by nothing, as [`leaky_memo_tool`] does, so every later reader gets the
/// first reader's profile. The canary oracle catches it.
pub fn leaky_memo_resource() -> Resource {
    let memo: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    Resource::new(PROFILE_RESOURCE_URI)
        .name("profile")
        .description("Your profile from the upstream API (memoised: LEAKY ON PURPOSE).")
        .mime_type("application/json")
        .upstream(keycard_core::config::DEFAULT_UPSTREAM)
        .handler(move |ctx: ToolContext| {
            let memo = memo.clone();
            async move {
                if let Some(hit) = memo.lock().unwrap_or_else(PoisonError::into_inner).clone() {
                    return Ok::<_, ToolError>(hit);
                }
                let body = fetch_profile(&ctx).await?;
                *memo.lock().unwrap_or_else(PoisonError::into_inner) = Some(body.clone());
                Ok(body)
            }
        })
}
