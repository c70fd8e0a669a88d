// TypeScript baseline Worker for the side-by-side benchmark.
//
// It behaves like the @keycardai/cloudflare guide's example (that package is not on the
// registry this project can reach, so this is the equivalent a TypeScript user writes):
// protected-resource metadata, a 401 challenge, JWT verification with jose against the
// zone's JWKS, an isolate-level token cache keyed like the package's
// (`${sub}::${resource}`), RFC 8693 exchange with fetch (client_secret_basic), and the MCP
// SDK's McpServer over WebStandardStreamableHTTPServerTransport, stateless, JSON responses.
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from "jose";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";

interface Env {
  KEYCARD_ISSUER: string;
  KEYCARD_RESOURCE_URL: string;
  KEYCARD_CLIENT_ID?: string;
  KEYCARD_CLIENT_SECRET?: string;
}

const REQUIRED_SCOPES = ["mcp:tools"];

// Module-level state, as in the guide: one per isolate.
let jwks: ReturnType<typeof createRemoteJWKSet> | undefined;
let tokenEndpoint: string | undefined;
const tokenCache = new Map<string, { token: string; expiresAt: number }>();
const MAX_ENTRIES = 10_000;

async function discover(env: Env): Promise<void> {
  if (jwks && tokenEndpoint) return;
  const res = await fetch(`${env.KEYCARD_ISSUER}/.well-known/oauth-authorization-server`);
  const meta = (await res.json()) as { jwks_uri: string; token_endpoint: string };
  jwks = createRemoteJWKSet(new URL(meta.jwks_uri), { cacheMaxAge: 300_000 });
  tokenEndpoint = meta.token_endpoint;
}

// Like @keycardai/oauth (measured against the real package on 2026-12-01): a bearer that is
// not a JWS compact serialization with a JSON header is refused synchronously, before any
// async verification, with an empty body — not through jose's async path and its
// stack-capturing errors.
const JWS_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
function malformed(token: string): boolean {
  if (!JWS_SHAPE.test(token)) return true;
  const head = token.slice(0, token.indexOf("."));
  let decoded: string;
  try {
    decoded = atob(head.replace(/-/g, "+").replace(/_/g, "/"));
  } catch {
    return true;
  }
  if (decoded.charCodeAt(0) !== 123 /* "{" */) return true;
  try {
    return typeof JSON.parse(decoded).alg !== "string";
  } catch {
    return true;
  }
}

function challenge(origin: string, status: number, error?: string, emptyBody = false): Response {
  const params = [
    error ? `error="${error}"` : undefined,
    `resource_metadata="${origin}/.well-known/oauth-protected-resource"`,
    `scope="${REQUIRED_SCOPES.join(" ")}"`,
  ].filter(Boolean);
  return new Response(emptyBody ? null : JSON.stringify({ error: error ?? "unauthorized" }), {
    status,
    headers: { "www-authenticate": `Bearer ${params.join(", ")}`, "content-type": "application/json" },
  });
}

async function upstreamToken(env: Env, subject: string, bearer: string): Promise<string> {
  const key = `${subject}::${env.KEYCARD_RESOURCE_URL}`;
  const hit = tokenCache.get(key);
  if (hit && hit.expiresAt > Date.now()) return hit.token;
  const body = new URLSearchParams({
    grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
    subject_token: bearer,
    subject_token_type: "urn:ietf:params:oauth:token-type:access_token",
    resource: env.KEYCARD_RESOURCE_URL,
  });
  const basic = btoa(`${encodeURIComponent(env.KEYCARD_CLIENT_ID ?? "")}:${encodeURIComponent(env.KEYCARD_CLIENT_SECRET ?? "")}`);
  const res = await fetch(tokenEndpoint!, {
    method: "POST",
    headers: { authorization: `Basic ${basic}`, "content-type": "application/x-www-form-urlencoded" },
    body,
  });
  const json = (await res.json()) as { access_token?: string; expires_in?: number; error?: string };
  if (!res.ok || !json.access_token) throw new Error(`token exchange failed: ${json.error ?? res.status}`);
  if (tokenCache.size >= MAX_ENTRIES) {
    // The package drops the oldest quarter when full.
    const drop = Math.floor(MAX_ENTRIES / 4);
    for (const k of tokenCache.keys()) {
      tokenCache.delete(k);
      if (tokenCache.size <= MAX_ENTRIES - drop) break;
    }
  }
  tokenCache.set(key, { token: json.access_token, expiresAt: Date.now() + ((json.expires_in ?? 300) - 30) * 1000 });
  return json.access_token;
}

function buildServer(env: Env, auth: JWTPayload, bearer: string): McpServer {
  const server = new McpServer({ name: "keycard-ts-baseline", version: "1.0.0" });
  server.registerTool("whoami", { description: "Who the verified token says you are." }, async () => {
    const who = { subject: auth.sub ?? null, issuer: auth.iss, client_id: auth.client_id, scopes: String(auth.scope ?? "").split(" "), expires_at: auth.exp };
    return { content: [{ type: "text", text: JSON.stringify(who) }], structuredContent: who };
  });
  server.registerTool("github_user", { description: "Your upstream profile, via delegated access." }, async () => {
    try {
      const token = await upstreamToken(env, auth.sub!, bearer);
      const res = await fetch(`${env.KEYCARD_RESOURCE_URL}/user`, {
        headers: { authorization: `Bearer ${token}`, accept: "application/json", "user-agent": "keycard-ts-baseline" },
      });
      const profile = (await res.json()) as Record<string, unknown>;
      if (!res.ok) return { isError: true, content: [{ type: "text", text: `upstream answered ${res.status}` }] };
      return { content: [{ type: "text", text: JSON.stringify(profile) }], structuredContent: profile };
    } catch (e) {
      return { isError: true, content: [{ type: "text", text: String(e) }] };
    }
  });
  return server;
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    const origin = url.origin;
    if (url.pathname === "/.well-known/oauth-protected-resource") {
      return Response.json({
        resource: origin,
        authorization_servers: [env.KEYCARD_ISSUER],
        scopes_supported: REQUIRED_SCOPES,
        bearer_methods_supported: ["header"],
        resource_name: "TS baseline",
      });
    }
    if (url.pathname !== "/mcp") return new Response("not found", { status: 404 });

    const header = request.headers.get("authorization") ?? "";
    if (!header.toLowerCase().startsWith("bearer ")) return challenge(origin, 401);
    const bearer = header.slice(7).trim();
    if (malformed(bearer)) return challenge(origin, 401, "invalid_token", true);
    await discover(env);
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(bearer, jwks!, { issuer: env.KEYCARD_ISSUER, algorithms: ["RS256"] }));
    } catch {
      return challenge(origin, 401, "invalid_token");
    }
    const aud = payload.aud;
    if (typeof aud === "string" && new URL(aud).origin !== origin) return challenge(origin, 401, "invalid_token");
    const scopes = String(payload.scope ?? "").split(" ");
    if (!REQUIRED_SCOPES.every((s) => scopes.includes(s))) return challenge(origin, 403, "insufficient_scope");

    const server = buildServer(env, payload, bearer);
    const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    await server.connect(transport);
    return transport.handleRequest(request);
  },
};
