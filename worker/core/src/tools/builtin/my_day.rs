//! `my_day`: an example of a tool that calls two upstream APIs on the caller's behalf and
//! returns what it could get (partial success).
//!
//! It asks the `github` upstream for the caller's profile (`GET /user`) and the `calendar`
//! upstream for their events (`GET /events`, answered as `{"items": [{"summary", "start",
//! "end"}]}`) at once, through [`ToolContext::get_json_all`]: two token exchanges and two
//! calls running concurrently. If the user has granted only one of them in Keycard, the
//! result carries that one and an entry in `errors` naming the other upstream and the fix.
//! Only when both fail is the result an error.
//!
//! Configure both names, e.g. in `wrangler.toml`:
//!
//! ```toml
//! KEYCARD_UPSTREAMS = '{"github": "https://api.github.com", "calendar": "https://calendar.example/api"}'
//! ```
//!
//! Not part of [`crate::Server::demo`]; register it with `.tool(my_day())`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::tools::{Json, NoArgs, Tool, ToolContext, ToolError, sanitize};

/// The upstream name `my_day` reads the GitHub profile from.
pub const GITHUB_UPSTREAM: &str = "github";
/// The upstream name `my_day` reads the calendar events from.
pub const CALENDAR_UPSTREAM: &str = "calendar";

/// The caller's GitHub profile, as far as `my_day` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GithubProfile {
    /// GitHub login.
    pub login: String,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
}

/// One calendar event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CalendarEvent {
    /// Title.
    pub summary: String,
    /// Start (as the calendar gave it, e.g. ISO 8601).
    #[serde(default)]
    pub start: Option<String>,
    /// End.
    #[serde(default)]
    pub end: Option<String>,
}

/// An upstream `my_day` could not read, and why (what to do about it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct UpstreamFailure {
    /// The upstream's name (`github`, `calendar`).
    pub upstream: String,
    /// What went wrong and the fix; never a token.
    pub error: String,
}

/// `my_day`'s structured result: what could be fetched, and what could not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct MyDay {
    /// Your GitHub profile, unless it could not be fetched (see `errors`).
    pub github: Option<GithubProfile>,
    /// Your calendar events, unless they could not be fetched (see `errors`).
    pub events: Option<Vec<CalendarEvent>>,
    /// One entry per upstream that failed.
    pub errors: Vec<UpstreamFailure>,
}

#[derive(Deserialize)]
struct Events {
    items: Vec<CalendarEvent>,
}

/// The `my_day` tool: GitHub profile and calendar events, fetched concurrently with
/// per-upstream errors.
pub fn my_day() -> Tool {
    Tool::new("my_day")
        .title("My day")
        .description(
            "Your GitHub profile and your calendar events, fetched on your behalf with tokens \
             Keycard issues for you. Returns whatever it could get: if you have not granted one \
             of the two in Keycard, the result says which and how to fix it.",
        )
        .read_only()
        .upstream(GITHUB_UPSTREAM)
        .upstream(CALENDAR_UPSTREAM)
        .handler(|ctx: ToolContext, _: NoArgs| async move { my_day_for(&ctx).await })
}

async fn my_day_for(ctx: &ToolContext) -> Result<Json<MyDay>, ToolError> {
    let mut day = MyDay {
        github: None,
        events: None,
        errors: Vec::new(),
    };
    let paths = [(GITHUB_UPSTREAM, "/user"), (CALENDAR_UPSTREAM, "/events")];
    for (upstream, result) in ctx.get_json_all::<Value>(paths).await {
        let parsed = result.and_then(|value| {
            if upstream == GITHUB_UPSTREAM {
                day.github = Some(parse(&upstream, value)?);
            } else {
                day.events = Some(parse::<Events>(&upstream, value)?.items);
            }
            Ok(())
        });
        if let Err(e) = parsed {
            day.errors.push(UpstreamFailure {
                upstream,
                error: e.to_string(),
            });
        }
    }
    if day.github.is_none() && day.events.is_none() {
        let all: Vec<String> = day
            .errors
            .iter()
            .map(|f| format!("{}: {}", f.upstream, f.error))
            .collect();
        return Err(ToolError::new(format!(
            "Could not fetch anything. {}",
            all.join(" ")
        )));
    }
    Ok(Json(day))
}

fn parse<T: serde::de::DeserializeOwned>(upstream: &str, value: Value) -> Result<T, ToolError> {
    serde_json::from_value(value).map_err(|e| {
        ToolError::new(format!(
            "the {upstream} upstream's answer is not in the expected shape ({})",
            sanitize(&e.to_string())
        ))
    })
}
