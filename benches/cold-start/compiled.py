"""What V8 compiles of a Rust Worker's wasm, during startup and on the first request.

V8 compiles a wasm function (with Liftoff, its baseline compiler) on the function's first
call, on the isolate's thread. That compilation is most of a cold isolate's cost (issue
19): whatever the warm-up runs is compiled during startup, and whatever the first request
reaches that the warm-up did not is compiled on that request. This script makes the volume
visible, so a change to the warm-up, the code or the build can be judged by it.

For every target and path (as in cold.py: `POST /mcp` without a token, and with a valid
token whose first request also fetches the JWKS), the script starts one fresh `workerd
serve` process with V8's `--trace-wasm-compilation-times`, which prints one line per
compiled function: its index, the compiler, the time and the function's body size. Lines
printed before the first request are startup's; the rest are the first request's.
Function names come from the wasm's name section.

    python3 compiled.py --workerd BIN --zone URL --target rust=worker/build/index.js \\
        --var KEYCARD_ISSUER=... [--var ...] [--top 12]

Prints, per target and path: functions, wasm body kilobytes and Liftoff milliseconds for
startup and for the first request; then, for the first path, startup's volume by crate
(keycard-core by module) and its largest functions. The milliseconds are V8's own timing
of each compilation. A cold isolate spends more on it: in `perf` samples of a startup on
2026-12-07, `ExecuteLiftoffCompilation` was 72% of V8's lazy compilation, the rest adding
and publishing the code and the runtime's code events. The kilobytes are exact from run to
run; the milliseconds move with the machine's load (V8 times wall clock).
"""
import argparse
import collections
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cold  # noqa: E402
from perfetto import varint as leb  # noqa: E402  (LEB128, as in protobuf)

# Liftoff: "... using Liftoff, took 52 μs and 16520 bytes; bodysize 77 codesize 552";
# TurboFan: "... using TurboFan, took 1.234 ms and 1 / 2 max/total bytes; bodysize 77 ...".
LINE = re.compile(r"Compiled function \S+#(\d+) using (\w+), took ([\d.]+) (μs|us|ms) and [^;]*; "
                  r"bodysize (\d+)\b")


def function_names(path: str) -> dict:
    """Function index -> name, from the module's `name` custom section (empty if none)."""
    with open(path, "rb") as f:
        buf = f.read()
    i, names = 8, {}
    while i < len(buf):
        section, i = buf[i], i + 1
        size, i = leb(buf, i)
        end = i + size
        if section == 0:
            n, j = leb(buf, i)
            if buf[j:j + n] == b"name":
                j += n
                while j < end:
                    sub, j = buf[j], j + 1
                    sub_size, j = leb(buf, j)
                    if sub == 1:  # function names
                        count, k = leb(buf, j)
                        for _ in range(count):
                            index, k = leb(buf, k)
                            n, k = leb(buf, k)
                            names[index] = buf[k:k + n].decode("utf-8", "replace")
                            k += n
                    j += sub_size
        i = end
    return names


def group(name: str) -> str:
    """A function's crate (keycard-core: its module), for the by-crate table."""
    name = re.sub(r"^(core::ptr::drop_in_place<)?[<&]*(mut )?(dyn )?", "", name)
    m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)(?:::([a-z_][a-z0-9_]*))?", name)
    if not m:
        return name[:24] or "?"
    if m.group(1) == "keycard_core" and m.group(2):
        return f"keycard_core::{m.group(2)}"
    return m.group(1)


def compiled(lines, names) -> list:
    out = []
    for line in lines:
        m = LINE.match(line)
        if m:
            index, tier, took, unit, body = m.groups()
            micros = float(took) * (1000 if unit == "ms" else 1)
            out.append({"name": names.get(int(index), f"#{index}"), "tier": tier,
                        "us": micros, "body": int(body)})
    return out


def summary(fns) -> str:
    """Liftoff's count, KB and ms (what the isolate's thread waits for); a tier-up
    (TurboFan, compiled on a background thread) is only counted after it."""
    base = [f for f in fns if f["tier"] == "Liftoff"]
    kb = sum(f["body"] for f in base) / 1000
    ms = sum(f["us"] for f in base) / 1000
    others = collections.Counter(f["tier"] for f in fns if f["tier"] != "Liftoff")
    extra = "".join(f", +{n} {t}" for t, n in others.items())
    return f"{len(base):5d} fns {kb:7.1f} KB {ms:6.2f} ms{extra}"


def complete_lines(path: str, start: int = 0) -> tuple:
    """The complete lines of the log from byte `start`, and the offset after the last one
    (a line still being written is left for the next read)."""
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read()
    end = data.rfind(b"\n") + 1
    return data[:end].decode("utf-8", "replace").splitlines(), start + end


def one(a, entry: str, path: str, names: dict) -> tuple:
    needs_token, expect = cold.PATHS[path]
    d = tempfile.mkdtemp(prefix="compiled-")
    try:
        modules = cold.unique_copy(entry, os.path.join(d, "bundle"), secrets.token_hex(8))
        port = cold.free_port()
        config = cold.capnp(modules, port, dict(v.split("=", 1) for v in a.var))
        if config.count("  sockets = [") != 1:
            raise SystemExit("compiled.py: cold.capnp() changed shape; cannot add v8Flags")
        config = config.replace("  sockets = [",
                                '  v8Flags = ["--trace-wasm-compilation-times"],\n  sockets = [', 1)
        with open(os.path.join(d, "bundle", "config.capnp"), "w") as f:
            f.write(config)
        token = cold.mint(a.zone, f"http://127.0.0.1:{port}") if needs_token else None
        log_path = os.path.join(d, "workerd.log")
        with open(log_path, "w") as log:
            proc = subprocess.Popen([a.workerd, "serve", "config.capnp"], cwd=os.path.join(d, "bundle"),
                                    stdout=log, stderr=subprocess.STDOUT)
        try:
            cold.wait_port(port, proc)
            time.sleep(0.2)  # startup's lines are written before the socket listens; let them land
            startup_lines, offset = complete_lines(log_path)
            cold.post(port, token, expect)
            time.sleep(0.3)  # the response is sent before the request's last compile lines land
            first_lines, _ = complete_lines(log_path, offset)
        except Exception:
            with open(log_path, errors="replace") as f:
                sys.stderr.write("".join(f.readlines()[-20:]))
            raise
        finally:
            proc.kill()
            proc.wait()
        startup = compiled(startup_lines, names)
        if not startup:
            raise SystemExit(f"{entry}: V8 reported no compiled function at startup "
                             "(is --trace-wasm-compilation-times still a V8 flag?)")
        return startup, compiled(first_lines, names)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workerd", required=True)
    ap.add_argument("--zone", required=True)
    ap.add_argument("--target", action="append", required=True, help="name=entry.js (a wasm Worker)")
    ap.add_argument("--var", action="append", default=[], help="binding NAME=value")
    ap.add_argument("--top", type=int, default=12)
    a = ap.parse_args()
    a.workerd = os.path.abspath(a.workerd)
    print("\nwasm compiled by V8 with Liftoff (a tier-up is counted after), per fresh isolate")
    print(f"{'worker':8} {'path':9} {'startup':>34}   {'first request':>34}")
    detail = {}
    for name, entry in (t.split("=", 1) for t in a.target):
        wasm = [os.path.join(r, f) for r, _, fs in os.walk(os.path.dirname(os.path.abspath(entry)))
                for f in fs if f.endswith(".wasm")]
        if not wasm:
            raise SystemExit(f"{name}: no .wasm beside {entry}")
        names = function_names(wasm[0])
        if not names:
            print(f"{name}: {wasm[0]} has no name section; functions show as #index", file=sys.stderr)
        for path in cold.PATHS:
            startup, first = one(a, entry, path, names)
            print(f"{name:8} {path:9} {summary(startup)}   {summary(first)}")
            detail.setdefault(name, [f for f in startup if f["tier"] == "Liftoff"])
    for name, startup in detail.items():
        by = collections.Counter()
        for f in startup:
            by[group(f["name"])] += f["body"]
        total = sum(by.values()) or 1
        print(f"\n{name}: startup's compiled wasm by crate (KB, share)")
        for crate, body in by.most_common(a.top):
            print(f"  {body / 1000:7.1f} {100 * body / total:5.1f}%  {crate}")
        print(f"{name}: startup's largest functions (KB, Liftoff ms)")
        for f in sorted(startup, key=lambda f: -f["body"])[:a.top]:
            print(f"  {f['body'] / 1000:7.1f} {f['us'] / 1000:6.2f}  {f['name'][:110]}")


if __name__ == "__main__":
    main()
