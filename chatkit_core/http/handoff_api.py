"""The visitor's side of a handoff to a person: asking for one, its state, and the event stream.

Mounted with the conversation API (same site keys, CORS and rate limits) when ``[handoff]
enabled``; when it is off, only the state route answers (``offer = "never"``). The session id in
the path is the visitor's secret, so a visitor reads their own conversation's events and no one
else's.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromPath, JSONBody
from litestar.response import ServerSentEvent
from litestar.status_codes import HTTP_202_ACCEPTED

from chatkit_core.chat.handoff import HandoffDesk
from chatkit_core.chat.handoff_events import follow
from chatkit_core.chat.handoff_store import Handoff, conversation_id_of
from chatkit_core.http.api import error_responses
from chatkit_core.http.client import rate_limit
from chatkit_core.http.events import StreamSlots, last_event_id, messages, sse
from chatkit_core.platform.runtime import Runtime

_LOCALE = r"^(?:[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*)?$"


class HandoffBody(msgspec.Struct):
    message: str = ""
    """What the visitor wants a person to know (optional)."""
    locale: Annotated[str, msgspec.Meta(max_length=16, pattern=_LOCALE)] = ""


class HandoffReply(msgspec.Struct):
    handoff: Handoff


class HandoffState(msgspec.Struct):
    handoff: Handoff | None
    offer: Literal["always", "after_decline", "never"]


def desk_of(request: Request) -> tuple[Runtime, HandoffDesk]:
    runtime: Runtime = request.app.state.runtime
    assert runtime.handoff is not None  # these routes exist only when it does
    return runtime, runtime.handoff


@post("/api/session/{session_id:str}/handoff", status_code=HTTP_202_ACCEPTED, summary="Ask for a person",
      responses=error_responses(400, 403, 404, 413, 415, 429, 503))
async def ask_for_person(request: Request, session_id: FromPath[str],
                         data: JSONBody[HandoffBody | None] = None) -> Response[HandoffReply]:
    runtime, desk = desk_of(request)
    headers = await rate_limit(runtime, request, "chat", session_id)
    body = data or HandoffBody()
    record = await desk.request(session_id, body.message, body.locale)
    return Response(HandoffReply(record.public()), status_code=HTTP_202_ACCEPTED, headers=headers)


@get("/api/session/{session_id:str}/handoff", summary="The handoff's state, and when the widget offers one",
     responses=error_responses(403, 404, 503))
async def handoff_state(request: Request, session_id: FromPath[str]) -> HandoffState:
    runtime, desk = desk_of(request)
    record = await desk.of_session(session_id)
    return HandoffState(record.public() if record else None, runtime.config.handoff.offer)


@get("/api/session/{session_id:str}/events", summary="The conversation's handoff events (Server-Sent Events)",
     responses=error_responses(400, 403, 404, 429, 503), opt={"site_key_query": True})
async def visitor_events(request: Request, session_id: FromPath[str]) -> ServerSentEvent:
    _, desk = desk_of(request)
    after = last_event_id(request)
    await desk.of_session(session_id)  # 404 for a session that is gone
    slots: StreamSlots = request.app.state.handoff_streams
    key = conversation_id_of(session_id)
    slots.check(key)
    config = desk.config
    events = follow(desk.store, desk.broker, key, after, operator=False, heartbeat=config.heartbeat,
                    seconds=config.stream_limit_seconds)
    return sse(messages(slots, key, events))


@get("/api/session/{session_id:str}/handoff", summary="The handoff's state, and when the widget offers one",
     responses=error_responses(403, 404))
async def no_handoff(session_id: FromPath[str]) -> HandoffState:
    """Handoffs are off: no person is offered. The widget asks before it shows the control, and a
    page that loads it should not log a failed request for a feature that is simply off."""
    return HandoffState(None, "never")


HANDLERS = [ask_for_person, handoff_state, visitor_events]
OFF = [no_handoff]
"""The one route that answers when ``[handoff]`` is off; asking and events are 404 then."""
