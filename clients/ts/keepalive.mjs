// A kept-alive connection stays usable after a request the Worker refuses from its head.
//
//   node keepalive.mjs --url http://127.0.0.1:8787/mcp [--rounds 1500]
//
// Each round sends, one after the other on Node's kept-alive connection, a POST with a
// JSON-RPC body that the Worker refuses before reading its body (no token: a 401 with a
// JSON body; a refused token: a 401 with no body; a wrong Accept header), then a GET of
// the protected-resource metadata. Every request must be answered within 3 s.
//
// Why: the Worker answers these POSTs without copying their body into wasm. When it left
// the body's read running after the answer (fire-and-forget), workerd under `wrangler dev`
// stalled the connection's next request now and then: 8 of 1,500 metadata GETs after a
// tokenless POST never got an answer (the official TypeScript client's OAuth flow timed
// out on it in CI). Exits non-zero on the first stall or unexpected status.
const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
if (!args.url) fail("--url is required");
const url = new URL(args.url);
const rounds = Number(args.rounds ?? 1500);
const prm = `${url.origin}/.well-known/oauth-protected-resource${url.pathname}`;
const BODY = JSON.stringify({
  jsonrpc: "2.0", id: 1, method: "initialize",
  params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "keepalive", version: "1" } },
});
const MCP = { "content-type": "application/json", accept: "application/json, text/event-stream" };
const kinds = [
  { name: "no token", headers: MCP, status: 401 },
  { name: "refused token", headers: { ...MCP, authorization: "Bearer not.a.token" }, status: 401 },
  { name: "wrong Accept", headers: { ...MCP, accept: "text/plain" }, status: null },
];

function fail(msg) {
  console.error(`FAIL (keepalive, ${args.url ?? "?"}): ${msg}`);
  process.exit(1);
}

async function send(what, target, init) {
  try {
    const res = await fetch(target, { ...init, signal: AbortSignal.timeout(3000) });
    await res.arrayBuffer();
    return res.status;
  } catch (e) {
    fail(`${what}: ${e.name === "TimeoutError" ? "no answer within 3 s" : String(e.cause ?? e)}`);
  }
}

for (const kind of kinds) {
  const started = Date.now();
  for (let i = 0; i < rounds; i++) {
    const status = await send(`POST (${kind.name}), round ${i}`, url, { method: "POST", headers: kind.headers, body: BODY });
    if (kind.status !== null ? status !== kind.status : status < 400 || status >= 500) {
      fail(`POST (${kind.name}), round ${i}: status ${status}`);
    }
    const got = await send(`metadata GET after a POST (${kind.name}), round ${i}`, prm, {});
    if (got !== 200) fail(`metadata GET after a POST (${kind.name}), round ${i}: status ${got}`);
  }
  console.log(`  ${kind.name}: ${rounds} POST + GET pairs answered (${Date.now() - started} ms)`);
}
