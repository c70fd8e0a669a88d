"""Consent by URL with the official Python MCP client (PyPI `mcp`): the Python twin of
clients/ts/consent.mjs.

    python consent.py --url http://127.0.0.1:8787/mcp --token <bearer of a user without
                      consent> --zone http://127.0.0.1:8788 [--user mallory]
                      [--mode legacy|2026-07-28] [--expect-session yes|no]

The client declares URL-mode elicitation the way mcp 2.x does it: by having an
elicitation callback (it then declares `elicitation: {form: {}, url: {}}`, at `initialize`
in mode "legacy", in every request's `_meta["io.modelcontextprotocol/clientCapabilities"]`
in mode "2026-07-28"). It calls github_user as a user who has not consented:

* legacy, with a session (`initialize` answered with `Mcp-Session-Id`): the first call must
  fail with -32042 (URL elicitation required): the server remembers the declaration;
* legacy, stateless: the first call must end as the isError text naming the consent page,
  and a call repeating the declaration in its `_meta` must get the -32042;
* 2026-07-28 (never a session): the first call must get the -32042.

`--expect-session` (legacy only) fails the run when the server is not in that setup.
The -32042 (mcp raises `MCPError`; `UrlElicitationRequiredError.from_error` reads it) must
carry one URL elicitation: the zone's consent page for this user. It is followed headlessly
(GET the page, parse its form, POST the form's fields to its action), the call is retried
the same way and must return the user's profile, and the zone's audit log (only events
newer than this run's start) must show refused exchanges, then `consent:grant`, then
exactly one exchange, issued. The elicitation callback must never be called (the consent
arrives as an error, not as an `elicitation/create` request). Any failure exits non-zero.

Each run leaves the user consented and the server's token cache holding the upstream
token for this identity: a second run against the same server needs the consent revoked
(`POST /admin/consent {"sub": ..., "granted": false}`) and a token of another client id.
"""

import argparse
import asyncio
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from html.parser import HTMLParser

import httpx2
from mcp import Client, MCPError, UrlElicitationRequiredError
from mcp.client.streamable_http import streamable_http_client
from mcp.types import ElicitResult

URL_ELICITATION_REQUIRED = -32042
CAPS_META = {"io.modelcontextprotocol/clientCapabilities": {"elicitation": {"url": {}}}}
# Loopback only: never through a proxy from the environment.
HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def fail(msg: str) -> None:
    print(f"FAIL (python consent): {msg}", file=sys.stderr)
    sys.exit(1)


def attr(obj, snake: str, camel: str):
    # mcp 2.x models are snake_case; 1.x used the wire names.
    return getattr(obj, snake, getattr(obj, camel, None))


def audit(zone: str, **query: str) -> list[dict]:
    with HTTP.open(f"{zone}/audit?{urllib.parse.urlencode(query)}", timeout=10) as res:
        body = json.load(res)
    events = body if isinstance(body, list) else body.get("events")
    if not isinstance(events, list):
        fail(f"unexpected /audit answer {json.dumps(body)[:300]}")
    return events


class FormParser(HTMLParser):
    """The first <form> of a page: its method, action and input fields."""

    def __init__(self) -> None:
        super().__init__()
        self.form: dict | None = None
        self.done = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and self.form is None:
            self.form = {"method": (a.get("method") or "get").lower(), "action": a.get("action") or "", "fields": {}}
        elif tag == "input" and self.form is not None and not self.done and a.get("name"):
            self.form["fields"][a["name"]] = a.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self.done = True


def follow_consent_page(url: str) -> dict:
    """GET the consent page and submit its form, as a person pressing its button would."""
    with HTTP.open(url, timeout=10) as res:
        status, html = res.status, res.read().decode()
    parser = FormParser()
    parser.feed(html)
    form = parser.form
    if status != 200 or form is None or form["method"] != "post":
        fail(f"consent page {url}: {status}, form {form}: {html[:200]}")
    action = urllib.parse.urljoin(url, form["action"])
    body = urllib.parse.urlencode(form["fields"]).encode()
    req = urllib.request.Request(action, data=body, method="POST")
    req.add_header("content-type", "application/x-www-form-urlencoded")
    try:
        with HTTP.open(req, timeout=10) as res:
            if res.status != 200:
                fail(f"POST {action} answered {res.status}")
    except urllib.error.HTTPError as e:
        fail(f"POST {action} answered {e.code}: {e.read()[:200]!r}")
    return form["fields"]


async def run(url: str, token: str, zone: str, user: str, mode: str, expect_session: str | None) -> dict:
    baseline = max([0, *(e["seq"] for e in audit(zone, sub=user))])
    session_ids: list[str] = []

    async def on_response(response) -> None:
        if sid := response.headers.get("mcp-session-id"):
            session_ids.append(sid)

    elicited: list = []

    async def on_elicit(_ctx, params) -> ElicitResult:
        elicited.append(params)
        return ElicitResult(action="decline")

    http = httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {token}"},
        timeout=httpx2.Timeout(30.0, read=300.0),
        event_hooks={"response": [on_response]},
    )
    async with http, Client(
        streamable_http_client(url, http_client=http), mode=mode, elicitation_callback=on_elicit
    ) as client:
        session = session_ids[-1] if session_ids else None
        modern = mode != "legacy"
        if modern and session:
            fail(f"[{mode}] a 2026-07-28 client got a session id {session}")
        if not modern and expect_session == "yes" and not session:
            fail(f"[{mode}] expected initialize to open a session (Mcp-Session-Id), got none")
        if not modern and expect_session == "no" and session:
            fail(f"[{mode}] expected a stateless server, got session {session}")
        how = "2026-07-28: declared in every request's _meta" if modern else (
            "session: declared at initialize" if session else "stateless: declared in the call's _meta"
        )
        print(f"  [{mode}] protocol {client.protocol_version}; {how}")
        # Stateless legacy: the declaration must be repeated in each call.
        meta = CAPS_META if not modern and not session else None

        if not modern and not session:
            plain = await client.call_tool("github_user", {})
            text = " ".join(getattr(c, "text", "") for c in plain.content)
            if not attr(plain, "is_error", "isError") or f"{zone}/consent?" not in text:
                fail(f"[{mode}] expected an isError result naming the consent page, got {plain}")
            print(f"  [{mode}] undeclared in the call: isError text: {text[:120]}…")

        try:
            got = await client.call_tool("github_user", {}, meta=meta)
            fail(f"[{mode}] expected -32042 ({how}), got a result: {got}")
        except MCPError as e:
            if e.code != URL_ELICITATION_REQUIRED:
                fail(f"[{mode}] expected -32042, got MCPError {e.code}: {e.message}")
            required = UrlElicitationRequiredError.from_error(e.error)
        if len(required.elicitations) != 1:
            fail(f"[{mode}] expected one elicitation, got {required.elicitations}")
        elicitation = required.elicitations[0]
        consent_url = urllib.parse.urlsplit(elicitation.url)
        query = dict(urllib.parse.parse_qsl(consent_url.query))
        if f"{consent_url.scheme}://{consent_url.netloc}{consent_url.path}" != f"{zone}/consent" or query.get("user") != user:
            fail(f"[{mode}] the elicitation URL is not the zone's consent page for {user}: {elicitation.url}")
        if elicitation.mode != "url" or not elicitation.message:
            fail(f"[{mode}] malformed elicitation {elicitation}")
        if token in elicitation.url:
            fail(f"[{mode}] the elicitation URL carries the bearer")
        print(f"  [{mode}] -32042 URL elicitation {attr(elicitation, 'elicitation_id', 'elicitationId')}: {elicitation.url}")

        fields = follow_consent_page(elicitation.url)
        print(f"  [{mode}] consent page followed: form {sorted(fields)} submitted")

        retried = await client.call_tool("github_user", {}, meta=meta)
        login = (attr(retried, "structured_content", "structuredContent") or {}).get("login")
        if attr(retried, "is_error", "isError") or login != user:
            fail(f"[{mode}] retry after consent: {retried}")
        print(f"  [{mode}] retry: signed in as {login}")
        if elicited:
            fail(f"[{mode}] the elicitation callback was called: {elicited}")

    resource = query.get("resource", "")
    events = [e for e in audit(zone, sub=user, resource=resource) if e["seq"] > baseline]
    consents = [i for i, e in enumerate(events) if e["event"] == "consent:grant"]
    if len(consents) != 1:
        fail(f"[{mode}] expected one consent:grant in this run: {events}")
    before = [e for e in events[: consents[0]] if e["event"] == "credentials:issue"]
    after = [e for e in events[consents[0] + 1 :] if e["event"] == "credentials:issue"]
    if not before or any(e["outcome"] != "refused" for e in before):
        fail(f"[{mode}] expected only refused exchanges before the consent: {before}")
    if len(after) != 1 or after[0]["outcome"] != "issued":
        fail(f"[{mode}] expected exactly one exchange after the consent, issued: {after}")
    print(
        f"  [{mode}] audit: {len(before)} refused exchange(s), consent:grant (#{events[consents[0]]['seq']}), "
        f"then 1 issued exchange (#{after[0]['seq']})"
    )
    return {"mode": mode, "session": bool(session), "login": login, "refused_before": len(before)}


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--url", default="http://127.0.0.1:8787/mcp")
    p.add_argument("--token", required=True)
    p.add_argument("--zone", required=True)
    p.add_argument("--user", default="mallory")
    p.add_argument("--mode", default="legacy", choices=["legacy", "2026-07-28"])
    p.add_argument("--expect-session", choices=["yes", "no"])
    a = p.parse_args()
    try:
        out = await run(a.url, a.token, a.zone.rstrip("/"), a.user, a.mode, a.expect_session)
    except SystemExit:
        raise
    except BaseExceptionGroup as e:
        if e.subgroup(SystemExit) is not None:  # fail() inside the client's task group
            sys.exit(1)
        fail(f"[{a.mode}] {type(e).__name__}: {e.exceptions}")
    except BaseException as e:  # noqa: BLE001 - report any client failure as a test failure
        fail(f"[{a.mode}] {type(e).__name__}: {e}")
    print(json.dumps({"client": "python-sdk", "consent": "ok", **out}))


if __name__ == "__main__":
    asyncio.run(main())
