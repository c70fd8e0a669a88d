"""A/B of Worker builds on one request mix, each build in its own workerd with no
Miniflare in front: CPU per request of the Worker alone.

`benches/run` serves every Worker through Miniflare, whose entry Worker roughly doubles
the CPU of a cheap request (the metadata `GET` and the 401 cost about 0.07 ms here and
0.21 ms there), so small differences between builds drown in it and in the run-to-run
spread. This runs each build as `cold.py` does (`workerd serve`, a unique copy of its
bundle), warms it up, then alternates `wrk -t1 -c10` runs between the builds, rotating
their order every round, and prints each build's median and lowest CPU per request
(workerd's process CPU divided by requests, as `harness.py` counts it).

    python3 benches/ab.py --mix 4 --rounds 8 \\
        --target before=/tmp/before/index.js --target after=worker/build/index.js \\
        --target floor=benches/workers/floor/build/index.js

`--processes 2` runs each build in two processes and pools their rounds (each process's
median is shown too): processes of one build differ by up to about 0.01 ms, which is the
size of the differences measured here. Mixes 1 and 2 need `--zone` (a running
`mock-keycard serve`, as `benches/run` starts it; a token is minted for each target's
origin); mix 3 is not supported (its users are per-request). Standard library only.
"""

import argparse
import itertools
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "cold-start"))
import cold  # noqa: E402
import harness  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mix", required=True, choices=[m[0] for m in harness.MIXES if m[5] != "each"])
    ap.add_argument("--target", action="append", required=True, help="name=path/to/bundle/index.js")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--secs", type=int, default=3)
    ap.add_argument("--zone", default="http://127.0.0.1:9", help="mock zone URL (mixes with a token)")
    ap.add_argument("--workerd", default=os.path.join(HERE, "workers/node_modules/workerd/bin/workerd"))
    ap.add_argument("--json", help="also write the per-round figures and medians here")
    ap.add_argument("--processes", type=int, default=1,
                    help="workerd processes per build (their rounds pooled; each one's median shown)")
    a = ap.parse_args()
    _, title, method, path, body, mode, expect, _names = [m for m in harness.MIXES if m[0] == a.mix][0]
    bindings = {"KEYCARD_ISSUER": a.zone, "KEYCARD_RESOURCE_URL": a.zone + "/upstream/github",
                "KEYCARD_CLIENT_ID": "mcp-worker", "KEYCARD_CLIENT_SECRET": "mcp-worker-secret"}
    procs, dirs, targets, build_of = [], [], [], {}
    try:
        specs = [spec.split("=", 1) for spec in a.target]
        for copy, (build, entry) in itertools.product(range(a.processes), specs):
            name = build if a.processes == 1 else f"{build}#{copy + 1}"
            d = tempfile.mkdtemp(prefix="ab-")
            dirs.append(d)
            modules = cold.unique_copy(entry, os.path.join(d, "bundle"), secrets.token_hex(8))
            port = cold.free_port()
            with open(os.path.join(d, "bundle", "config.capnp"), "w") as f:
                f.write(cold.capnp(modules, port, bindings))
            with open(os.path.join(d, "workerd.log"), "w") as log:
                proc = subprocess.Popen([a.workerd, "serve", "config.capnp"], cwd=os.path.join(d, "bundle"),
                                        stdout=log, stderr=subprocess.STDOUT)
            procs.append(proc)
            cold.wait_port(port, proc)
            url = f"http://127.0.0.1:{port}"
            token = {"one": lambda: cold.mint(a.zone, url), "bad": lambda: "bad.token.value",
                     "none": lambda: None}[mode]()
            headers = dict(harness.HEADERS)
            if token:
                headers["authorization"] = f"Bearer {token}"
            script = os.path.join(d, "mix.lua")
            with open(script, "w") as f:
                f.write(f'wrk.method = "{method}"\n')
                if body:
                    f.write(f"wrk.body = {harness.lua_string(body)}\n")
                for k, v in headers.items():
                    f.write(f'wrk.headers["{k}"] = {harness.lua_string(v)}\n')
            # The right answer first, then a warm-up (V8 tiers the hot wasm up).
            harness.check_once(url + path, method, body, token, expect)
            subprocess.run(["wrk", "-t1", "-c10", "-d2s", "-s", script, url + path], capture_output=True, check=True)
            targets.append((name, url, proc.pid, script, token))
            build_of[name] = build
        cpu = {name: [] for name, *_ in targets}
        for rnd in range(a.rounds):
            k = rnd % len(targets)
            for name, url, pid, script, _token in targets[k:] + targets[:k]:
                c0 = harness.cpu_seconds(pid)
                out = subprocess.run(["wrk", "-t1", "-c10", f"-d{a.secs}s", "-s", script, url + path],
                                     capture_output=True, text=True, check=True).stdout
                c1 = harness.cpu_seconds(pid)
                r = harness.parse_wrk(out)
                cpu[name].append((c1 - c0) * 1000 / max(1, r["requests"]))
                print(f"round {rnd + 1} {name:12s} {r['rps']:8.0f} req/s  cpu {cpu[name][-1]:.4f} ms/req",
                      file=sys.stderr, flush=True)
        for name, url, _pid, _script, token in targets:
            harness.check_once(url + path, method, body, token, expect)
        print(f"mix {a.mix} {title}: {a.rounds} rounds x {a.secs} s, workerd without Miniflare"
              + (f", {a.processes} processes per build (pooled)" if a.processes > 1 else ""))
        # Each build's rounds, over its processes.
        pooled = {}
        for name, values in cpu.items():
            pooled.setdefault(build_of[name], []).extend(values)
        medians = {build: statistics.median(values) for build, values in pooled.items()}
        for build, values in pooled.items():
            line = f"  {build:12s} cpu ms/req median {medians[build]:.4f}  lowest {min(values):.4f}"
            # A build named `floor` (the empty Rust Worker) or `ts` is the yardstick of
            # the others: distance to the floor, ratio of TS's CPU to this one's.
            if "floor" in medians and build != "floor":
                line += f"  {build} - floor {medians[build] - medians['floor']:+.4f}"
            if "ts" in medians and build not in ("ts", "floor"):
                line += f"  ts/{build} {medians['ts'] / medians[build]:.2f}x"
            if a.processes > 1:
                per = [statistics.median(v) for n, v in cpu.items() if build_of[n] == build]
                line += "  (per process " + " / ".join(f"{m:.4f}" for m in per) + ")"
            print(line)
        if a.json:
            with open(a.json, "w") as f:
                json.dump({"mix": a.mix, "title": title, "rounds": a.rounds, "secs": a.secs,
                           "processes": a.processes, "cpu_ms_per_req": cpu, "median": medians}, f, indent=1)
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
