"""The conversation API: sessions, chat (JSON and Server-Sent Events), history."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from http import HTTPStatus
from typing import Annotated, Any

import msgspec
import structlog
from litestar import Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import FromPath, JSONBody, KwargDefinition
from litestar.response import ServerSentEvent, ServerSentEventMessage
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from chatkit_core.chat.chain import Queued
from chatkit_core.chat.handoff_store import Handoff
from chatkit_core.chat.providers import ChatRequest
from chatkit_core.chat.streaming import Delta, Done, Event, Opened
from chatkit_core.chat.turn import redact
from chatkit_core.http.client import rate_limit
from chatkit_core.http.errors import APIError, error_body
from chatkit_core.http.headers import first_header
from chatkit_core.models import METADATA_KEY_SCHEMA, Message, Metadata, to_rfc3339
from chatkit_core.platform.runtime import Runtime

log = structlog.get_logger("chatkit.api")


# msgspec checks a session's metadata (chatkit_core.models); the OpenAPI schema says the same.
_METADATA_SCHEMA = KwargDefinition(schema_extra={
    "maxProperties": 8, "propertyNames": METADATA_KEY_SCHEMA, "additionalProperties": {"anyOf": [
        {"type": "string", "maxLength": 200}, {"type": "number"}, {"type": "boolean"}, {"type": "null"}]},
})


class CreateSessionBody(msgspec.Struct):
    metadata: Annotated[Metadata, _METADATA_SCHEMA] = msgspec.field(default_factory=dict)


class SessionCreated(msgspec.Struct, rename="camel"):
    session_id: str
    expires_at: str


class ChatBody(msgspec.Struct, rename="camel"):
    session_id: str
    message: str
    """The visitor's text; it may be empty when ``attachments`` name at least one file."""
    stream: bool = False
    locale: Annotated[str, msgspec.Meta(max_length=16, pattern=r"^(?:[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*)?$")] = ""
    """The visitor's language, such as ``en`` or ``pt-BR`` (optional)."""
    attachments: Annotated[list[Annotated[str, msgspec.Meta(max_length=64)]], msgspec.Meta(max_length=20)] = \
        msgspec.field(default_factory=list)
    """Ids of files uploaded to this conversation (``POST /api/session/{id}/attachments``) that the
    message attaches."""


class ChatReply(msgspec.Struct, rename="camel"):
    session_id: str
    message: Message


class HeldReply(msgspec.Struct, rename="camel"):
    """An operator holds the conversation: the visitor's message was stored for them."""

    session_id: str
    message: Message
    handoff: Handoff


class History(msgspec.Struct, rename="camel"):
    session_id: str
    messages: list[Message]


class ErrorDetail(msgspec.Struct):
    code: str
    message: str


class ErrorBody(msgspec.Struct):
    error: ErrorDetail


def error_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the error answers a route gives, all of one shape."""
    return {status: ResponseSpec(ErrorBody, description=HTTPStatus(status).phrase) for status in statuses}


@dataclass
class _OptionalBody(Operation):
    def __post_init__(self) -> None:
        if isinstance(self.request_body, RequestBody):
            self.request_body.required = False


_EVENTS = ("Server-Sent Events: `queued` {position} while waiting for a busy provider (position 1 is next; "
           "repeated as it moves up), then `start` {messageId, provider, model}, zero or more `delta` {text} whose "
           "texts add up to the final content, and one of "
           "`done` {message} or `error` {error: {code, message}}.")


@dataclass
class _JsonOrEvents(Operation):
    """A chat answers with JSON, or with a stream of Server-Sent Events."""

    def __post_init__(self) -> None:
        answer = (self.responses or {}).get("200")
        if isinstance(answer, OpenAPIResponse) and answer.content is not None:
            answer.content["text/event-stream"] = OpenAPIMediaType(schema=Schema(
                type=OpenAPIType.STRING, content_media_type="text/event-stream", description=_EVENTS))


async def require_json(request: Request) -> None:
    """Refuse a body that is not JSON (415): a form or text/plain body is what another site's page
    can make a visitor's browser send without a CORS preflight. No body at all is fine."""
    headers = request.scope["headers"]  # read raw: a headers object costs more than these look-ups
    length = (first_header(request.scope, b"content-length") or b"0").decode("latin-1")
    has_body = length.strip() not in ("0", "") or any(name == b"transfer-encoding" for name, _ in headers)
    content_type = (first_header(request.scope, b"content-type") or b"").decode("latin-1")
    if has_body and content_type.split(";", 1)[0].strip().lower() != "application/json":
        raise APIError(415, "unsupported_media_type",
                       "The request body must be JSON, sent with Content-Type: application/json.")


@post("/api/create-session", status_code=HTTP_201_CREATED, summary="Start a conversation",
      responses=error_responses(400, 403, 413, 415, 429, 503), operation_class=_OptionalBody)
async def create_session(
    request: Request, runtime: NamedDependency[Runtime], data: JSONBody[CreateSessionBody | None] = None
) -> Response[SessionCreated]:
    headers = await rate_limit(runtime, request, "create-session")
    session = await runtime.conversation.start((data or CreateSessionBody()).metadata)
    expires = to_rfc3339(session.expires_at(runtime.store.ttl))
    log.info("session_created", session=redact(session.id))
    return Response(SessionCreated(session.id, expires), status_code=HTTP_201_CREATED, headers=headers)


@get("/api/session/{session_id:str}/messages", summary="A conversation's messages, oldest first",
     responses=error_responses(400, 403, 404, 503))
async def get_messages(session_id: FromPath[str], runtime: NamedDependency[Runtime]) -> History:
    return History(session_id, await runtime.conversation.history(session_id))


@delete("/api/session/{session_id:str}", status_code=HTTP_204_NO_CONTENT, summary="Erase a conversation",
        responses=error_responses(400, 403, 404, 503))
async def delete_session(session_id: FromPath[str], runtime: NamedDependency[Runtime]) -> None:
    await runtime.conversation.erase(session_id)


@post("/api/chat", status_code=HTTP_200_OK,
      summary="Send a message; the answer as JSON, or streamed as Server-Sent Events",
      responses={200: ResponseSpec(ChatReply, description="The answer"),
                 202: ResponseSpec(HeldReply, description="An operator holds the conversation: no model answers"),
                 **error_responses(400, 403, 404, 413, 415, 429, 503)},
      operation_class=_JsonOrEvents)
async def chat(request: Request, data: JSONBody[ChatBody]) -> Response[ChatReply | HeldReply] | ServerSentEvent:
    runtime: Runtime = request.app.state.runtime  # the busiest route skips resolving it as a dependency
    headers = await rate_limit(runtime, request, "chat", data.session_id)
    conversation = runtime.conversation
    if runtime.handoff is not None and (held := await runtime.handoff.holding(data.session_id)):
        note = await conversation.note(data.session_id, data.message, data.locale, data.attachments)
        return Response(HeldReply(data.session_id, note, held.public()), status_code=HTTP_202_ACCEPTED,
                        headers=headers)
    chat_request = await conversation.ask(data.session_id, data.message, data.locale,
                                          request.scope["state"].get("request_id", ""), data.attachments)
    if data.stream or "text/event-stream" in (first_header(request.scope, b"accept") or b"").decode("latin-1"):
        stream = _events(runtime, data.session_id, chat_request)
        return ServerSentEvent(stream, headers={**headers, "X-Accel-Buffering": "no"})
    reply = await conversation.answer(data.session_id, chat_request)
    return Response(ChatReply(data.session_id, reply), headers=headers)


def _sse(event: Event) -> ServerSentEventMessage:
    if isinstance(event, Queued):
        return _event("queued", {"position": event.position})
    if isinstance(event, Opened):
        return _event("start", {"messageId": event.message_id, "provider": event.provider, "model": event.model})
    if isinstance(event, Delta):
        return _event("delta", {"text": event.text})
    if isinstance(event, Done):
        return _event("done", {"message": event.message})
    return _event("error", error_body(event.error.code, event.error.message))


async def _events(
    runtime: Runtime, session_id: str, request: ChatRequest
) -> AsyncGenerator[ServerSentEventMessage, None]:
    """queued… (while waiting for a busy provider), start, delta…, then exactly one of done or error."""
    async with contextlib.aclosing(runtime.conversation.answer_events(session_id, request)) as events:
        async for event in events:
            yield _sse(event)


def _event(name: str, payload: Any) -> ServerSentEventMessage:
    return ServerSentEventMessage(event=name, data=msgspec.json.encode(payload).decode())


HANDLERS = [create_session, get_messages, delete_session, chat]
