//! Sessions (`Mcp-Session-Id`) on Workers: one Durable Object per session.
//!
//! A Worker's requests land in many isolates, so a session cannot live in one
//! isolate's memory. [`McpSession`] is a Durable Object class holding one session (its
//! [`SessionRecord`](keycard_core::session::SessionRecord), the client responses not yet
//! taken, and the calls waiting for one); [`DurableSessionStore`] is the core's
//! [`SessionStore`](keycard_core::session::SessionStore) over its namespace, reaching the
//! object named by the session id (`namespace.id_from_name(id)`) from any isolate.
//!
//! [`serve`](crate::serve) turns sessions on when the Worker has the Durable Object
//! binding `MCP_SESSIONS` (and `KEYCARD_SESSIONS` is not `off`); `wrangler.toml`:
//!
//! ```toml
//! [[durable_objects.bindings]]
//! name = "MCP_SESSIONS"
//! class_name = "McpSession"
//!
//! [[migrations]]
//! tag = "v1"
//! new_sqlite_classes = ["McpSession"]
//! ```
//!
//! The class is exported by every Worker that links this crate (worker-build exports
//! each `#[durable_object]` class of the linked crates), so the binding is all a Worker
//! adds.
//!
//! The store and the object speak plain HTTP with JSON bodies (`https://session/put`,
//! `/get`, `/delete`, `/wait`, `/deliver`); nothing secret crosses it — a record holds
//! an owner digest, never a token.

mod object;
mod store;

pub use object::McpSession;
pub use store::DurableSessionStore;

/// The internal protocol between [`DurableSessionStore`] and [`McpSession`]: requests
/// to `https://session/<op>`, JSON bodies.
///
/// | request | answer |
/// |---|---|
/// | `POST /put`, body: the record | 204 |
/// | `GET /get` | 200 with the record, or 404 |
/// | `POST /delete` | 200 `{"existed": bool}` |
/// | `GET /wait?rid=R&timeout_ms=T` | 200 `{"response": value or null}` (null: timeout, no session, or deleted meanwhile) |
/// | `POST /deliver?rid=R`, body: the response | 204 |
pub(crate) mod protocol {
    /// The origin of the internal requests (never resolved: a stub's fetch goes to the
    /// object).
    pub const ORIGIN: &str = "https://session";
    /// Creates or replaces the record.
    pub const PUT: &str = "/put";
    /// Reads the record.
    pub const GET: &str = "/get";
    /// Deletes everything.
    pub const DELETE: &str = "/delete";
    /// Waits for a client response.
    pub const WAIT: &str = "/wait";
    /// Hands over a client response.
    pub const DELIVER: &str = "/deliver";
}
