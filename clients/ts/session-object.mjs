// The McpSession Durable Object (keycard-worker's session store, worker/host/src/session)
// on its own, under workerd through Miniflare: the internal protocol
// DurableSessionStore speaks, without the MCP layer in front.
//
//   node session-object.mjs [--script ../../worker/build/index.js]
//
// Checks: put/get/delete of a record; a client response delivered before its wait is
// kept and taken, one delivered during a wait wakes it, a wait times out with null;
// kept responses are bounded (MAX_KEPT_RESPONSES = 32, oldest dropped); deleting a
// session ends its waits at once; a response to an unknown session is dropped; the
// storage alarm at `expires_ms` deletes the session; malformed requests get 400.
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const script = path.resolve(args.script ?? path.join(here, "../../worker/build/index.js"));
// Miniflare comes with wrangler in worker/node_modules.
const { Miniflare } = createRequire(path.join(here, "../../worker/package.json"))("miniflare");

function fail(msg) {
  console.error(`FAIL (session object): ${msg}`);
  process.exit(1);
}
const check = (cond, msg) => cond || fail(msg);

const mf = new Miniflare({
  host: "127.0.0.1",
  modules: true,
  scriptPath: script,
  modulesRoot: path.dirname(script),
  modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
  compatibilityDate: "2025-04-01",
  durableObjects: { MCP_SESSIONS: { className: "McpSession", useSQLite: true } },
});
try {
  await mf.ready;
  const ns = await mf.getDurableObjectNamespace("MCP_SESSIONS");
  const object = (name) => {
    const stub = ns.get(ns.idFromName(name));
    return async (method, op, body) => {
      const r = await stub.fetch(`https://session${op}`, {
        method,
        body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
      });
      const text = await r.text();
      return { status: r.status, text, json: text && r.status === 200 ? JSON.parse(text) : null };
    };
  };
  const record = (ttlMs) => ({
    owner: "0".repeat(64),
    protocol_version: "2025-06-18",
    client_capabilities: { elicitation: {} },
    created_ms: Date.now(),
    expires_ms: Date.now() + ttlMs,
  });

  // Records.
  const s = object("a".repeat(32));
  check((await s("GET", "/get")).status === 404, "an unknown session must be 404");
  const rec = record(600_000);
  check((await s("POST", "/put", rec)).status === 204, "put must answer 204");
  const got = await s("GET", "/get");
  check(got.status === 200 && JSON.stringify(got.json) === JSON.stringify(rec), `get returned ${got.text}`);
  check(object("b".repeat(32)) && (await object("b".repeat(32))("GET", "/get")).status === 404, "another id must not see it");
  console.log("  put → 204, get → the record, another id → 404");

  // Responses: before the wait, during the wait, never.
  check((await s("POST", "/deliver?rid=r1", { jsonrpc: "2.0", id: "r1", result: { n: 1 } })).status === 204, "deliver → 204");
  let w = await s("GET", "/wait?rid=r1&timeout_ms=5000");
  check(w.json?.response?.result?.n === 1, `a kept response must be taken at once: ${w.text}`);
  w = await s("GET", "/wait?rid=r1&timeout_ms=200");
  check(w.json?.response === null, `a taken response must be gone: ${w.text}`);
  let t0 = Date.now();
  const waiting = s("GET", "/wait?rid=r2&timeout_ms=20000");
  await new Promise((r) => setTimeout(r, 300));
  check((await s("POST", "/deliver?rid=r2", { jsonrpc: "2.0", id: "r2", result: { n: 2 } })).status === 204, "deliver → 204");
  w = await waiting;
  check(w.json?.response?.result?.n === 2 && Date.now() - t0 < 5000, `a waiter must be woken by the delivery: ${w.text}`);
  t0 = Date.now();
  w = await s("GET", "/wait?rid=r3&timeout_ms=400");
  check(w.json?.response === null && Date.now() - t0 >= 350, `a wait must time out with null after its timeout: ${w.text}`);
  console.log("  deliver-then-wait, wait-then-deliver (woken), timeout → null");

  // Bounded keeping.
  for (let i = 0; i < 40; i++) await s("POST", `/deliver?rid=k${i}`, { result: i });
  w = await s("GET", "/wait?rid=k0&timeout_ms=1");
  check(w.json?.response === null, "the oldest kept responses must be dropped past 32");
  w = await s("GET", "/wait?rid=k8&timeout_ms=1");
  check(w.json?.response?.result === 8, `the 32 newest must be kept: ${w.text}`);
  console.log("  kept responses bounded at 32 (oldest dropped)");

  // Delete ends waits.
  t0 = Date.now();
  const ended = s("GET", "/wait?rid=r4&timeout_ms=20000");
  await new Promise((r) => setTimeout(r, 300));
  const del = await s("POST", "/delete");
  check(del.json?.existed === true, `delete → existed true: ${del.text}`);
  w = await ended;
  check(w.json?.response === null && Date.now() - t0 < 5000, `delete must end the wait: ${w.text}`);
  check((await s("GET", "/get")).status === 404, "deleted → 404");
  check((await s("POST", "/delete")).json?.existed === false, "delete again → existed false");
  check((await s("POST", "/deliver?rid=r5", { result: 5 })).status === 204, "deliver to no session → 204");
  await s("POST", "/put", record(600_000));
  check((await s("GET", "/wait?rid=r5&timeout_ms=1")).json?.response === null, "a response to no session must be dropped");
  await s("POST", "/delete");
  console.log("  delete → existed, ends waits, 404 after; responses to no session dropped");

  // The alarm at expires_ms deletes the session.
  const e = object("c".repeat(32));
  await e("POST", "/put", record(1000));
  check((await e("GET", "/get")).status === 200, "the short-lived record must exist first");
  let gone = false;
  for (let i = 0; i < 40 && !gone; i++) {
    await new Promise((r) => setTimeout(r, 250));
    gone = (await e("GET", "/get")).status === 404;
  }
  check(gone, "the alarm at expires_ms must delete the session");
  console.log("  the storage alarm at expires_ms deleted the session");

  // Malformed.
  check((await s("POST", "/put", "{}")).status === 400, "a non-record put → 400");
  check((await s("GET", "/wait?rid=x")).status === 400, "wait without timeout_ms → 400");
  check((await s("POST", "/deliver", {})).status === 400, "deliver without rid → 400");
  check((await s("GET", "/nothing")).status === 404, "an unknown operation → 404");
  console.log("  malformed requests → 400/404");
  console.log("session object: all passed");
} finally {
  await mf.dispose();
}
