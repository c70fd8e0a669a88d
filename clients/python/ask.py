"""Tools that ask the client during a call, with the official Python MCP client (PyPI `mcp`)
against the conformance fixture server (clients/conformance/server): `test_elicitation`
(form elicitation, `elicitation/create`) and `test_sampling` (`sampling/createMessage`).

    python ask.py --url http://127.0.0.1:8787/mcp --token <bearer> [--modes legacy,2026-07-28]
                  [--legacy session|stateless|auto]

The client has an elicitation callback and a sampling callback; each answers with values
made for this run (random), and the tool results must contain exactly those answers:

* mode "legacy" (initialize handshake, 2025-11-25): the server's requests arrive on the
  call's SSE answer and the client's answers go back as POSTs in the same session, so
  `initialize` must have opened one (`Mcp-Session-Id`). With `--legacy stateless` (a
  server without a session store, e.g. a Worker without the Durable Object binding) the
  calls must instead end as isError results saying why, and no callback may be called;
  `--legacy auto` expects whichever of the two `initialize` shows (a session id or none);
* mode "2026-07-28": stateless, the call answers `input_required` with the request and the
  client (the SDK, with the same callbacks) retries it with `inputResponses`.

In both modes the callbacks must be called exactly once per question, with the tool's
message / prompt; a declined elicitation must come back as `action=decline`. Any failure
exits non-zero.
"""

import argparse
import asyncio
import json
import secrets
import sys

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CreateMessageResult, ElicitResult, TextContent

DECLINE = "please decline this one"


def fail(msg: str) -> None:
    print(f"FAIL (python client, asking tools): {msg}", file=sys.stderr)
    sys.exit(1)


def attr(obj, snake: str, camel: str):
    # mcp 2.x models are snake_case; 1.x used the wire names.
    return getattr(obj, snake, getattr(obj, camel, None))


def text_of(result) -> str:
    return " ".join(getattr(c, "text", "") for c in result.content)


async def run(url: str, token: str, mode: str, legacy: str) -> dict:
    run_id = secrets.token_hex(4)
    username, email = f"py-{run_id}", f"py-{run_id}@example.test"
    completion = f"Paris, says the model of run {run_id}"
    elicited: list = []
    sampled: list = []
    session_ids: list[str] = []

    async def on_elicit(_ctx, params) -> ElicitResult:
        elicited.append(params)
        if params.message == DECLINE:
            return ElicitResult(action="decline")
        return ElicitResult(action="accept", content={"username": username, "email": email})

    async def on_sample(_ctx, params) -> CreateMessageResult:
        sampled.append(params)
        return CreateMessageResult(
            role="assistant",
            content=TextContent(type="text", text=completion),
            model="python-test-model",
            stop_reason="endTurn",
        )

    async def on_response(response) -> None:
        if sid := response.headers.get("mcp-session-id"):
            session_ids.append(sid)

    http = httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {token}"},
        timeout=httpx2.Timeout(30.0, read=300.0),
        event_hooks={"response": [on_response]},
    )
    async with http, Client(
        streamable_http_client(url, http_client=http),
        mode=mode,
        elicitation_callback=on_elicit,
        sampling_callback=on_sample,
    ) as client:
        if legacy == "auto":  # whatever this server does: with a session id, the session path
            legacy = "session" if session_ids else "stateless"
        stateless_legacy = mode == "legacy" and legacy == "stateless"
        if mode == "legacy" and not stateless_legacy and not session_ids:
            fail(f"[{mode}] initialize opened no session (no Mcp-Session-Id): the server cannot ask the client")
        if stateless_legacy and session_ids:
            fail(f"[{mode}] --legacy stateless, but initialize opened session {session_ids[-1]}")
        if mode != "legacy" and session_ids:
            fail(f"[{mode}] a 2026-07-28 client got a session id {session_ids[-1]}")
        out: dict = {"mode": mode, "protocol": client.protocol_version, "session": bool(session_ids)}

        message = f"Who are you? (run {run_id})"
        got = await client.call_tool("test_elicitation", {"message": message})
        text = text_of(got)
        if stateless_legacy:
            if not attr(got, "is_error", "isError") or "session" not in text:
                fail(f"[{mode}] stateless: expected an isError result about the missing session, got {got}")
            if elicited:
                fail(f"[{mode}] stateless: the elicitation callback was called: {elicited}")
            out["test_elicitation"] = text
        else:
            want = f"User response: action=accept, content={{username: {username}, email: {email}}}"
            if attr(got, "is_error", "isError") or want not in text:
                fail(f"[{mode}] test_elicitation: expected {want!r}, got {got}")
            if [p.message for p in elicited] != [message]:
                fail(f"[{mode}] the elicitation callback saw {[p.message for p in elicited]}, not [{message!r}]")
            schema = attr(elicited[0], "requested_schema", "requestedSchema") or {}
            if sorted((schema.get("properties") or {}).keys()) != ["email", "username"]:
                fail(f"[{mode}] unexpected requested schema {schema}")
            out["test_elicitation"] = text
            elicited.clear()
            declined = await client.call_tool("test_elicitation", {"message": DECLINE})
            if attr(declined, "is_error", "isError") or "action=decline" not in text_of(declined):
                fail(f"[{mode}] test_elicitation declined: expected action=decline, got {declined}")
            if len(elicited) != 1:
                fail(f"[{mode}] the declined elicitation called the callback {len(elicited)} times")
            out["test_elicitation_declined"] = text_of(declined)

        prompt = f"What is the capital of France? (run {run_id})"
        got = await client.call_tool("test_sampling", {"prompt": prompt})
        text = text_of(got)
        if stateless_legacy:
            if not attr(got, "is_error", "isError") or "session" not in text:
                fail(f"[{mode}] stateless: expected an isError result about the missing session, got {got}")
            if sampled:
                fail(f"[{mode}] stateless: the sampling callback was called: {sampled}")
        else:
            want = f"LLM response: {completion}"
            if attr(got, "is_error", "isError") or want not in text:
                fail(f"[{mode}] test_sampling: expected {want!r}, got {got}")
            if len(sampled) != 1:
                fail(f"[{mode}] the sampling callback was called {len(sampled)} times")
            seen = [getattr(m.content, "text", None) for m in sampled[0].messages]
            if seen != [prompt]:
                fail(f"[{mode}] the sampling callback saw messages {seen}, not [{prompt!r}]")
        out["test_sampling"] = text
        return out


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--url", default="http://127.0.0.1:8787/mcp")
    p.add_argument("--token", required=True)
    p.add_argument("--modes", default="legacy,2026-07-28")
    p.add_argument(
        "--legacy",
        choices=["session", "stateless", "auto"],
        default="session",
        help="what the server must do for legacy clients (stateless: no session store; auto: "
        "whichever initialize shows)",
    )
    a = p.parse_args()
    for mode in a.modes.split(","):
        try:
            out = await run(a.url, a.token, mode, a.legacy)
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
