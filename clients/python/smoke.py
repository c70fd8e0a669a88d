"""The official Python MCP client (PyPI `mcp`) against our server.

    python smoke.py --url http://127.0.0.1:8787/mcp --token <bearer> [--expect-sub alice]

Runs twice: mode "legacy" (initialize handshake, 2025-era) and mode "auto" (probes
`server/discover` with 2026-07-28). Each run lists the tools and calls whoami and
github_user; with `--progress-tool NAME` it also calls that tool with a progress token
(and, for 2026-07-28, log level `info`) and requires at least 3 increasing progress
notifications and 3 log messages to arrive before the result. Any failure exits non-zero.
"""

import argparse
import asyncio
import json
import sys

from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


def is_error(result) -> bool:
    # mcp 2.x models are snake_case; 1.x used the wire names.
    return bool(getattr(result, "is_error", getattr(result, "isError", False)))


def structured(result) -> dict:
    return getattr(result, "structured_content", getattr(result, "structuredContent", None)) or {}


def fail(msg: str) -> None:
    print(f"FAIL (python client): {msg}", file=sys.stderr)
    sys.exit(1)


async def run(url: str, token: str, mode: str, expect_sub: str | None, progress_tool: str | None) -> dict:
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
    logs: list = []

    async def on_log(params) -> None:
        logs.append(params)

    transport = streamable_http_client(url, http_client=http)
    async with Client(transport, mode=mode, logging_callback=on_log, log_level="info") as client:
        tools = await client.list_tools()
        names = sorted(t.name for t in tools.tools)
        for want in ("github_user", "whoami"):
            if want not in names:
                fail(f"[{mode}] tools/list lacks {want}: {names}")
        who = await client.call_tool("whoami", {})
        if is_error(who):
            fail(f"[{mode}] whoami failed: {who.content}")
        sub = structured(who).get("subject")
        if expect_sub is not None and sub != expect_sub:
            fail(f"[{mode}] whoami subject {sub!r} != {expect_sub!r}")
        gh = await client.call_tool("github_user", {})
        if is_error(gh):
            fail(f"[{mode}] github_user failed: {gh.content}")
        seen = (structured(gh).get("keycard") or {}).get("sub")
        if expect_sub is not None and seen is not None and seen != expect_sub:
            fail(f"[{mode}] github_user acted for {seen!r}, not {expect_sub!r}")
        out = {"mode": mode, "tools": names, "whoami": sub, "github_user": structured(gh).get("login")}
        if progress_tool is not None:
            out["notifications"] = await notifications(client, mode, progress_tool, logs)
        return out


async def notifications(client, mode: str, tool: str, logs: list) -> dict:
    """Calls `tool` with a progress token: its progress and log messages must arrive during the call."""
    progress: list = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    logs.clear()
    result = await client.call_tool(tool, {}, progress_callback=on_progress)
    # Counted when the call returns: the notifications came on the call's own SSE answer.
    got_progress, got_logs = list(progress), len(logs)
    if is_error(result):
        fail(f"[{mode}] {tool} failed: {result.content}")
    if len(got_progress) < 3 or got_progress != sorted(set(got_progress)):
        fail(f"[{mode}] {tool}: expected >= 3 increasing progress notifications, got {got_progress}")
    if got_logs < 3:
        fail(f"[{mode}] {tool}: expected >= 3 log messages during the call, got {got_logs}")
    return {"progress": got_progress, "logs": got_logs}


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--url", default="http://127.0.0.1:8787/mcp")
    p.add_argument("--token", required=True)
    p.add_argument("--expect-sub")
    p.add_argument("--modes", default="legacy,auto")
    p.add_argument("--progress-tool", help="a tool that logs and reports progress (>= 3 each)")
    a = p.parse_args()
    for mode in a.modes.split(","):
        try:
            out = await run(a.url, a.token, mode, a.expect_sub, a.progress_tool)
        except SystemExit:
            raise
        except BaseException as e:  # noqa: BLE001 - report any client failure as a test failure
            fail(f"[{mode}] {type(e).__name__}: {e}")
        print(json.dumps({"client": "python-sdk", **out}))


if __name__ == "__main__":
    asyncio.run(main())
