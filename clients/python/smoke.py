"""The official Python MCP client (PyPI `mcp`) against our server.

    python smoke.py --url http://127.0.0.1:8787/mcp --token <bearer> [--expect-sub alice]

Runs twice: mode "legacy" (initialize handshake, 2025-era) and mode "auto" (probes
`server/discover` with 2026-07-28). Each run lists the tools and calls whoami and
github_user; any failure exits non-zero.
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


async def run(url: str, token: str, mode: str, expect_sub: str | None) -> dict:
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
    async with Client(streamable_http_client(url, http_client=http), mode=mode) as client:
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
        return {"mode": mode, "tools": names, "whoami": sub, "github_user": structured(gh).get("login")}


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--url", default="http://127.0.0.1:8787/mcp")
    p.add_argument("--token", required=True)
    p.add_argument("--expect-sub")
    p.add_argument("--modes", default="legacy,auto")
    a = p.parse_args()
    for mode in a.modes.split(","):
        try:
            out = await run(a.url, a.token, mode, a.expect_sub)
        except SystemExit:
            raise
        except BaseException as e:  # noqa: BLE001 - report any client failure as a test failure
            fail(f"[{mode}] {type(e).__name__}: {e}")
        print(json.dumps({"client": "python-sdk", **out}))


if __name__ == "__main__":
    asyncio.run(main())
