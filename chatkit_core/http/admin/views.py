"""The console's routes, under ``/admin``. Every one but sign-in and the static files needs
a console session (the router's guard, on the matched route); every change needs the CSRF
token of that session."""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Stream

from chatkit_core.chat.listing import BadCursor, ConversationQuery, Listing
from chatkit_core.http.admin.auth import (
    COOKIE_PATH,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    Attempts,
    CsrfRefused,
    Keys,
    client_of,
    cookie,
    revoke,
)
from chatkit_core.http.admin.dashboard import PERIODS, collect, column_chart, rate_bars
from chatkit_core.http.admin.pages import HEADERS, render
from chatkit_core.models import Message, to_rfc3339
from chatkit_core.platform.runtime import Runtime

PAGE_SIZE = 50
MAX_EXPORT = 10_000
PUBLIC = {"public": True}


def listing_of(runtime: Runtime) -> Listing:
    listing = runtime.listing
    assert listing is not None  # the console is mounted only over a store that lists conversations
    return listing


class Exported(msgspec.Struct, rename="camel"):
    id: str
    created_at: str
    last_seen: str
    messages: list[Message]


def _keys(request: Request) -> Keys:
    return request.app.state.admin_keys


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {key: str(form.get(key, "")) for key in form}


async def _check_csrf(request: Request) -> dict[str, str]:
    """The submitted form, once its CSRF token matches the session and the origin is ours."""
    origin = request.headers.get("origin")
    if origin and origin != f"{request.url.scheme}://{request.url.netloc}":
        raise CsrfRefused
    form = await _form(request)
    if not _keys(request).csrf_valid(request.cookies.get(SESSION_COOKIE), form.get("csrf")):
        raise CsrfRefused
    return form


@get("/", opt=PUBLIC)
async def home(request: Request) -> Redirect:
    signed = _keys(request).session_valid(request.cookies.get(SESSION_COOKIE))
    return Redirect("/admin/conversations" if signed else "/admin/login", headers=HEADERS)


@get("/login", opt=PUBLIC)
async def login_page(request: Request) -> Response:
    return _login(request)


def _login(request: Request, error: str = "", status: int = 200) -> Response:
    nonce = request.cookies.get(LOGIN_COOKIE) or ""
    if len(nonce) != 43:
        nonce = secrets.token_urlsafe(32)
    response = render(request, "login.html", status=status, error=error, login_nonce=nonce)
    response.set_cookie(cookie(request, LOGIN_COOKIE, nonce, 600))
    return response


@post("/login", opt=PUBLIC, status_code=303)
async def sign_in(request: Request) -> Response:
    attempts: Attempts = request.app.state.admin_attempts
    wait = attempts.allow(client_of(request))
    if wait:
        response = _login(request, f"Too many sign-in attempts. Try again in {int(wait) + 1} seconds.", 429)
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    form = await _form(request)
    keys = _keys(request)
    nonce = request.cookies.get(LOGIN_COOKIE) or ""
    if not nonce or not hmac.compare_digest(nonce.encode(), form.get("login_nonce", "").encode()):
        return _login(request, "The sign-in form expired. Please try again.", 403)
    if not keys.token_matches(form.get("token", "")):
        return _login(request, "That token is not right.", 401)
    response = Redirect("/admin/conversations", status_code=303, headers=HEADERS)
    response.set_cookie(cookie(request, SESSION_COOKIE, keys.new_session(), int(keys.ttl)))
    response.delete_cookie(LOGIN_COOKIE, path=COOKIE_PATH)
    return response


@post("/logout", status_code=303)
async def sign_out(request: Request) -> Response:
    await _check_csrf(request)
    await revoke(request, request.cookies[SESSION_COOKIE])  # a copy of the cookie no longer works either
    response = Redirect("/admin/login", status_code=303, headers=HEADERS)
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
    return response


def _day(value: str, field: str, errors: list[str]) -> float | None:
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC).timestamp()
    except ValueError:
        errors.append(f"The {field} date must look like 2026-01-31.")
        return None


def _query(params: Any, errors: list[str]) -> tuple[ConversationQuery, dict[str, str]]:
    """The listing's filters from the query string, and the same as links repeat them."""
    kept = {key: params.get(key, "").strip()[:200] for key in
            ("q", "down", "incomplete", "fell_back", "unsourced", "provider", "since", "until")}
    kept = {key: value for key, value in kept.items() if value}
    since = _day(kept.get("since", ""), "from", errors)
    until = _day(kept.get("until", ""), "to", errors)
    query = ConversationQuery(
        text=kept.get("q", ""), thumbs_down="down" in kept, incomplete="incomplete" in kept,
        fell_back="fell_back" in kept, unsourced="unsourced" in kept, provider=kept.get("provider", ""),
        since=since, until=until + 86400 if until is not None else None)
    return query, kept


@get("/conversations")
async def conversations(request: Request, runtime: NamedDependency[Runtime]) -> Response:
    errors: list[str] = []
    query, kept = _query(request.query_params, errors)
    cursor = request.query_params.get("cursor") or None
    try:
        page = await listing_of(runtime).list_conversations(query, cursor=cursor, limit=PAGE_SIZE)
    except BadCursor:
        errors.append("That page link is not valid any more; showing the newest conversations.")
        page = await listing_of(runtime).list_conversations(query, limit=PAGE_SIZE)
    return render(request, "conversations.html", page=page, filters=kept, errors=errors,
                  providers=[p.name for p in runtime.chain.providers],
                  knowledge=runtime.knowledge is not None, erased="erased" in request.query_params)


@get("/conversations/{session_id:str}")
async def transcript(request: Request, session_id: FromPath[str], runtime: NamedDependency[Runtime]) -> Response:
    session = await runtime.store.get(session_id)
    messages = await runtime.store.messages(session_id) if session else None
    if session is None or messages is None:
        return render(request, "missing.html", status=404)
    return render(request, "transcript.html", session=session, messages=messages)


def _jsonl_line(session_id: str, created_at: float, last_seen: float, messages: list[Message]) -> bytes:
    return msgspec.json.encode(Exported(session_id, to_rfc3339(created_at), to_rfc3339(last_seen), messages)) + b"\n"


def _download(lines: AsyncIterator[bytes], name: str) -> Stream:
    return Stream(lines, media_type="application/x-ndjson", headers={
        **HEADERS, "Content-Disposition": f'attachment; filename="{name}"'})


@get("/conversations/{session_id:str}/export")
async def export_one(request: Request, session_id: FromPath[str], runtime: NamedDependency[Runtime]) -> Response:
    session = await runtime.store.get(session_id)
    messages = await runtime.store.messages(session_id) if session else None
    if session is None or messages is None:
        return render(request, "missing.html", status=404)

    async def lines() -> AsyncIterator[bytes]:
        yield _jsonl_line(session.id, session.created_at, session.last_seen, messages)

    return _download(lines(), "conversation.jsonl")


@get("/export")
async def export_list(request: Request, runtime: NamedDependency[Runtime]) -> Response:
    query, _ = _query(request.query_params, [])
    store, listing = runtime.store, listing_of(runtime)

    async def lines() -> AsyncIterator[bytes]:
        cursor, sent = None, 0
        while sent < MAX_EXPORT:
            page = await listing.list_conversations(query, cursor=cursor, limit=200)
            for item in page.items:
                messages = await store.messages(item.id)
                if messages is not None:
                    sent += 1
                    yield _jsonl_line(item.id, item.created_at, item.last_seen, messages)
            if page.next is None:
                return
            cursor = page.next

    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return _download(lines(), f"conversations-{stamp}.jsonl")


@post("/conversations/{session_id:str}/erase", status_code=303)
async def erase(request: Request, session_id: FromPath[str], runtime: NamedDependency[Runtime]) -> Response:
    await _check_csrf(request)
    await runtime.store.delete(session_id)
    return Redirect("/admin/conversations?erased=1", status_code=303, headers=HEADERS)


@get("/dashboard")
async def dashboard(request: Request, runtime: NamedDependency[Runtime]) -> Response:
    period = request.query_params.get("period", "24h")
    if period not in PERIODS:
        period = "24h"
    knowledge = runtime.knowledge is not None
    stats = await collect(runtime.store, listing_of(runtime), period, knowledge)
    failure = rate_bars([(row.name, row.failure_rate) for row in stats.providers])
    fallback = rate_bars([(row.name, row.fallback_rate) for row in stats.providers])
    return render(request, "dashboard.html", stats=stats, periods=list(PERIODS), columns=column_chart(stats.buckets),
                  failure=failure, fallback=fallback, knowledge=knowledge,
                  day=lambda t: datetime.fromtimestamp(t, UTC).strftime("%m-%d %H:%M"))


HANDLERS = [home, login_page, sign_in, sign_out, conversations, transcript, export_one, export_list, erase, dashboard]
