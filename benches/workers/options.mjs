// The Miniflare options every benchmark Worker runs with (serve.mjs, ../profile/profile.mjs):
// modules, the wasm rule for the Rust Worker, one compatibility date, `VAR=value` bindings.
import path from "node:path";

export function workerOptions(port, scriptPath, vars) {
  const bindings = Object.fromEntries(vars.map((v) => [v.slice(0, v.indexOf("=")), v.slice(v.indexOf("=") + 1)]));
  return {
    host: "127.0.0.1",
    port: Number(port),
    modules: true,
    scriptPath: path.resolve(scriptPath),
    modulesRoot: path.dirname(path.resolve(scriptPath)),
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
    compatibilityDate: "2025-04-01",
    compatibilityFlags: ["nodejs_compat"],
    bindings,
  };
}
