// Consent by URL with the official TypeScript MCP client (@modelcontextprotocol/sdk):
//
//   node consent.mjs --url http://127.0.0.1:8787/mcp --token <bearer of a user without
//                    consent> --zone http://127.0.0.1:8788 [--user mallory]
//                    [--expect-session yes|no]
//
// The client declares URL-mode elicitation (`capabilities.elicitation.url`) at
// `initialize` and calls github_user. Two server setups are correct, and which one this
// is shows in whether `initialize` answered with an `Mcp-Session-Id` (`transport.sessionId`):
//
// * with a session: the server remembers the declaration, so the first call, WITHOUT any
//   per-request declaration, must already fail with UrlElicitationRequiredError (-32042);
// * stateless (no session id): the server cannot know what `initialize` declared, so the
//   first call without `_meta` must end as the plain isError text naming the consent page,
//   and a call that repeats the declaration in
//   `_meta["io.modelcontextprotocol/clientCapabilities"]` must get the -32042.
//
// `--expect-session yes|no` makes the run fail when the server is not in that setup.
// Then: the -32042's URL must be the zone's consent page for this user; it is followed
// headlessly (GET the page, POST its form); the call is retried (the same way the -32042
// was obtained) and must return the profile. Finally the zone's audit log (only events
// newer than this run's start) must show refused exchanges, then `consent:grant` for this
// user and upstream, then exactly one exchange, issued.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ErrorCode, UrlElicitationRequiredError } from "@modelcontextprotocol/sdk/types.js";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const url = new URL(args.url ?? "http://127.0.0.1:8787/mcp");
const zone = (args.zone ?? "").replace(/\/$/, "");
const user = args.user ?? "mallory";
const expectSession = args["expect-session"];
if (!args.token || !zone || ![undefined, "yes", "no"].includes(expectSession)) {
  console.error("usage: node consent.mjs --url URL --token BEARER --zone ZONE_URL [--user SUB] [--expect-session yes|no]");
  process.exit(2);
}
function fail(msg) {
  console.error(`FAIL (ts consent): ${msg}`);
  process.exit(1);
}
const CAPS = { elicitation: { url: {} } };
const META = { "io.modelcontextprotocol/clientCapabilities": CAPS };

async function auditEvents(query) {
  const res = await fetch(`${zone}/audit?${query}`);
  const audit = await res.json();
  const events = Array.isArray(audit) ? audit : audit.events;
  if (!Array.isArray(events)) fail(`unexpected /audit answer ${JSON.stringify(audit).slice(0, 300)}`);
  return events;
}
// Only what this run causes counts: the log may hold earlier runs for the same user.
const baseline = Math.max(0, ...(await auditEvents(`sub=${encodeURIComponent(user)}`)).map((e) => e.seq));

const client = new Client({ name: "ts-sdk-consent", version: "1.0.0" }, { capabilities: CAPS });
const transport = new StreamableHTTPClientTransport(url, {
  requestInit: { headers: { authorization: `Bearer ${args.token}` } },
});
await client.connect(transport);
const session = transport.sessionId;
if (expectSession === "yes" && !session) fail("expected initialize to open a session (Mcp-Session-Id), got none");
if (expectSession === "no" && session) fail(`expected a stateless server, got session ${session}`);
console.log(`  ${session ? "session (Mcp-Session-Id) opened at initialize" : "stateless (no Mcp-Session-Id)"}; protocol ${transport.protocolVersion ?? "?"}`);

// With a session the declaration at initialize suffices; stateless, each call repeats it.
const call = session ? () => client.callTool({ name: "github_user", arguments: {} })
  : () => client.callTool({ name: "github_user", arguments: {}, _meta: META });

if (!session) {
  // 1. Stateless, without the per-request declaration: the isError text naming the page.
  const plain = await client.callTool({ name: "github_user", arguments: {} });
  const plainText = plain.content?.map((c) => c.text ?? "").join(" ") ?? "";
  if (!plain.isError || !plainText.includes(`${zone}/consent?`)) {
    fail(`expected an isError result naming the consent page, got ${JSON.stringify(plain)}`);
  }
  console.log(`  undeclared in the call: isError text: ${plainText.slice(0, 120)}…`);
}

// 2. -32042 with a URL-mode elicitation: at the first call with a session, with `_meta` without.
let elicitation;
try {
  const r = await call();
  fail(`expected URL elicitation (${session ? "declared at initialize, session" : "declared in _meta"}), got a result: ${JSON.stringify(r)}`);
} catch (e) {
  if (!(e instanceof UrlElicitationRequiredError) || e.code !== ErrorCode.UrlElicitationRequired) {
    fail(`expected UrlElicitationRequiredError, got ${e}`);
  }
  if (e.elicitations.length !== 1) fail(`expected one elicitation, got ${JSON.stringify(e.elicitations)}`);
  elicitation = e.elicitations[0];
}
if (elicitation.mode !== "url" || !elicitation.elicitationId || !elicitation.message) {
  fail(`malformed elicitation ${JSON.stringify(elicitation)}`);
}
const consentUrl = new URL(elicitation.url);
if (consentUrl.origin + consentUrl.pathname !== `${zone}/consent` || consentUrl.searchParams.get("user") !== user) {
  fail(`the elicitation URL is not the zone's consent page for ${user}: ${elicitation.url}`);
}
if (elicitation.url.includes(args.token)) fail("the elicitation URL carries the bearer");
console.log(`  -32042 URL elicitation (${session ? "first call, no _meta: declared at initialize" : "call with _meta"}) ${elicitation.elicitationId}: ${elicitation.url}`);

// 3. Follow the URL headlessly: the page, then its form.
const page = await fetch(consentUrl);
const html = await page.text();
if (page.status !== 200 || !html.includes('action="/consent"')) fail(`consent page: ${page.status} ${html.slice(0, 200)}`);
const form = new URLSearchParams();
for (const name of ["user", "client_id", "resource"]) form.set(name, consentUrl.searchParams.get(name) ?? "");
const granted = await fetch(`${zone}/consent`, { method: "POST", body: form });
if (granted.status !== 200) fail(`POST /consent answered ${granted.status}: ${(await granted.text()).slice(0, 200)}`);
console.log("  consent granted on the zone's page");

// 4. Retry, the same way: the profile.
const retried = await call();
const login = retried.structuredContent?.login;
if (retried.isError || login !== user) fail(`retry after consent: ${JSON.stringify(retried)}`);
console.log(`  retry: signed in as ${login}`);
await client.close();

// 5. The zone's audit log, this run only: refused exchanges, consent, then exactly one
//    issued exchange for this user + resource.
const resource = consentUrl.searchParams.get("resource");
const events = (await auditEvents(`sub=${encodeURIComponent(user)}&resource=${encodeURIComponent(resource)}`))
  .filter((e) => e.seq > baseline);
const consents = events.filter((e) => e.event === "consent:grant");
if (consents.length !== 1) fail(`expected one consent:grant in this run, got ${JSON.stringify(events)}`);
const consentAt = events.indexOf(consents[0]);
const after = events.slice(consentAt + 1).filter((e) => e.event === "credentials:issue");
const issued = after.filter((e) => e.outcome === "issued");
if (issued.length !== 1 || after.length !== 1) {
  fail(`expected exactly one exchange after the consent, got ${JSON.stringify(after)}`);
}
const before = events.slice(0, consentAt).filter((e) => e.event === "credentials:issue");
if (before.length < 1 || before.some((e) => e.outcome !== "refused")) {
  fail(`expected only refused exchanges before the consent: ${JSON.stringify(before)}`);
}
console.log(`  audit: ${before.length} refused exchange(s), consent:grant (#${consents[0].seq}), then 1 issued exchange (#${issued[0].seq})`);
console.log(`ts client: consent by URL ok (${session ? "session" : "stateless"})`);
