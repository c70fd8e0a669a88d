// The official TypeScript MCP client (@modelcontextprotocol/sdk) against the conformance
// fixture server (clients/conformance/server; under workerd, clients/conformance/worker):
// resources, prompts and completion as an application uses them.
//
//   node conformance-smoke.mjs --url http://127.0.0.1:8787/mcp --token <bearer> [--expect-sub alice]
//
// It lists the resources and the templates, reads a text, a binary and a templated
// resource, lists and gets prompts, and completes a prompt argument and a template
// variable, asserting the fixtures' real content. With --expect-sub it also reads the
// delegated resource upstream://profile and checks the upstream acted for that user.
// Exits non-zero on any failure.
//
// Notifications during a tool call (progress and log messages; they need the server to
// answer the POST with an SSE stream) are checked only when CHECK_CALL_NOTIFICATIONS=1:
// switch it on (scripts/test.d/36-conformance-workerd) once the server streams them.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { LoggingMessageNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { isDeepStrictEqual } from "node:util";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const url = new URL(args.url ?? "http://127.0.0.1:8787/mcp");
const checkNotifications = process.env.CHECK_CALL_NOTIFICATIONS === "1";
// The fixture server's 1x1 red PNG (conformance_server::RED_PIXEL_PNG_BASE64).
const RED_PIXEL_PNG_BASE64 =
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";

function fail(msg) {
  console.error(`FAIL (ts client, conformance fixtures): ${msg}`);
  process.exit(1);
}
function expectEqual(what, got, want) {
  if (!isDeepStrictEqual(got, want)) fail(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}

async function resources(client) {
  const { resources } = await client.listResources();
  const uris = resources.map((r) => r.uri).sort();
  for (const want of ["test://static-binary", "test://static-text"]) if (!uris.includes(want)) fail(`resources/list lacks ${want}: ${uris}`);
  const { resourceTemplates } = await client.listResourceTemplates();
  expectEqual("resources/templates/list", resourceTemplates.map((t) => t.uriTemplate), ["test://template/{id}/data"]);

  const text = await client.readResource({ uri: "test://static-text" });
  expectEqual("read test://static-text", text.contents.map((c) => [c.uri, c.mimeType, c.text]), [
    ["test://static-text", "text/plain", "This is the content of the static text resource."],
  ]);
  const binary = await client.readResource({ uri: "test://static-binary" });
  expectEqual("read test://static-binary", binary.contents.map((c) => [c.mimeType, c.blob]), [["image/png", RED_PIXEL_PNG_BASE64]]);
  const templated = await client.readResource({ uri: "test://template/42/data" });
  const data = JSON.parse(templated.contents[0]?.text ?? "null");
  expectEqual("read test://template/42/data", data, { id: "42", templateTest: true, data: "Data for ID: 42" });
  if (args["expect-sub"] !== undefined) {
    // Delegated: the server exchanged our token and called the upstream on our behalf.
    const profile = await client.readResource({ uri: "upstream://profile" });
    const seen = JSON.parse(profile.contents[0]?.text ?? "null")?.keycard?.sub;
    expectEqual("read upstream://profile: the upstream acted for", seen, args["expect-sub"]);
  }
  return uris;
}

async function prompts(client) {
  const { prompts } = await client.listPrompts();
  const names = prompts.map((p) => p.name).sort();
  if (!names.includes("test_prompt_with_arguments")) fail(`prompts/list lacks test_prompt_with_arguments: ${names}`);
  const got = await client.getPrompt({ name: "test_prompt_with_arguments", arguments: { arg1: "alpha", arg2: "beta" } });
  expectEqual("prompts/get test_prompt_with_arguments", got.messages.map((m) => [m.role, m.content.type, m.content.text]), [
    ["user", "text", "Prompt with arguments: arg1='alpha', arg2='beta'"],
  ]);
  return names;
}

async function completion(client) {
  const prompt = await client.complete({
    ref: { type: "ref/prompt", name: "test_prompt_with_arguments" },
    argument: { name: "arg1", value: "par" },
  });
  expectEqual("completion/complete (prompt arg1 'par')", [...prompt.completion.values].sort(), ["paris", "park", "party"]);
  const template = await client.complete({
    ref: { type: "ref/resource", uri: "test://template/{id}/data" },
    argument: { name: "id", value: "4" },
  });
  expectEqual("completion/complete (template id '4')", template.completion.values, ["42"]);
  return prompt.completion.values.length + template.completion.values.length;
}

// Gated by CHECK_CALL_NOTIFICATIONS=1: log messages and progress during a tool call.
async function callNotifications(client) {
  const logs = [];
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => logs.push(n.params));
  await client.setLoggingLevel("debug");
  const logged = await client.callTool({ name: "test_tool_with_logging", arguments: {} });
  if (logged.isError) fail(`test_tool_with_logging failed: ${JSON.stringify(logged.content)}`);
  if (logs.length === 0) fail("no notifications/message during test_tool_with_logging");
  for (const l of logs) if (typeof l.level !== "string" || l.data === undefined) fail(`malformed log message ${JSON.stringify(l)}`);

  const progress = [];
  const done = await client.callTool({ name: "test_tool_with_progress", arguments: {} }, undefined, {
    onprogress: (p) => progress.push(p),
  });
  if (done.isError) fail(`test_tool_with_progress failed: ${JSON.stringify(done.content)}`);
  if (progress.length === 0) fail("no notifications/progress during test_tool_with_progress");
  for (let i = 1; i < progress.length; i++) {
    if (!(progress[i].progress > progress[i - 1].progress)) fail(`progress does not increase: ${JSON.stringify(progress)}`);
  }
  return { log_messages: logs.length, progress: progress.map((p) => p.progress) };
}

try {
  const transport = new StreamableHTTPClientTransport(url, {
    requestInit: { headers: { Authorization: `Bearer ${args.token ?? fail("give --token")}` } },
  });
  const client = new Client({ name: "ts-sdk-conformance-smoke", version: "1.0.0" });
  await client.connect(transport);
  const caps = client.getServerCapabilities() ?? {};
  for (const cap of ["resources", "prompts", "completions"]) if (!caps[cap]) fail(`server does not declare ${cap}: ${JSON.stringify(caps)}`);
  const out = {
    client: "ts-sdk",
    resources: await resources(client),
    prompts: await prompts(client),
    completions: await completion(client),
    call_notifications: checkNotifications ? await callNotifications(client) : "not checked (CHECK_CALL_NOTIFICATIONS unset)",
  };
  console.log(JSON.stringify(out));
  await client.close();
} catch (e) {
  fail(e?.stack ?? String(e));
}
