"""Drives the request mixes with wrk against each Worker, alternating targets per round.

Called by benches/run (which starts the zone and the Workers); prints the results table
and writes results.json. Standard library only.
"""

import argparse
import gzip
import json
import os
import re
import statistics
import subprocess
import sys
import urllib.request

HEADERS = {
    "content-type": "application/json",
    "accept": "application/json, text/event-stream",
    "mcp-protocol-version": "2025-11-25",
}


def call(name: str) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": {}}})


# mix id -> (title, method, path, body, token mode, expected status, targets)
MIXES = [
    ("1", "tools/call whoami", "POST", "/mcp", call("whoami"), "one", 200, ["rust", "ts", "hello"]),
    ("2", "tools/call github_user (warm cache)", "POST", "/mcp", call("github_user"), "one", 200, ["rust", "ts", "hello", "fetch"]),
    ("3", "github_user, new user every request", "POST", "/mcp", call("github_user"), "each", 200, ["rust", "ts", "fetch"]),
    ("4", "401 path (bad token)", "POST", "/mcp", call("whoami"), "bad", 401, ["rust", "ts", "floor"]),
    ("5", "protected-resource metadata", "GET", "/.well-known/oauth-protected-resource", "", "none", 200, ["rust", "ts", "hello", "floor"]),
]

LUA = r"""
local tokens = {}
local first, count, i = 0, 0, 0
wrk.method = "%(method)s"
wrk.body = %(body)s
%(headers)s
function init(args)
  local mode = "%(mode)s"
  if mode == "each" then
    local f = io.open("%(tokens)s", "r")
    local n = 0
    for line in f:lines() do
      n = n + 1
      if n > %(first)d and n <= %(first)d + %(count)d then tokens[#tokens + 1] = line end
    end
    f:close()
  end
end
function request()
  if #tokens > 0 then
    i = i %% #tokens + 1
    wrk.headers["authorization"] = "Bearer " .. tokens[i]
  end
  return wrk.format()
end
"""


def lua_string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def workerd_pid(root_pid: int):
    """The workerd process under a `wrangler dev` process tree."""
    todo, seen = [root_pid], set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() == "workerd":
                    return pid
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return None


def cpu_seconds(pid) -> float:
    if pid is None:
        return float("nan")
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def parse_wrk(out: str) -> dict:
    def dur(s):
        m = re.match(r"([\d.]+)(us|ms|s)", s)
        v, u = float(m.group(1)), m.group(2)
        return v / 1000 if u == "us" else v if u == "ms" else v * 1000

    res = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}
    res["requests"] = int(re.search(r"(\d+) requests in", out).group(1))
    for p in ("50", "99"):
        m = re.search(rf"^\s+{p}%\s+(\S+)", out, re.M)
        res[f"p{p}_ms"] = dur(m.group(1)) if m else float("nan")
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    res["non2xx"] = int(m.group(1)) if m else 0
    return res


def issued_count(zone: str) -> int:
    """Tokens the zone's STS has issued so far (its audit log)."""
    with urllib.request.urlopen(f"{zone}/audit?outcome=issued") as r:
        events = json.load(r)
    events = events.get("events", events) if isinstance(events, dict) else events
    return len(events)


def check_once(url: str, method: str, body: str, token, expect: int) -> None:
    headers = dict(HEADERS)
    if token:
        headers["authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, body.encode() if body else None, headers, method=method)
    try:
        with urllib.request.urlopen(req) as r:
            status, text = r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    if status != expect or '"isError":true' in text:
        sys.exit(f"warm-up check failed for {url}: {status} {text[:300]}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--secs", type=int, default=5)
    ap.add_argument("--conns", type=int, default=10)
    ap.add_argument("--tokens", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--target", action="append", required=True, help="name=url@pid")
    ap.add_argument("--wasm")
    ap.add_argument("--zone", help="the mock zone's URL: mix 3's exchanges are counted in its audit log")
    ap.add_argument("--mixes", help="comma-separated mix ids to run (default: all)")
    ap.add_argument("--results-name", default="results.json")
    a = ap.parse_args()
    mixes = [m for m in MIXES if not a.mixes or m[0] in a.mixes.split(",")]

    targets = {}
    for t in a.target:
        name, rest = t.split("=", 1)
        url, pid = rest.rsplit("@", 1)
        targets[name] = (url, workerd_pid(int(pid)))
    tokens = open(a.tokens).read().split()
    one, users = tokens[0], tokens[1:]
    slots = {}  # (target, round) -> disjoint slice of user tokens for mix 3
    token_targets = {n for m in mixes if m[5] == "each" for n in m[7] if n not in ("hello", "fetch")}
    per = max(1, len(users) // (a.rounds * max(1, len(token_targets))))
    exchange_ratios = {}  # target -> [exchanges per request, per round] for mix 3

    results = {}
    for mix_id, title, method, path, body, mode, expect, names in mixes:
        for name in names:
            if name not in ("hello", "fetch"):
                tok = {"one": one, "bad": "bad.token.value", "each": users[0], "none": None}[mode]
                check_once(targets[name][0] + path, method, body, tok, expect)
        for rnd in range(a.rounds):
            order = names[rnd % len(names):] + names[: rnd % len(names)]
            for name in order:
                url, wpid = targets[name]
                needs_tokens = mode == "each" and name not in ("hello", "fetch")
                first = slots.setdefault((name, rnd), len(slots) * per) if needs_tokens else 0
                headers = dict(HEADERS)
                if mode == "one":
                    headers["authorization"] = f"Bearer {one}"
                elif mode == "bad":
                    headers["authorization"] = "Bearer bad.token.value"
                lua = LUA % {
                    "method": method,
                    "body": lua_string(body) if body else "nil",
                    "headers": "\n".join(f'wrk.headers["{k}"] = {lua_string(v)}' for k, v in headers.items()),
                    "mode": mode,
                    "tokens": a.tokens,
                    "first": first,
                    "count": per,
                }
                script = os.path.join(a.out, f"mix{mix_id}-{name}.lua")
                with open(script, "w") as f:
                    f.write(lua)
                issued0 = issued_count(a.zone) if needs_tokens and a.zone else None
                cpu0 = cpu_seconds(wpid)
                out = subprocess.run(
                    ["wrk", "-t1", f"-c{a.conns}", f"-d{a.secs}s", "--latency", "-s", script, url + path],
                    capture_output=True, text=True, check=True,
                ).stdout
                cpu1 = cpu_seconds(wpid)
                r = parse_wrk(out)
                r["cpu_ms_per_req"] = (cpu1 - cpu0) * 1000 / max(1, r["requests"])
                if issued0 is not None:
                    ratio = (issued_count(a.zone) - issued0) / max(1, r["requests"])
                    r["exchanges_per_req"] = ratio
                    exchange_ratios.setdefault(name, []).append(ratio)
                    print(f"mix {mix_id} round {rnd + 1} {name:6s} {ratio:.3f} exchanges/request "
                          f"({per} users in this slice)", file=sys.stderr)
                if name not in ("hello", "fetch"):
                    # Still answering right after the timed run (status and content).
                    tok = {"one": one, "bad": "bad.token.value", "each": users[first] if users else None,
                           "none": None}[mode]
                    check_once(url + path, method, body, tok, expect)
                results.setdefault(mix_id, {}).setdefault(name, []).append(r)
                print(f"mix {mix_id} round {rnd + 1} {name:6s} {r['rps']:8.1f} req/s  p50 {r['p50_ms']:.2f} ms"
                      f"  p99 {r['p99_ms']:.2f} ms  cpu {r['cpu_ms_per_req']:.3f} ms/req  non2xx {r['non2xx']}",
                      file=sys.stderr)

    short = {n: min(v) for n, v in exchange_ratios.items() if min(v) < 0.99}
    if short:
        sys.exit(f"mix 3 must exchange on every request, but measured {short} exchanges/request: "
                 f"raise USERS (each slice had {per} users)")

    summary = {}
    print()
    print(f"{a.conns} connections")
    print(f"{'mix':<40} {'worker':<6} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'cpu ms/req':>10} {'non-2xx':>8}")
    for mix_id, title, *_rest in mixes:
        row = {}
        for name, runs in results[mix_id].items():
            med = {k: statistics.median(r[k] for r in runs) for k in ("rps", "p50_ms", "p99_ms", "cpu_ms_per_req")}
            med["non2xx"] = sum(r["non2xx"] for r in runs)
            med["rounds"] = [round(r["rps"], 1) for r in runs]
            if all("exchanges_per_req" in r for r in runs):
                med["exchanges_per_req"] = statistics.median(r["exchanges_per_req"] for r in runs)
            row[name] = med
            print(f"{mix_id + ' ' + title:<40} {name:<6} {med['rps']:9.1f} {med['p50_ms']:8.2f} {med['p99_ms']:8.2f}"
                  f" {med['cpu_ms_per_req']:10.3f} {med['non2xx']:8d}")
        if "ts" in row:
            row["rust_over_ts"] = row["rust"]["rps"] / row["ts"]["rps"]
        if "hello" in row:
            row["rust_over_ceiling"] = row["rust"]["rps"] / row["hello"]["rps"]
        if "fetch" in row:
            row["rust_over_fetch_ceiling"] = row["rust"]["rps"] / row["fetch"]["rps"]
        ratios = f"{'':<40} ratios: Rust/TS {row.get('rust_over_ts', float('nan')):.2f}x"
        if "rust_over_ceiling" in row:
            ratios += f"  Rust/ceiling {row['rust_over_ceiling']:.2f}"
        if "rust_over_fetch_ceiling" in row:
            ratios += f"  Rust/(ceiling + 1 fetch) {row['rust_over_fetch_ceiling']:.2f}"
        if "floor" in row:
            row["rust_cpu_over_floor_ms"] = row["rust"]["cpu_ms_per_req"] - row["floor"]["cpu_ms_per_req"]
            ratios += f"  Rust CPU - floor {row['rust_cpu_over_floor_ms']:+.3f} ms/req"
        print(ratios)
        summary[mix_id] = {"title": title, **row}
    if a.wasm:
        raw = os.path.getsize(a.wasm)
        gz = len(gzip.compress(open(a.wasm, "rb").read(), 9))
        summary["wasm"] = {"raw_bytes": raw, "gzip_bytes": gz}
        print(f"\nRust Worker wasm: {raw} bytes raw, {gz} bytes gzip")
    summary["settings"] = {"rounds": a.rounds, "secs": a.secs, "conns": a.conns, "nproc": os.cpu_count()}
    with open(os.path.join(a.out, a.results_name), "w") as f:
        json.dump(summary, f, indent=2)
    print(f"results: {os.path.join(a.out, a.results_name)}")


if __name__ == "__main__":
    main()
