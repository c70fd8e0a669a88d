"""Cold start of each benchmark Worker in workerd, measured by workerd itself (issue 19).

For every target, path and copy: a byte-unique copy of the Worker's bundle (a comment in
every JS module, a custom section in every wasm module, so V8 can share no compiled code
between copies), a fresh `workerd serve` process with only that Worker, perfetto tracing
on, then one cold request followed by WARM warm ones on that path, each on a new
connection. From workerd's own trace:

* startup      the `Server::makeWorker()` span (compiling and evaluating the script:
               what Cloudflare can overlap with the TLS handshake);
* first        the first request's latency, measured by this client from sending the
               request on an already open connection to the last byte of the response
               (awaited I/O included: the cost the user feels on a new isolate). workerd
               has no span for it: `WorkerEntrypoint::request() run` ends at the
               handler's first await, and `Connection:request()` also spans the client's
               own pace on the connection;
* warm         the median of the same latency over the warm requests;
* first - warm the first request's premium; total = startup + first.

Medians over the copies are printed per target and path and written to OUT/cold.json.

    python3 cold.py --workerd BIN --zone URL --out DIR [--copies 7] [--warm 20] \\
        --target rust=worker/build/index.js --target ts=target/bench/ts-bundle/index.js \\
        --var KEYCARD_ISSUER=... [--var ...]
"""
import argparse
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from perfetto import slices  # noqa: E402

INITIALIZE = json.dumps({
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {},
               "clientInfo": {"name": "cold-start", "version": "0"}},
}).encode()
# path -> (needs a token, expected status)
PATHS = {"no token": (False, 401), "token": (True, 200)}


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def leb128(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def unique_copy(src_entry: str, dst: str, nonce: str) -> list:
    """Copies the bundle directory of `src_entry` to `dst`, making every module's bytes
    unique; returns the module list (entry first) as (name, kind)."""
    src = os.path.dirname(os.path.abspath(src_entry))
    entry = os.path.basename(src_entry)
    shutil.copytree(src, dst)
    modules = []
    for root, _, files in os.walk(dst):
        for f in sorted(files):
            path = os.path.join(root, f)
            name = os.path.relpath(path, dst)
            if f.endswith(".js") or f.endswith(".mjs"):
                with open(path, "a") as fh:
                    fh.write(f"\n// cold-start copy {nonce}\n")
                modules.append((name, "esModule"))
            elif f.endswith(".wasm"):
                label = b"cold-start-nonce"
                payload = leb128(len(label)) + label + nonce.encode()
                with open(path, "ab") as fh:
                    fh.write(b"\x00" + leb128(len(payload)) + payload)
                modules.append((name, "wasm"))
    modules.sort(key=lambda m: m[0] != entry)
    return modules


def capnp(modules, port: int, bindings: dict) -> str:
    mods = ", ".join(f'(name = "{n}", {kind} = embed "{n}")' for n, kind in modules)
    binds = ", ".join(f'(name = "{k}", text = {json.dumps(v)})' for k, v in bindings.items())
    return f"""using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = .w),
    (name = "internet", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [ (name = "http", address = "127.0.0.1:{port}", http = (), service = "main") ],
);
const w :Workerd.Worker = (
  modules = [ {mods} ],
  compatibilityDate = "2025-04-01",
  compatibilityFlags = ["nodejs_compat"],
  bindings = [ {binds} ],
  globalOutbound = "internet",
);
"""


def wait_port(port: int, proc, secs: float = 60) -> None:
    deadline = time.time() + secs
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"workerd exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"workerd did not listen on {port}")


def post(port: int, token, expect: int) -> float:
    """One POST /mcp on a fresh connection; returns the latency in ms, measured from
    sending the request (the connection is already open) to the end of the response."""
    headers = {"content-type": "application/json", "accept": "application/json, text/event-stream",
               "mcp-protocol-version": "2025-06-18"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.connect()
    t0 = time.perf_counter()
    conn.request("POST", "/mcp", INITIALIZE, headers)
    response = conn.getresponse()
    response.read()
    elapsed = (time.perf_counter() - t0) * 1000
    conn.close()
    if response.status != expect:
        raise RuntimeError(f"port {port}: expected {expect}, got {response.status}")
    return elapsed


def mint(zone: str, origin: str) -> str:
    body = json.dumps({"sub": "alice", "client_id": "mcp-client-a", "scope": "mcp:tools",
                       "audience": [origin], "lifetime_secs": 3600}).encode()
    req = urllib.request.Request(f"{zone}/dev/token", body, {"content-type": "application/json"})
    return json.load(urllib.request.urlopen(req))["access_token"]


def startup_of(trace: str) -> list:
    """The durations of the trace's startup spans (one per Worker)."""
    try:
        with open(trace, "rb") as f:
            spans = slices(f.read())
    except (OSError, IndexError, ValueError):  # not written yet, or cut mid-packet
        return []
    return [dur for n, _, dur in spans if n == "Server::makeWorker()"]


def one_run(a, name: str, entry: str, path: str, copy: int) -> dict:
    needs_token, expect = PATHS[path]
    nonce = secrets.token_hex(8)
    d = os.path.join(a.out, "copies", f"{name}-{path.replace(' ', '-')}-{copy}")
    shutil.rmtree(d, ignore_errors=True)
    modules = unique_copy(entry, os.path.join(d, "bundle"), nonce)
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    with open(os.path.join(d, "bundle", "config.capnp"), "w") as f:
        f.write(capnp(modules, port, dict(v.split("=", 1) for v in a.var)))
    token = mint(a.zone, origin) if needs_token else None
    trace = os.path.join(d, "trace.pb")
    with open(os.path.join(d, "workerd.log"), "w") as log:
        proc = subprocess.Popen([a.workerd, "serve", "config.capnp", f"--perfetto-trace={trace}=workerd"],
                                cwd=os.path.join(d, "bundle"), stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_port(port, proc)
        latencies = [post(port, token, expect) for _ in range(1 + a.warm)]
        # workerd writes the trace as it goes, not at exit: wait for every span.
        deadline = time.time() + 30
        while True:
            startup = startup_of(trace)
            if len(startup) == 1 or time.time() > deadline:
                break
            time.sleep(0.2)
    finally:
        proc.kill()
        proc.wait()
    if len(startup) != 1:
        raise RuntimeError(f"{d}: trace has {len(startup)} makeWorker spans")
    return {"startup": startup[0] / 1e6, "first": latencies[0],
            "warm": statistics.median(latencies[1:])}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workerd", required=True)
    ap.add_argument("--zone", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--copies", type=int, default=7)
    ap.add_argument("--warm", type=int, default=20)
    ap.add_argument("--target", action="append", required=True, help="name=entry.js")
    ap.add_argument("--var", action="append", default=[], help="binding NAME=value")
    a = ap.parse_args()
    a.workerd, a.out = os.path.abspath(a.workerd), os.path.abspath(a.out)
    targets = [t.split("=", 1) for t in a.target]
    results = {}
    # Interleave targets and paths within each copy round, so machine drift cancels.
    for copy in range(a.copies):
        for path in PATHS:
            for name, entry in targets:
                r = one_run(a, name, entry, path, copy)
                results.setdefault(name, {}).setdefault(path, []).append(r)
    summary = {}
    print(f"\ncold start (workerd perfetto spans, medians of {a.copies} fresh isolates, "
          f"byte-unique copies; warm = median of {a.warm} requests)")
    print(f"{'worker':8} {'path':9} {'startup':>9} {'first':>8} {'warm':>7} {'first-warm':>11} {'total':>8}")
    for name, _ in targets:
        for path in PATHS:
            runs = results[name][path]
            med = {k: statistics.median(r[k] for r in runs) for k in ("startup", "first", "warm")}
            med["premium"] = statistics.median(r["first"] - r["warm"] for r in runs)
            med["total"] = statistics.median(r["startup"] + r["first"] for r in runs)
            summary.setdefault(name, {})[path] = {"median_ms": med, "runs": runs}
            print(f"{name:8} {path:9} {med['startup']:8.1f}  {med['first']:7.2f}  {med['warm']:6.2f}  "
                  f"{med['premium']:10.2f}  {med['total']:7.1f}")
    with open(os.path.join(a.out, "cold.json"), "w") as f:
        json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main()
