# shellcheck shell=bash
# Helpers for the end-to-end scripts: free ports, background services that are always
# stopped on exit (even on failure), readiness waits, a local `wrangler dev` (workerd)
# of the built Worker with a generated config.

E2E_PIDS=()
E2E_DIR="${E2E_DIR:-$ROOT/target/e2e}"
mkdir -p "$E2E_DIR"

e2e_cleanup() {
  local pid
  for pid in "${E2E_PIDS[@]:-}"; do
    [ -n "$pid" ] || continue
    # Each service runs in its own process group (setsid): stop the whole group.
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  done
  sleep 0.5
  for pid in "${E2E_PIDS[@]:-}"; do
    [ -n "$pid" ] || continue
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
  E2E_PIDS=()
}
trap e2e_cleanup EXIT INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# start NAME LOGFILE CMD...: runs CMD in the background in its own process group.
start() {
  local name="$1" log="$2"
  shift 2
  setsid "$@" >"$log" 2>&1 &
  local pid=$!
  E2E_PIDS+=("$pid")
  LAST_PID=$pid
  echo "started $name (pid $pid, log ${log#"$ROOT"/})"
}

# stop PID: stops one service started with `start`.
stop() {
  kill -TERM -- "-$1" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL -- "-$1" 2>/dev/null || true
}

# wait_http URL [SECONDS] [LOG]: until URL answers any HTTP status.
wait_http() {
  local url="$1" secs="${2:-60}" log="${3:-}"
  for _ in $(seq 1 $((secs * 5))); do
    if curl -s -o /dev/null -m 2 "$url"; then return 0; fi
    sleep 0.2
  done
  echo "timed out waiting for $url" >&2
  [ -z "$log" ] || tail -n 40 "$log" >&2
  return 1
}

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# worker_config FILE PORT: writes a wrangler config for the already-built Worker (no
# build step), with the [vars] given as NAME=VALUE lines on stdin (VALUE @path: the
# file's contents). $WORKER_MAIN picks another built Worker (default: the demo Worker's
# worker/build/index.js); WORKER_SESSIONS=1 adds the MCP_SESSIONS Durable Object binding
# (class McpSession, exported by keycard-worker) and its migration.
worker_config() {
  local file="$1"
  {
    echo "name = \"keycard-mcp-worker-e2e\""
    echo "main = \"${WORKER_MAIN:-$ROOT/worker/build/index.js}\""
    echo "compatibility_date = \"2025-04-01\""
    if [ -n "${WORKER_SESSIONS:-}" ]; then
      printf '%s\n' '[[durable_objects.bindings]]' 'name = "MCP_SESSIONS"' 'class_name = "McpSession"' \
        '[[migrations]]' 'tag = "v1"' 'new_sqlite_classes = ["McpSession"]'
    fi
    echo "[vars]"
    while IFS='=' read -r name value; do
      [ -n "$name" ] || continue
      # VALUE "@file" reads the file (e.g. a PEM); TOML basic strings take JSON escapes.
      printf '%s = %s\n' "$name" "$(python3 -c '
import json, sys
v = sys.argv[1]
print(json.dumps(open(v[1:]).read() if v.startswith("@") else v))' "$value")"
    done
  } >"$file"
}

# start_worker NAME PORT CONFIG: `wrangler dev` (local workerd, loopback only) on PORT.
start_worker() {
  local name="$1" port="$2" config="$3"
  local log="$E2E_DIR/$name.log"
  start "$name" "$log" bash -c "cd '$ROOT/worker' && exec npx --no-install wrangler dev \
    --config '$config' --ip 127.0.0.1 --port '$port' --inspector-port 0 \
    --persist-to '$E2E_DIR/state-$name' --show-interactive-dev-session=false --log-level log"
  WORKER_PID=$LAST_PID
  wait_http "http://127.0.0.1:$port/health" 90 "$log"
  # The warm-up runs at script startup: anything workerd disallows outside a handler
  # (a body read, a timer, random values...) is logged there as an error.
  if grep -q "Disallowed operation" "$log"; then
    fail "$name logged an error at startup: $(grep -m1 -o 'Disallowed operation[^.]*' "$log")"
  fi
}
