//! The few lines of JavaScript the host needs, so that a request or response crosses
//! the wasm/JS boundary in one call instead of one per header.
//!
//! Profiling under workerd (`docs/performance.md`) showed the per-request cost of the
//! generic `worker` conversions: reading `request.cf` (a JSON parse inside workerd) on
//! every request, a URL parse, ~7 boundary crossings per header, and response bodies
//! read chunk by chunk through a stream reader. These helpers replace all of that.
//!
//! Headers travel as `name:value\n` lines: a header name cannot contain `:` and a
//! `Headers` value cannot contain CR or LF, so the encoding is unambiguous.

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(inline_js = r#"
import * as workers from "cloudflare:workers";
export function startupEnv() {
  return workers.env;
}
export function requestHead(req) {
  let s = req.method + "\n" + req.url + "\n";
  req.headers.forEach((v, k) => { s += k + ":" + v + "\n"; });
  return s;
}
export async function discardBody(req) {
  // Read to its end, keeping nothing: an oversized body is not held in memory.
  try {
    const reader = req.body?.getReader();
    if (!reader) return;
    for (;;) if ((await reader.read()).done) return;
  } catch {
    // A body already used, or one whose upload broke off: nothing more to read.
  }
}
export function headersFrom(lines) {
  const h = new Headers();
  for (const line of lines.split("\n")) {
    if (line === "") continue;
    const i = line.indexOf(":");
    h.append(line.slice(0, i), line.slice(i + 1));
  }
  return h;
}
// Sets `key` in `map`, which holds at most `max` entries: when full it starts over, so
// varying keys cannot grow it.
function remember(map, max, key, value) {
  if (map.size >= max && !map.has(key)) map.clear();
  map.set(key, value);
}
// Answers the core marked reusable (`keycard_core::http::Reusable`), by request key,
// bounded by `remember`.
const reusable = new Map();
const MAX_REUSABLE = 64;
const MAX_KEY_LENGTH = 2048;
export function reusedOrKey(req) {
  if (req.method !== "GET") return undefined;
  const key = req.url + "\n" + (req.headers.get("mcp-protocol-version") ?? "");
  if (key.length > MAX_KEY_LENGTH) return undefined;
  const hit = reusable.get(key);
  if (hit === undefined) return key;
  return new Response(hit.body, { status: hit.status, headers: hit.headers });
}
// The `Headers` of recent answers, by their lines: most answers repeat a few header sets,
// and a `Response` copies the `Headers` it is given. Bounded by `remember`; an answer
// naming a session is never kept.
const headerSets = new Map();
const MAX_HEADER_SETS = 64;
function responseHeaders(lines) {
  let headers = headerSets.get(lines);
  if (headers === undefined) {
    headers = headersFrom(lines);
    if (!lines.includes("mcp-session-id:")) remember(headerSets, MAX_HEADER_SETS, lines, headers);
  }
  return headers;
}
export function respond(status, lines, body, key) {
  const headers = responseHeaders(lines);
  if (key !== undefined) remember(reusable, MAX_REUSABLE, key, { status, headers, body: body ?? null });
  return new Response(body ?? null, { status, headers });
}
export function fetchAll(url, method, lines, body, maxBytes) {
  // Not async: a request that cannot be built throws here, synchronously.
  const req = new Request(url, { method, headers: headersFrom(lines), body, redirect: "manual" });
  return fetch(req).then(async (r) => {
    let head = r.status + "\n";
    r.headers.forEach((v, k) => { head += k + ":" + v + "\n"; });
    const tooBig = () => new Error("response body over " + maxBytes + " bytes");
    const declared = Number(r.headers.get("content-length") ?? NaN);
    if (declared > maxBytes) { await r.body?.cancel(); throw tooBig(); }
    if (!r.body) return [head, new Uint8Array(0)];
    if (declared >= 0) {
      // Length known and small enough: one native copy (a reader loop is slower).
      const bytes = new Uint8Array(await r.arrayBuffer());
      if (bytes.length > maxBytes) throw tooBig();
      return [head, bytes];
    }
    const reader = r.body.getReader();
    const chunks = [];
    let total = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > maxBytes) { await reader.cancel(); throw tooBig(); }
      chunks.push(value);
    }
    const out = new Uint8Array(total);
    let at = 0;
    for (const c of chunks) { out.set(c, at); at += c.length; }
    return [head, out];
  });
}
"#)]
extern "C" {
    /// The Worker's `env` as `cloudflare:workers` exports it, which script startup can
    /// read (`undefined` where the runtime does not offer it: the module is imported as a
    /// namespace, so a missing export is not a link error).
    #[wasm_bindgen(js_name = startupEnv)]
    pub fn startup_env() -> JsValue;

    /// `"METHOD\nURL\n"` followed by the header lines, as one string: wasm-bindgen
    /// writes it straight into wasm memory (a head is usually ASCII, copied without even
    /// a `TextEncoder` call; anything else is UTF-8-encoded in place, as `TextEncoder`
    /// did), where a `Uint8Array` would cost an encode, a JS allocation and two more
    /// crossings to copy it in.
    #[wasm_bindgen(js_name = requestHead)]
    pub fn request_head(req: &web_sys::Request) -> String;

    /// Reads `req`'s body to its end and keeps none of it (a promise that never rejects):
    /// for a request answered from its head, so an oversized body is not buffered.
    #[wasm_bindgen(js_name = discardBody)]
    pub fn discard_body(req: &web_sys::Request) -> js_sys::Promise;

    /// For a `GET`: a copy of the reusable answer remembered for its key (URL and
    /// `MCP-Protocol-Version`) as a `Response`, or else the key (a string) to remember its
    /// answer under. `undefined` for any other method, and for a key over 2048 characters
    /// (never remembered).
    #[wasm_bindgen(js_name = reusedOrKey)]
    pub fn reused_or_key(req: &web_sys::Request) -> JsValue;

    /// A `Response` with `status`, the header lines and `body` (a `Uint8Array`, a
    /// `ReadableStream`, or `undefined` for none). With a `key` (not `undefined`) it is
    /// also remembered for [`reused_or_key`]; only a full body may be.
    #[wasm_bindgen(catch)]
    pub fn respond(
        status: u16,
        lines: &str,
        body: JsValue,
        key: &JsValue,
    ) -> Result<web_sys::Response, JsValue>;

    /// `fetch` with manual redirects; resolves to `["STATUS\n" + header lines, body]`,
    /// or rejects when the body is over `max_bytes`.
    #[wasm_bindgen(js_name = fetchAll, catch)]
    pub fn fetch_all(
        url: &str,
        method: &str,
        lines: &str,
        body: Option<js_sys::Uint8Array>,
        max_bytes: f64,
    ) -> Result<js_sys::Promise, JsValue>;
}

/// The message of a thrown JS value (an `Error`'s `message`, or a thrown string).
pub fn error_message(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| "unknown error".into())
}
