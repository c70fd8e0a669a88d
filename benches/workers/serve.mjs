// Runs one Worker in workerd through Miniflare, the way `wrangler dev` does but without
// its dev-server proxy layers, so the benchmark measures the Worker and workerd rather
// than the dev tooling.   node serve.mjs <port> <script.js> [VAR=value ...]
import path from "node:path";
import { Miniflare } from "miniflare";

const [port, scriptPath, ...vars] = process.argv.slice(2);
const bindings = Object.fromEntries(vars.map((v) => [v.slice(0, v.indexOf("=")), v.slice(v.indexOf("=") + 1)]));
const mf = new Miniflare({
  host: "127.0.0.1",
  port: Number(port),
  modules: true,
  scriptPath: path.resolve(scriptPath),
  modulesRoot: path.dirname(path.resolve(scriptPath)),
  modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
  compatibilityDate: "2025-04-01",
  compatibilityFlags: ["nodejs_compat"],
  bindings,
});
const url = await mf.ready;
console.log(`ready ${url}`);
const stop = async () => {
  await mf.dispose();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
