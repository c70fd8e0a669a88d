// Multi-zone serving (KEYCARD_ZONES) through the official TypeScript MCP client
// (@modelcontextprotocol/sdk): one zone's path, one user, the client's own OAuth flow.
//
//   node zones.mjs --url http://127.0.0.1:8787/a/mcp --user alice \
//     --issuer http://127.0.0.1:9001 --other-url http://127.0.0.1:8787/b/mcp \
//     [--missing calendar]
//
//  1. Unauthenticated POST: 401 whose challenge points at the zone's own protected-resource
//     metadata (RFC 9728 path-inserted form), naming the zone's issuer and resource.
//  2. The SDK's OAuth flow from that challenge: PRM → AS metadata → dynamic registration →
//     authorize (the mock zone's non-interactive `login_hint`) → PKCE token.
//  3. tools/list has whoami, github_user and my_day; whoami's subject and issuer are the
//     user's in THIS zone.
//  4. my_day, the two-upstream tool: without --missing, both upstreams answer (GitHub
//     profile of the user, a list of events, no errors); with --missing NAME, the other
//     upstream answers and `errors` names NAME as not granted.
//  5. The zone's access token sent to --other-url (another zone's path): 401 invalid_token
//     with that zone's challenge.
// Exits non-zero on any failure; never prints a token.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";
import { HeadlessProvider } from "./headless-provider.mjs";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
for (const need of ["url", "user", "issuer", "other-url"]) if (!args[need]) fail(`--${need} is required`);
const url = new URL(args.url);
const other = new URL(args["other-url"]);
const user = args.user;
const issuer = args.issuer;
const missing = args.missing;
const MCP_HEADERS = { "content-type": "application/json", accept: "application/json, text/event-stream" };
const INIT = JSON.stringify({
  jsonrpc: "2.0", id: 1, method: "initialize",
  params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "zones", version: "1" } },
});

function fail(msg) {
  console.error(`FAIL (ts zones client, ${args.url ?? "?"} as ${args.user ?? "?"}): ${msg}`);
  process.exit(1);
}

/// The path-inserted PRM URL of an MCP endpoint (RFC 9728 §3.1).
const prmUrlOf = (endpoint) => `${endpoint.origin}/.well-known/oauth-protected-resource${endpoint.pathname}`;
const challengeOf = (res) => res.headers.get("www-authenticate") ?? "";

async function discovery() {
  const res = await fetch(url, { method: "POST", headers: MCP_HEADERS, body: INIT });
  if (res.status !== 401) fail(`unauthenticated POST got ${res.status}, expected 401`);
  const challenge = challengeOf(res);
  const prmUrl = /resource_metadata="([^"]*)"/.exec(challenge)?.[1];
  if (prmUrl !== prmUrlOf(url)) fail(`challenge resource_metadata ${prmUrl}, expected ${prmUrlOf(url)} (${challenge})`);
  const prm = await (await fetch(prmUrl)).json();
  if (prm.resource !== url.href) fail(`PRM resource ${prm.resource}, expected ${url.href}`);
  if (JSON.stringify(prm.authorization_servers) !== JSON.stringify([issuer])) {
    fail(`PRM authorization_servers ${JSON.stringify(prm.authorization_servers)}, expected [${issuer}]`);
  }
  return prmUrl;
}

async function connect(provider) {
  let transport = new StreamableHTTPClientTransport(url, { authProvider: provider });
  let client = new Client({ name: "ts-sdk-zones", version: "1.0.0" });
  try {
    await client.connect(transport);
    fail("connected without signing in");
  } catch (e) {
    if (!(e instanceof UnauthorizedError) || !provider.pendingCode) throw e;
  }
  await transport.finishAuth(provider.pendingCode);
  if (!provider.tokens()?.access_token) fail("no access token after the flow");
  transport = new StreamableHTTPClientTransport(url, { authProvider: provider });
  client = new Client({ name: "ts-sdk-zones", version: "1.0.0" });
  await client.connect(transport);
  return client;
}

function checkMyDay(day) {
  if (!day) fail("my_day returned no structured content");
  if (day.github?.login !== user) fail(`my_day github.login ${day.github?.login}, expected ${user}`);
  const errors = day.errors ?? [];
  if (!missing) {
    if (!Array.isArray(day.events)) fail(`my_day events missing: ${JSON.stringify(day)}`);
    if (errors.length) fail(`my_day errors for a user who granted both: ${JSON.stringify(errors)}`);
    return;
  }
  if (day.events !== null && day.events !== undefined) fail(`my_day has events although ${missing} is not granted`);
  if (errors.length !== 1 || errors[0].upstream !== missing) fail(`my_day errors ${JSON.stringify(errors)}, expected one for ${missing}`);
  if (!errors[0].error.includes(`not granted access to the "${missing}" upstream`)) fail(`my_day error does not say what to do: ${errors[0].error}`);
}

try {
  const prmUrl = await discovery();
  const provider = new HeadlessProvider(user, {
    clientName: "ts-sdk-zones",
    // The authorize step must go to this zone's issuer, for this zone's resource.
    check(authorizationUrl) {
      if (authorizationUrl.origin !== new URL(issuer).origin) fail(`authorize at ${authorizationUrl.origin}, not the zone's issuer ${issuer}`);
      const resource = authorizationUrl.searchParams.get("resource");
      if (resource !== url.href) fail(`authorize asks for resource ${resource}, not ${url.href}`);
    },
  });
  const client = await connect(provider);

  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name).sort();
  for (const want of ["github_user", "my_day", "whoami"]) if (!names.includes(want)) fail(`tools/list lacks ${want}: ${names}`);

  const who = await client.callTool({ name: "whoami", arguments: {} });
  if (who.isError) fail(`whoami failed: ${JSON.stringify(who.content)}`);
  const { subject, issuer: iss, audience } = who.structuredContent ?? {};
  if (subject !== user) fail(`whoami subject ${subject}, expected ${user}`);
  if (iss !== issuer) fail(`whoami issuer ${iss}, expected ${issuer}`);
  if (!audience?.includes(url.href)) fail(`whoami audience ${JSON.stringify(audience)} lacks ${url.href}`);

  const day = await client.callTool({ name: "my_day", arguments: {} });
  if (day.isError) fail(`my_day failed: ${JSON.stringify(day.content)}`);
  checkMyDay(day.structuredContent);
  await client.close();

  // This zone's token on the other zone's path.
  const crossed = await fetch(other, {
    method: "POST",
    headers: { ...MCP_HEADERS, authorization: `Bearer ${provider.tokens().access_token}` },
    body: INIT,
  });
  const challenge = challengeOf(crossed);
  if (crossed.status !== 401) fail(`this zone's token on ${other.href} got ${crossed.status}, expected 401`);
  if (!challenge.includes('error="invalid_token"')) fail(`cross-zone challenge lacks invalid_token: ${challenge}`);
  if (!challenge.includes(`resource_metadata="${prmUrlOf(other)}"`)) fail(`cross-zone challenge is not the other zone's: ${challenge}`);

  console.log(JSON.stringify({
    client: "ts-sdk", zone: url.pathname, prm: prmUrl, user: subject, issuer: iss, tools: names,
    my_day: {
      github: day.structuredContent.github?.login ?? null,
      events: day.structuredContent.events?.length ?? null,
      errors: day.structuredContent.errors.map((e) => e.upstream),
    },
    other_zone: `${crossed.status} invalid_token`,
  }));
} catch (e) {
  fail(e?.stack ?? String(e));
}
