"""The official Python MCP client (PyPI `mcp`) against the conformance fixture server
(clients/conformance/server; under workerd, clients/conformance/worker): resources,
prompts and completion as an application uses them.

    python conformance_smoke.py --url http://127.0.0.1:8787/mcp --token <bearer> [--expect-sub alice]

Runs in modes "legacy" and "auto" (like smoke.py). Each run lists the resources and the
templates, reads a text, a binary and a templated resource, lists and gets a prompt, and
completes a prompt argument and a template variable, asserting the fixtures' real
content. With --expect-sub it also reads the delegated resource upstream://profile and
checks the upstream acted for that user. Any failure exits non-zero.

Notifications during a tool call (log messages and progress; they need the server to
answer the POST with an SSE stream) are checked only when CHECK_CALL_NOTIFICATIONS=1:
switch it on (scripts/test.d/36-conformance-workerd) once the server streams them.
"""

import argparse
import asyncio
import base64
import json
import os
import sys
import warnings

from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPDeprecationWarning
from mcp.types import PromptReference, ResourceTemplateReference

# The fixture server's 1x1 red PNG (conformance_server::RED_PIXEL_PNG_BASE64).
RED_PIXEL_PNG_BASE64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)
CHECK_NOTIFICATIONS = os.environ.get("CHECK_CALL_NOTIFICATIONS") == "1"


def fail(msg: str) -> None:
    print(f"FAIL (python client, conformance fixtures): {msg}", file=sys.stderr)
    sys.exit(1)


def expect_equal(what: str, got, want) -> None:
    if got != want:
        fail(f"{what}: got {got!r}, want {want!r}")


def attr(obj, snake: str, camel: str):
    # mcp 2.x models are snake_case; 1.x used the wire names.
    return getattr(obj, snake, getattr(obj, camel, None))


async def resources(client, mode: str, expect_sub: str | None) -> list[str]:
    listed = await client.list_resources()
    uris = sorted(str(r.uri) for r in listed.resources)
    for want in ("test://static-binary", "test://static-text"):
        if want not in uris:
            fail(f"[{mode}] resources/list lacks {want}: {uris}")
    templates = await client.list_resource_templates()
    expect_equal(
        f"[{mode}] resources/templates/list",
        [attr(t, "uri_template", "uriTemplate") for t in attr(templates, "resource_templates", "resourceTemplates")],
        ["test://template/{id}/data"],
    )
    text = await client.read_resource("test://static-text")
    expect_equal(
        f"[{mode}] read test://static-text",
        [(str(c.uri), attr(c, "mime_type", "mimeType"), getattr(c, "text", None)) for c in text.contents],
        [("test://static-text", "text/plain", "This is the content of the static text resource.")],
    )
    binary = await client.read_resource("test://static-binary")
    blobs = [(attr(c, "mime_type", "mimeType"), getattr(c, "blob", None)) for c in binary.contents]
    expect_equal(f"[{mode}] read test://static-binary", blobs, [("image/png", RED_PIXEL_PNG_BASE64)])
    if not base64.b64decode(blobs[0][1]).startswith(b"\x89PNG"):
        fail(f"[{mode}] test://static-binary is not a PNG")
    templated = await client.read_resource("test://template/42/data")
    data = json.loads(getattr(templated.contents[0], "text", "null"))
    expect_equal(
        f"[{mode}] read test://template/42/data", data, {"id": "42", "templateTest": True, "data": "Data for ID: 42"}
    )
    if expect_sub is not None:
        # Delegated: the server exchanged our token and called the upstream on our behalf.
        profile = await client.read_resource("upstream://profile")
        seen = (json.loads(getattr(profile.contents[0], "text", "null")) or {}).get("keycard", {}).get("sub")
        expect_equal(f"[{mode}] read upstream://profile: the upstream acted for", seen, expect_sub)
    return uris


async def prompts(client, mode: str) -> list[str]:
    listed = await client.list_prompts()
    names = sorted(p.name for p in listed.prompts)
    if "test_prompt_with_arguments" not in names:
        fail(f"[{mode}] prompts/list lacks test_prompt_with_arguments: {names}")
    got = await client.get_prompt("test_prompt_with_arguments", {"arg1": "alpha", "arg2": "beta"})
    expect_equal(
        f"[{mode}] prompts/get test_prompt_with_arguments",
        [(m.role, m.content.type, getattr(m.content, "text", None)) for m in got.messages],
        [("user", "text", "Prompt with arguments: arg1='alpha', arg2='beta'")],
    )
    return names


async def completion(client, mode: str) -> int:
    prompt = await client.complete(
        PromptReference(type="ref/prompt", name="test_prompt_with_arguments"), {"name": "arg1", "value": "par"}
    )
    expect_equal(f"[{mode}] completion/complete (prompt arg1 'par')", sorted(prompt.completion.values), ["paris", "park", "party"])
    template = await client.complete(
        ResourceTemplateReference(type="ref/resource", uri="test://template/{id}/data"), {"name": "id", "value": "4"}
    )
    expect_equal(f"[{mode}] completion/complete (template id '4')", template.completion.values, ["42"])
    return len(prompt.completion.values) + len(template.completion.values)


async def call_notifications(client, logs: list, mode: str) -> dict:
    """Gated by CHECK_CALL_NOTIFICATIONS=1: log messages and progress during a tool call."""
    if client.protocol_version < "2026":
        # Handshake-era protocol: logging/setLevel governs delivery (newer protocols opt
        # in per request through the client's log_level, set in run()).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            await client.set_logging_level("debug")
    logged = await client.call_tool("test_tool_with_logging", {})
    if attr(logged, "is_error", "isError"):
        fail(f"[{mode}] test_tool_with_logging failed: {logged.content}")
    if not logs:
        fail(f"[{mode}] no notifications/message during test_tool_with_logging")
    progress: list[float] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    done = await client.call_tool("test_tool_with_progress", {}, progress_callback=on_progress)
    if attr(done, "is_error", "isError"):
        fail(f"[{mode}] test_tool_with_progress failed: {done.content}")
    if not progress:
        fail(f"[{mode}] no notifications/progress during test_tool_with_progress")
    if any(b <= a for a, b in zip(progress, progress[1:])):
        fail(f"[{mode}] progress does not increase: {progress}")
    return {"log_messages": len(logs), "progress": progress}


async def run(url: str, token: str, mode: str, expect_sub: str | None) -> dict:
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
    logs: list = []

    async def on_log(params) -> None:
        logs.append(params)

    async with Client(
        streamable_http_client(url, http_client=http),
        mode=mode,
        logging_callback=on_log,
        log_level="debug" if CHECK_NOTIFICATIONS else None,
    ) as client:
        out = {
            "mode": mode,
            "resources": await resources(client, mode, expect_sub),
            "prompts": await prompts(client, mode),
            "completions": await completion(client, mode),
        }
        out["call_notifications"] = (
            await call_notifications(client, logs, mode)
            if CHECK_NOTIFICATIONS
            else "not checked (CHECK_CALL_NOTIFICATIONS unset)"
        )
        return out


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
        except BaseExceptionGroup as e:
            if e.subgroup(SystemExit) is not None:  # fail() inside the client's task group
                sys.exit(1)
            fail(f"[{mode}] {type(e).__name__}: {e.exceptions}")
        except BaseException as e:  # noqa: BLE001 - report any client failure as a test failure
            fail(f"[{mode}] {type(e).__name__}: {e}")
        print(json.dumps({"client": "python-sdk", **out}))


if __name__ == "__main__":
    asyncio.run(main())
