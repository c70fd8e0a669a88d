//! The core's `tracing` events on the Workers console, one JSON object per line:
//!
//! ```text
//! {"error":"token exchange refused (invalid_grant): …","issuer":"https://…","level":"INFO","message":"token exchange failed","request_id":"8f1c…-LHR","target":"keycard_core::delegation::exchange"}
//! ```
//!
//! (keys in alphabetical order). `ERROR` lines go to `console.error`, `WARN` to
//! `console.warn`, the rest to `console.log` (shown by `wrangler dev --log-level log`
//! and in `wrangler tail`).
//!
//! `KEYCARD_LOG` sets the level: `off`, `error`, `warn`, `info` (the default), `debug`
//! or `trace`. `request_id` is the request's `cf-ray` (or a per-isolate counter when
//! there is none, e.g. under `wrangler dev`): requests interleave inside one isolate, so
//! it is tracked per poll of each request's future, not per thread.
//!
//! Fields are printed with their `Debug`/`Display` form; the core never logs a bearer,
//! upstream token, client secret or private key, and its secret types redact themselves
//! (`SecretString`'s `Debug` is `"[redacted]"`), so neither does this.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Context;

use serde_json::{Map, Value};
use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Level, LevelFilter, Metadata, Subscriber};

thread_local! {
    /// The request whose future is being polled right now.
    static CURRENT: RefCell<Option<Rc<str>>> = const { RefCell::new(None) };
    static NEXT_ID: Cell<u64> = const { Cell::new(1) };
}

/// Installs the console subscriber at the level `setting` (`KEYCARD_LOG`) names. Called
/// once per isolate by [`crate::serve`]; later calls (and a subscriber someone else
/// installed first) are left alone. An unknown level is a configuration error.
pub fn install(setting: Option<&str>) -> Result<(), String> {
    let max = parse_level(setting)?;
    // Errors only if a global default already exists: keep that one.
    let _ =
        tracing_core::dispatcher::set_global_default(tracing_core::Dispatch::new(ConsoleJson {
            max,
            next_span: AtomicU64::new(1),
        }));
    Ok(())
}

fn parse_level(setting: Option<&str>) -> Result<LevelFilter, String> {
    Ok(match setting.map(str::trim).unwrap_or("") {
        "" | "info" | "INFO" => LevelFilter::INFO,
        "off" | "OFF" => LevelFilter::OFF,
        "error" | "ERROR" => LevelFilter::ERROR,
        "warn" | "WARN" => LevelFilter::WARN,
        "debug" | "DEBUG" => LevelFilter::DEBUG,
        "trace" | "TRACE" => LevelFilter::TRACE,
        other => {
            return Err(format!(
                "KEYCARD_LOG is {other:?}; set it to one of off, error, warn, info, debug, \
                 trace (in wrangler.toml [vars]) or remove it for the default, info"
            ));
        }
    })
}

/// Logs a configuration error (always, whatever the level: the deployer must see it).
pub(crate) fn config_error(message: &str) {
    let line = serde_json::json!({
        "level": "ERROR",
        "target": "keycard_worker",
        "message": "the Worker is misconfigured",
        "error": message,
    });
    worker::console_error!("{line}");
}

/// Runs `f` with request `id` as the log context (the synchronous counterpart of
/// [`in_request`]).
pub(crate) fn with_request<T>(id: &Rc<str>, f: impl FnOnce() -> T) -> T {
    let previous = CURRENT.with(|c| c.replace(Some(id.clone())));
    let result = f();
    CURRENT.with(|c| *c.borrow_mut() = previous);
    result
}

/// Runs `fut` with `id` ([`request_id`]) as the current request on every poll (no
/// allocation: the future is pinned on this stack frame).
pub(crate) async fn in_request<F: Future>(id: Rc<str>, fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(move |cx: &mut Context<'_>| {
        let previous = CURRENT.with(|c| c.replace(Some(id.clone())));
        let result = fut.as_mut().poll(cx);
        CURRENT.with(|c| *c.borrow_mut() = previous);
        result
    })
    .await
}

/// The request's log id: its `cf-ray` when the runtime gave one, else `local-<n>`.
pub(crate) fn request_id(cf_ray: Option<Rc<str>>) -> Rc<str> {
    match cf_ray {
        Some(id) => id,
        None => NEXT_ID
            .with(|n| {
                let id = n.get();
                n.set(id + 1);
                format!("local-{id}")
            })
            .into(),
    }
}

/// `stream` polled inside request `id`'s log context, like [`in_request`]: a streamed
/// answer keeps running the call (and logging) after the response head was returned.
pub(crate) fn stream_in_request<S: futures::Stream + Unpin>(
    id: Rc<str>,
    mut stream: S,
) -> impl futures::Stream<Item = S::Item> {
    futures::stream::poll_fn(move |cx: &mut Context<'_>| {
        let previous = CURRENT.with(|c| c.replace(Some(id.clone())));
        let result = std::pin::Pin::new(&mut stream).poll_next(cx);
        CURRENT.with(|c| *c.borrow_mut() = previous);
        result
    })
}

struct ConsoleJson {
    max: LevelFilter,
    next_span: AtomicU64,
}

impl Subscriber for ConsoleJson {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= self.max
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.max)
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(self.next_span.fetch_add(1, Ordering::Relaxed))
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let metadata = event.metadata();
        let mut fields = JsonFields(Map::new());
        event.record(&mut fields);
        let mut line = Map::new();
        line.insert("level".into(), metadata.level().as_str().into());
        line.insert("target".into(), metadata.target().into());
        if let Some(message) = fields.0.remove("message") {
            line.insert("message".into(), message);
        }
        if let Some(id) = CURRENT.with(|c| c.borrow().clone()) {
            line.insert("request_id".into(), Value::String(id.to_string()));
        }
        line.extend(fields.0);
        let line = Value::Object(line);
        match *metadata.level() {
            Level::ERROR => worker::console_error!("{line}"),
            Level::WARN => worker::console_warn!("{line}"),
            _ => worker::console_log!("{line}"),
        }
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

struct JsonFields(Map<String, Value>);

impl Visit for JsonFields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().into(), Value::String(format!("{value:?}")));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
}
