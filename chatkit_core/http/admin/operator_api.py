"""The operators' API under ``/admin/api``: the handoffs waiting, claiming one, writing to the
visitor, handing back or closing, and live events.

Every route accepts ``Authorization: Bearer ADMIN_TOKEN`` or the console's signed-in cookie (a
change then needs the console's CSRF token in ``X-CSRF-Token`` and no foreign ``Origin``).
Anything else is ``401`` before any look-up, so no answer says whether a conversation exists.
Operators are named, not signed in one by one: the name given when claiming is the holder, and a
message or a hand-back naming another operator (``"operator"`` in the body, or the
``X-ChatKit-Operator`` header) is refused with ``409 already_claimed``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromPath, JSONBody
from litestar.response import ServerSentEvent
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_202_ACCEPTED

from chatkit_core.chat.handoff import HandoffDesk
from chatkit_core.chat.handoff_events import follow, follow_list
from chatkit_core.chat.handoff_store import Handoff, StoredEvent
from chatkit_core.http.admin.auth import SESSION_COOKIE, Keys, is_revoked
from chatkit_core.http.errors import APIError
from chatkit_core.http.events import StreamSlots, last_event_id, messages, sse
from chatkit_core.models import Message, to_rfc3339
from chatkit_core.platform.runtime import Runtime

OperatorName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Locale = Annotated[str, msgspec.Meta(max_length=16, pattern=r"^(?:[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*)?$")]


class ClaimBody(msgspec.Struct):
    operator: OperatorName
    locale: Locale = ""
    """The operator's language (the console's setting); messages in another are translated."""


class ReplyBody(msgspec.Struct):
    content: Annotated[str, msgspec.Meta(min_length=1)]
    operator: OperatorName | None = None


class ReleaseBody(msgspec.Struct):
    operator: OperatorName | None = None


class TranslateBody(msgspec.Struct, rename="camel"):
    message_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    locale: Locale


class HandoffReply(msgspec.Struct):
    handoff: Handoff


class HandoffList(msgspec.Struct):
    handoffs: list[Handoff]
    notes: dict[str, str]
    """What each visitor wrote when asking, by conversation id (the console's list shows it)."""


class MessageReply(msgspec.Struct):
    message: Message


class Audited(msgspec.Struct):
    at: str
    who: str
    what: str


class Detail(msgspec.Struct, rename="camel"):
    handoff: Handoff
    messages: list[Message]
    audit: list[Audited]
    visitor_locale: str
    operator_locale: str
    last_event_id: int


def _unauthorized() -> APIError:
    return APIError(401, "unauthorized", "Send the admin token as `Authorization: Bearer …`, or sign in to the "
                    "console.", headers={"WWW-Authenticate": 'Bearer realm="chatkit"'})


async def operator_only(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """The bearer token, or a console sign-in (with its CSRF token on a change)."""
    keys: Keys = connection.app.state.admin_keys
    authorization = connection.headers.get("authorization")
    if authorization is not None:
        scheme, _space, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and keys.token_matches(token.strip()):
            return
        raise _unauthorized()
    session = connection.cookies.get(SESSION_COOKIE)
    if not session or not keys.session_valid(session) or await is_revoked(connection, session):
        raise _unauthorized()
    if connection.scope.get("method", "GET") not in ("GET", "HEAD"):
        origin = connection.headers.get("origin")
        own = f"{connection.url.scheme}://{connection.url.netloc}"
        if (origin and origin != own) or not keys.csrf_valid(session, connection.headers.get("x-csrf-token")):
            raise APIError(403, "forbidden", "This change was not sent from the console (missing or wrong CSRF "
                           "token).")


def _desk(request: Request) -> tuple[Runtime, HandoffDesk]:
    runtime: Runtime = request.app.state.runtime
    assert runtime.handoff is not None  # mounted only when it is on
    return runtime, runtime.handoff


def _named(request: Request, given: str | None) -> str | None:
    return given or request.headers.get("x-chatkit-operator") or None


@get("/handoffs")
async def list_handoffs(request: Request) -> HandoffList:
    _, desk = _desk(request)
    records = await desk.open()
    return HandoffList([record.public() for record in records],
                       {record.conversation_id: record.message for record in records if record.message})


@get("/handoffs/{conversation_id:str}")
async def handoff_detail(request: Request, conversation_id: FromPath[str]) -> Detail:
    _, desk = _desk(request)
    record, history = await desk.find(conversation_id)
    last = 0  # the stream the console opens next starts after the newest event: the history has the rest
    while batch := await desk.store.events(conversation_id, last, 100):
        last = batch[-1].seq
        if len(batch) < 100:
            break
    audit = [Audited(to_rfc3339(entry.at), entry.who, entry.what) for entry in record.audit]
    return Detail(record.public(), history, audit, record.visitor_locale, record.operator_locale, last)


@post("/handoffs/{conversation_id:str}/claim", status_code=HTTP_200_OK)
async def claim(request: Request, conversation_id: FromPath[str], data: JSONBody[ClaimBody]) -> HandoffReply:
    _, desk = _desk(request)
    return HandoffReply((await desk.claim(conversation_id, data.operator, data.locale)).public())


@post("/handoffs/{conversation_id:str}/messages", status_code=HTTP_201_CREATED)
async def reply(request: Request, conversation_id: FromPath[str], data: JSONBody[ReplyBody]) -> MessageReply:
    _, desk = _desk(request)
    return MessageReply(await desk.reply(conversation_id, _named(request, data.operator), data.content))


@post("/handoffs/{conversation_id:str}/release", status_code=HTTP_200_OK)
async def release(request: Request, conversation_id: FromPath[str],
                  data: JSONBody[ReleaseBody | None] = None) -> HandoffReply:
    _, desk = _desk(request)
    record = await desk.release(conversation_id, _named(request, data.operator if data else None))
    return HandoffReply(record.public())


@post("/handoffs/{conversation_id:str}/translations", status_code=HTTP_202_ACCEPTED)
async def translate(request: Request, conversation_id: FromPath[str], data: JSONBody[TranslateBody]) -> Response:
    _, desk = _desk(request)
    await desk.translate(conversation_id, data.message_id, data.locale)
    return Response(b"", status_code=HTTP_202_ACCEPTED)


@get("/handoffs/{conversation_id:str}/events")
async def conversation_events(request: Request, conversation_id: FromPath[str]) -> ServerSentEvent:
    _, desk = _desk(request)
    after = last_event_id(request)
    await desk.find(conversation_id)  # 404 for one that is not (or no longer) there
    slots: StreamSlots = request.app.state.handoff_streams
    key = "operator:" + conversation_id
    slots.check(key)
    events = follow(desk.store, desk.broker, conversation_id, after, operator=True,
                    heartbeat=desk.config.heartbeat, seconds=desk.config.stream_limit_seconds)
    return sse(messages(slots, key, events))


@get("/handoff-events")
async def list_events(request: Request) -> ServerSentEvent:
    """``handoff`` events of every conversation, and ``refresh`` when the list should be read again."""
    _, desk = _desk(request)
    slots: StreamSlots = request.app.state.handoff_streams
    slots.check("operators", per_key=slots.total)
    return sse(messages(slots, "operators", _refreshing(desk), per_key=slots.total))


async def _refreshing(desk: HandoffDesk) -> AsyncGenerator[StoredEvent, None]:
    async for event in follow_list(desk.broker, heartbeat=desk.config.heartbeat,
                                   seconds=desk.config.stream_limit_seconds):
        yield event or StoredEvent(conversation_id="", seq=0, kind="refresh", audience="operator", data="{}")


def operator_router() -> Router:
    return Router("/admin/api", route_handlers=[list_handoffs, handoff_detail, claim, reply, release, translate,
                                                conversation_events, list_events],
                  guards=[operator_only], include_in_schema=False)
