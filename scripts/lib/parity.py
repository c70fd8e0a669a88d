"""Compares two `emulator replay --per-request-out` files request by request.

Parity means: for every request id, the same HTTP status, the same outcome class and the
same identity (subject, client, and which zone issued it). Issuer URLs differ between
hosts only by port, so each file's issuers are mapped to roles in order of first use.
    python3 parity.py A.jsonl B.jsonl
"""

import json
import sys


def load(path):
    with open(path) as f:
        raw = sorted((json.loads(line) for line in f if line.strip()), key=lambda r: r["id"])
    rows, roles = {}, {}
    for r in raw:  # roles in request-id order, which both hosts share
        who = r.get("identity")
        if who:
            role = roles.setdefault(who["issuer"], f"zone{len(roles)}")
            who = (role, who.get("sub"), who.get("client_id"))
        rows[r["id"]] = (r["status"], r["outcome"], who)
    return rows


a, b = load(sys.argv[1]), load(sys.argv[2])
if a.keys() != b.keys():
    sys.exit(f"parity: request ids differ ({len(a)} vs {len(b)} requests)")
diffs = [(i, a[i], b[i]) for i in sorted(a) if a[i] != b[i]]
for i, x, y in diffs[:20]:
    print(f"  request {i}: {sys.argv[1]}={x} {sys.argv[2]}={y}", file=sys.stderr)
if diffs:
    sys.exit(f"parity: {len(diffs)} of {len(a)} requests differ")
print(f"parity: {len(a)} requests, identical status, outcome and identity on both hosts")
