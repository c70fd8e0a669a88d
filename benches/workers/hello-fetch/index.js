// The ceiling for mixes that make one upstream call (2 and 3): the hello-world Worker
// plus one loopback `fetch` to the same zone (its static AS metadata document), the
// least any Worker that calls an upstream API per request can cost.
export default {
  async fetch(request, env) {
    if (request.method === "POST") await request.arrayBuffer();
    const upstream = await fetch(env.PROBE_URL, { headers: { accept: "application/json" } });
    await upstream.arrayBuffer();
    return new Response('{"jsonrpc":"2.0","id":1,"result":{}}', {
      headers: { "content-type": "application/json" },
    });
  },
};
