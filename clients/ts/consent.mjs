// Consent by URL with the official TypeScript MCP client (@modelcontextprotocol/sdk):
//
//   node consent.mjs --url http://127.0.0.1:8787/mcp --token <bearer of a user without
//                    consent> --zone http://127.0.0.1:8788 --user mallory
//
// The client declares URL-mode elicitation (`capabilities.elicitation.url`, and — since
// the server is stateless and does not remember `initialize` — the same declaration in the
// call's `_meta["io.modelcontextprotocol/clientCapabilities"]`). It calls github_user,
// expects UrlElicitationRequiredError (-32042) whose URL is the zone's consent page for
// this user, follows it headlessly (GET the page, POST its form), retries, and expects the
// profile. Then the zone's audit log must show, for this user and the upstream, a
// `consent:grant` followed by exactly one issued exchange. A declared-but-not-URL client
// (no `_meta`) must first have received the plain isError text.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ErrorCode, UrlElicitationRequiredError } from "@modelcontextprotocol/sdk/types.js";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const url = new URL(args.url ?? "http://127.0.0.1:8787/mcp");
const zone = (args.zone ?? "").replace(/\/$/, "");
const user = args.user ?? "mallory";
if (!args.token || !zone) {
  console.error("usage: node consent.mjs --url URL --token BEARER --zone ZONE_URL [--user SUB]");
  process.exit(2);
}
function fail(msg) {
  console.error(`FAIL (ts consent): ${msg}`);
  process.exit(1);
}
const CAPS = { elicitation: { url: {} } };
const META = { "io.modelcontextprotocol/clientCapabilities": CAPS };

const client = new Client({ name: "ts-sdk-consent", version: "1.0.0" }, { capabilities: CAPS });
const transport = new StreamableHTTPClientTransport(url, {
  requestInit: { headers: { authorization: `Bearer ${args.token}` } },
});
await client.connect(transport);

// 1. Without the per-request declaration: today's isError text, naming the consent page.
const plain = await client.callTool({ name: "github_user", arguments: {} });
const plainText = plain.content?.map((c) => c.text ?? "").join(" ") ?? "";
if (!plain.isError || !plainText.includes(`${zone}/consent?`)) {
  fail(`expected an isError result naming the consent page, got ${JSON.stringify(plain)}`);
}
console.log(`  undeclared: isError text: ${plainText.slice(0, 120)}…`);

// 2. Declared: -32042 with a URL-mode elicitation.
let elicitation;
try {
  const r = await client.callTool({ name: "github_user", arguments: {}, _meta: META });
  fail(`expected URL elicitation, got a result: ${JSON.stringify(r)}`);
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
console.log(`  -32042 URL elicitation ${elicitation.elicitationId}: ${elicitation.url}`);

// 3. Follow the URL headlessly: the page, then its form.
const page = await fetch(consentUrl);
const html = await page.text();
if (page.status !== 200 || !html.includes('action="/consent"')) fail(`consent page: ${page.status} ${html.slice(0, 200)}`);
const form = new URLSearchParams();
for (const name of ["user", "client_id", "resource"]) form.set(name, consentUrl.searchParams.get(name) ?? "");
const granted = await fetch(`${zone}/consent`, { method: "POST", body: form });
if (granted.status !== 200) fail(`POST /consent answered ${granted.status}: ${(await granted.text()).slice(0, 200)}`);
console.log("  consent granted on the zone's page");

// 4. Retry: the profile.
const retried = await client.callTool({ name: "github_user", arguments: {}, _meta: META });
const login = retried.structuredContent?.login;
if (retried.isError || login !== user) fail(`retry after consent: ${JSON.stringify(retried)}`);
console.log(`  retry: signed in as ${login}`);
await client.close();

// 5. The zone's audit log: consent, then exactly one issued exchange for this user + resource.
const resource = consentUrl.searchParams.get("resource");
const audit = await (await fetch(`${zone}/audit?sub=${encodeURIComponent(user)}&resource=${encodeURIComponent(resource)}`)).json();
const events = Array.isArray(audit) ? audit : audit.events;
if (!Array.isArray(events)) fail(`unexpected /audit answer ${JSON.stringify(audit).slice(0, 300)}`);
const consentAt = events.findIndex((e) => e.event === "consent:grant");
if (consentAt < 0) fail(`no consent:grant in the audit log: ${JSON.stringify(events)}`);
const after = events.slice(consentAt + 1).filter((e) => e.event === "credentials:issue");
const issued = after.filter((e) => e.outcome === "issued");
if (issued.length !== 1 || after.length !== 1) {
  fail(`expected exactly one exchange after the consent, got ${JSON.stringify(after)}`);
}
const refusedBefore = events.slice(0, consentAt).filter((e) => e.event === "credentials:issue" && e.outcome === "refused");
if (refusedBefore.length < 1) fail(`expected the refused exchanges before the consent: ${JSON.stringify(events)}`);
console.log(`  audit: ${refusedBefore.length} refused exchange(s), consent:grant, then 1 issued exchange`);
console.log("ts client: consent by URL ok");
