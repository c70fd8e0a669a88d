// Runs one Worker in workerd (Miniflare, like ../workers/serve.mjs) with the V8 inspector
// on, drives it with wrk, and records a CPU profile of the isolate over the wrk run.
//
//   node profile.mjs <port> <inspector-port> <script.js> <wrk.lua> <secs> <out.cpuprofile> [VAR=value ...]
import fs from "node:fs";
import path from "node:path";
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { workerOptions } from "../workers/options.mjs";

const require = createRequire(path.resolve(import.meta.dirname, "../workers/package.json"));
const { Miniflare } = require("miniflare");
const WebSocket = require("ws");

const [port, inspectorPort, scriptPath, lua, secs, out, ...vars] = process.argv.slice(2);
const mf = new Miniflare({ ...workerOptions(port, scriptPath, vars), inspectorPort: Number(inspectorPort) });
const url = await mf.ready;

const wrk = (duration) =>
  new Promise((resolve, reject) => {
    const p = spawn("wrk", ["-t1", "-c10", `-d${duration}s`, "-s", lua, `${url}mcp`], { stdio: ["ignore", "pipe", "inherit"] });
    let text = "";
    p.stdout.on("data", (c) => (text += c));
    p.on("error", reject);
    p.on("close", () => resolve(text));
  });

try {
  await wrk(2); // warm: JIT tiers, keyring, token cache
  const targets = await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json();
  const target = targets.find((t) => t.webSocketDebuggerUrl.endsWith("/core:user:")) ?? targets[0];
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => { ws.on("open", resolve); ws.on("error", reject); });
  let id = 0;
  const pending = new Map();
  ws.on("message", (m) => {
    const msg = JSON.parse(m);
    if (pending.has(msg.id)) { pending.get(msg.id)(msg); pending.delete(msg.id); }
  });
  const send = (method, params = {}) =>
    new Promise((resolve) => { const i = ++id; pending.set(i, resolve); ws.send(JSON.stringify({ id: i, method, params })); });
  await send("Profiler.enable");
  await send("Profiler.setSamplingInterval", { interval: 50 });
  await send("Profiler.start");
  process.stderr.write(await wrk(Number(secs)));
  const { result } = await send("Profiler.stop");
  fs.writeFileSync(out, JSON.stringify(result.profile));
  ws.close();
} finally {
  await mf.dispose();
}
