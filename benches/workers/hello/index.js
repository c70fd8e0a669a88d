// The ceiling of the benchmark harness: answers a JSON-RPC-shaped body with no work.
export default {
  async fetch(request) {
    if (request.method === "POST") await request.arrayBuffer();
    return new Response('{"jsonrpc":"2.0","id":1,"result":{}}', {
      headers: { "content-type": "application/json" },
    });
  },
};
