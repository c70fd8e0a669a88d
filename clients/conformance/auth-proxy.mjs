// A loopback reverse proxy that adds `Authorization: Bearer <token>` to every request,
// as a signed-in MCP client would. The conformance suite has no notion of OAuth, and our
// server refuses anonymous calls: this lets its scenarios reach the MCP layer without
// weakening the server.   node auth-proxy.mjs <listen-port> <target-origin> <token>
import http from "node:http";

const [port, target, token] = process.argv.slice(2);
const upstream = new URL(target);

http
  .createServer((req, res) => {
    const headers = { ...req.headers, authorization: `Bearer ${token}`, host: upstream.host };
    // An Origin naming this proxy is the server's own origin seen through the proxy:
    // translate it. Any other Origin is passed through untouched (the dns-rebinding
    // scenario sends hostile ones on purpose).
    if (headers.origin === `http://127.0.0.1:${port}` || headers.origin === `http://localhost:${port}`) {
      headers.origin = upstream.origin;
    }
    const out = http.request(
      { hostname: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    out.on("error", (e) => {
      res.writeHead(502, { "content-type": "text/plain" });
      res.end(`proxy error: ${e.message}`);
    });
    req.pipe(out);
  })
  .listen(Number(port), "127.0.0.1", () => console.log(`auth proxy on 127.0.0.1:${port} -> ${target}`));
