// Runs one Worker in workerd through Miniflare, the way `wrangler dev` does but without
// its dev-server proxy layers, so the benchmark measures the Worker and workerd rather
// than the dev tooling.   node serve.mjs <port> <script.js> [VAR=value ...]
import { Miniflare } from "miniflare";
import { workerOptions } from "./options.mjs";

const [port, scriptPath, ...vars] = process.argv.slice(2);
const mf = new Miniflare(workerOptions(port, scriptPath, vars));
const url = await mf.ready;
console.log(`ready ${url}`);
const stop = async () => {
  await mf.dispose();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
