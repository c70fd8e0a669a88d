// The official TypeScript MCP client (@modelcontextprotocol/sdk) against our server.
//
//   node smoke.mjs --url http://127.0.0.1:8787/mcp --token <bearer> [--expect-sub alice]
//   node smoke.mjs --url http://127.0.0.1:8787/mcp --oauth-user alice
//
// Token mode sends a ready-made bearer. OAuth mode runs the client's own flow: 401 →
// protected-resource metadata → authorization-server metadata → dynamic registration →
// authorize (the mock zone's non-interactive `login_hint` picks the user) → PKCE token.
// Either way it lists the tools and calls whoami and github_user, and exits non-zero on
// any failure. With `--progress-tool NAME` it also calls that tool with a progress token
// and requires >= 3 increasing progress notifications and >= 3 log messages during the call.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";
import { HeadlessProvider } from "./headless-provider.mjs";
import { CallToolResultSchema, LoggingMessageNotificationSchema } from "@modelcontextprotocol/sdk/types.js";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const url = new URL(args.url ?? "http://127.0.0.1:8787/mcp");
const expectSub = args["expect-sub"] ?? args["oauth-user"];

function fail(msg) {
  console.error(`FAIL (ts client): ${msg}`);
  process.exit(1);
}

async function connect() {
  if (args.token) {
    const transport = new StreamableHTTPClientTransport(url, {
      requestInit: { headers: { Authorization: `Bearer ${args.token}` } },
    });
    const client = new Client({ name: "ts-sdk-smoke", version: "1.0.0" });
    await client.connect(transport);
    return client;
  }
  if (!args["oauth-user"]) fail("give --token or --oauth-user");
  const provider = new HeadlessProvider(args["oauth-user"], { clientName: "ts-sdk-smoke" });
  let transport = new StreamableHTTPClientTransport(url, { authProvider: provider });
  let client = new Client({ name: "ts-sdk-smoke", version: "1.0.0" });
  try {
    await client.connect(transport);
    return client;
  } catch (e) {
    if (!(e instanceof UnauthorizedError) || !provider.pendingCode) throw e;
  }
  await transport.finishAuth(provider.pendingCode);
  transport = new StreamableHTTPClientTransport(url, { authProvider: provider });
  client = new Client({ name: "ts-sdk-smoke", version: "1.0.0" });
  await client.connect(transport);
  return client;
}

// Calls `tool` with a progress token; its notifications must arrive before the result.
async function progressAndLogs(client, tool) {
  const logs = [];
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => { logs.push(n.params); });
  const progress = [];
  const result = await client.callTool({ name: tool, arguments: {} }, CallToolResultSchema, {
    onprogress: (p) => progress.push(p.progress),
  });
  const seen = { progress: [...progress], logs: logs.length };
  if (result.isError) fail(`${tool} failed: ${JSON.stringify(result.content)}`);
  const increasing = seen.progress.every((p, i) => i === 0 || p > seen.progress[i - 1]);
  if (seen.progress.length < 3 || !increasing) fail(`${tool}: expected >= 3 increasing progress notifications, got ${seen.progress}`);
  if (seen.logs < 3) fail(`${tool}: expected >= 3 log messages during the call, got ${seen.logs}`);
  return seen;
}

try {
  const client = await connect();
  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name).sort();
  for (const want of ["github_user", "whoami"]) if (!names.includes(want)) fail(`tools/list lacks ${want}: ${names}`);

  const who = await client.callTool({ name: "whoami", arguments: {} });
  if (who.isError) fail(`whoami failed: ${JSON.stringify(who.content)}`);
  const whoSub = who.structuredContent?.subject;
  if (expectSub !== undefined && whoSub !== expectSub) fail(`whoami subject ${whoSub} != ${expectSub}`);

  const gh = await client.callTool({ name: "github_user", arguments: {} });
  if (gh.isError) fail(`github_user failed: ${JSON.stringify(gh.content)}`);
  const seen = gh.structuredContent?.keycard?.sub;
  if (expectSub !== undefined && seen !== undefined && seen !== expectSub) fail(`github_user acted for ${seen}, not ${expectSub}`);

  let notifications;
  if (args["progress-tool"]) notifications = await progressAndLogs(client, args["progress-tool"]);

  console.log(JSON.stringify({ client: "ts-sdk", tools: names, whoami: whoSub, github_user: gh.structuredContent?.login ?? null, notifications }));
  await client.close();
} catch (e) {
  fail(e?.stack ?? String(e));
}
