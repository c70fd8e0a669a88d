// MCP sessions (`Mcp-Session-Id`) against a Worker whose MCP_SESSIONS Durable Object
// binding is on, with plain fetch (no SDK: the headers are what is tested):
//
//   node sessions.mjs --url http://127.0.0.1:8787/mcp --token <alice's bearer>
//                     [--other-token <another user's bearer>]
//
// 1. `initialize` (a legacy revision) answers with an `Mcp-Session-Id` header;
// 2. later POSTs with that header work (`notifications/initialized` → 202, `tools/list`
//    → 200 with tools, `ping`);
// 3. another user's token with that id gets 404 (a session belongs to whoever opened it),
//    so does a well-formed id nobody issued;
// 4. a POST without the header is still served statelessly;
// 5. DELETE with the header answers 204, and afterwards the id gets 404 (POST and
//    DELETE).
// With --expiry-secs N instead (a Worker with KEYCARD_SESSION_TTL_SECS=N): a session
// unused for N seconds gets 404.
const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const url = args.url ?? "http://127.0.0.1:8787/mcp";
if (!args.token) {
  console.error("usage: node sessions.mjs --url URL --token BEARER [--other-token BEARER | --expiry-secs N]");
  process.exit(2);
}
const VERSION = "2025-06-18";

function fail(msg) {
  console.error(`FAIL (sessions): ${msg}`);
  process.exit(1);
}

/** One request; returns { status, headers, body (parsed JSON-RPC message or null), text }. */
async function call(method, { token = args.token, session, message } = {}) {
  const headers = {
    authorization: `Bearer ${token}`,
    accept: "application/json, text/event-stream",
  };
  if (message) headers["content-type"] = "application/json";
  if (session) {
    headers["mcp-session-id"] = session;
    headers["mcp-protocol-version"] = VERSION;
  }
  const r = await fetch(url, { method, headers, body: message ? JSON.stringify(message) : undefined });
  const text = await r.text();
  let body = null;
  if ((r.headers.get("content-type") ?? "").startsWith("text/event-stream")) {
    // The last `data:` line carries the answer (notifications come first).
    const data = text.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim());
    if (data.length) body = JSON.parse(data[data.length - 1]);
  } else if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = null;
    }
  }
  return { status: r.status, headers: r.headers, body, text };
}

const rpc = (id, method, params = {}) => ({ jsonrpc: "2.0", id, method, params });
const expect = (what, r, status) => {
  if (r.status !== status) fail(`${what}: expected ${status}, got ${r.status} ${r.text.slice(0, 300)}`);
};

async function open() {
  return call("POST", {
  message: rpc(1, "initialize", {
    protocolVersion: VERSION,
    capabilities: { elicitation: {} },
    clientInfo: { name: "sessions.mjs", version: "1.0.0" },
  }),
  });
}

// --expiry-secs N (a Worker with KEYCARD_SESSION_TTL_SECS=N): an unused session is gone
// after N seconds (the core's expiry check, and the object's storage alarm).
if (args["expiry-secs"]) {
  const ttl = Number(args["expiry-secs"]);
  const r = await open();
  expect("initialize", r, 200);
  const id = r.headers.get("mcp-session-id") ?? fail("initialize answered without an Mcp-Session-Id header");
  expect("the session at once", await call("POST", { session: id, message: rpc(2, "ping") }), 200);
  await new Promise((done) => setTimeout(done, ttl * 1000 + 1500));
  expect(`the session after ${ttl}s unused`, await call("POST", { session: id, message: rpc(3, "ping") }), 404);
  console.log(`  KEYCARD_SESSION_TTL_SECS=${ttl}: 200 at once, 404 after ${ttl}s unused`);
  console.log("sessions (expiry): all passed");
  process.exit(0);
}

// 1. initialize opens a session.
const init = await open();
expect("initialize", init, 200);
const session = init.headers.get("mcp-session-id");
if (!session) fail(`initialize answered without an Mcp-Session-Id header: ${init.text.slice(0, 300)}`);
if (!/^[\x21-\x7e]+$/.test(session)) fail(`session id is not visible ASCII: ${JSON.stringify(session)}`);
if (init.body?.result?.protocolVersion !== VERSION) fail(`initialize result: ${init.text.slice(0, 300)}`);
console.log(`  initialize → 200, Mcp-Session-Id ${session.slice(0, 8)}…`);

// 2. The session's later requests work.
expect("notifications/initialized", await call("POST", { session, message: { jsonrpc: "2.0", method: "notifications/initialized" } }), 202);
const list = await call("POST", { session, message: rpc(2, "tools/list") });
expect("tools/list in the session", list, 200);
const tools = list.body?.result?.tools?.map((t) => t.name) ?? [];
if (!tools.length) fail(`tools/list in the session returned no tools: ${list.text.slice(0, 300)}`);
expect("ping in the session", await call("POST", { session, message: rpc(3, "ping") }), 200);
console.log(`  POST with the id → 200 (tools: ${tools.join(", ")})`);

// 3. Not someone else's, not an id nobody issued.
if (args["other-token"]) {
  expect("another user's token with the id", await call("POST", { token: args["other-token"], session, message: rpc(4, "ping") }), 404);
  console.log("  another user's token with the id → 404");
}
expect("an id nobody issued", await call("POST", { session: "0123456789abcdef0123456789abcdef", message: rpc(5, "ping") }), 404);
console.log("  a well-formed id nobody issued → 404");

// 4. Stateless still works.
expect("a POST without a session id", await call("POST", { message: rpc(6, "tools/list") }), 200);
console.log("  POST without the id → 200 (stateless)");

// 5. DELETE ends it.
expect("DELETE", await call("DELETE", { session }), 204);
expect("POST after DELETE", await call("POST", { session, message: rpc(7, "ping") }), 404);
expect("DELETE after DELETE", await call("DELETE", { session }), 404);
console.log("  DELETE → 204; afterwards POST → 404, DELETE → 404");
console.log("sessions: all passed");
