"""The conversation API: sessions, chat (JSON and Server-Sent Events), history."""

from __future__ import annotations

import contextlib
import functools
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
from litestar.params import FromPath, JSONBody
from litestar.response import ServerSentEvent, ServerSentEventMessage
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from chatkit_core import conversation
from chatkit_core.builtins.middleware import first_header
from chatkit_core.chain import Queued
from chatkit_core.conversation import redact, store_errors
from chatkit_core.errors import APIError, error_body, session_not_found
from chatkit_core.providers import ChatRequest
from chatkit_core.ratelimit import LimiterUnavailable, SessionCap, client_ip
from chatkit_core.runtime import Runtime
from chatkit_core.sessions import Message, Metadata, to_rfc3339

log = structlog.get_logger("chatkit.api")


class CreateSessionBody(msgspec.Struct):
    metadata: Metadata = msgspec.field(default_factory=dict)


class SessionCreated(msgspec.Struct, rename="camel"):
    session_id: str
    expires_at: str


class ChatBody(msgspec.Struct, rename="camel"):
    session_id: str
    message: Annotated[str, msgspec.Meta(min_length=1)]
    stream: bool = False
    locale: Annotated[str, msgspec.Meta(max_length=16, pattern=r"^(?:[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*)?$")] = ""
    """The visitor's language, such as ``en`` or ``pt-BR`` (optional)."""


class ChatReply(msgspec.Struct, rename="camel"):
    session_id: str
    message: Message


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


def _ip(runtime: Runtime, request: Request) -> str:
    peer = request.scope.get("client")
    forwarded = tuple(value.decode("latin-1") for name, value in request.scope["headers"]
                      if name == b"x-forwarded-for")  # read raw: a headers object costs more than the scan
    return _client_ip(peer[0] if peer else None, forwarded, tuple(runtime.config.server.trusted_proxies))


@functools.lru_cache(maxsize=4096)  # parsing addresses costs more than the rest of the rate limit check
def _client_ip(peer: str | None, forwarded: tuple[str, ...], trusted: tuple[str, ...]) -> str:
    return client_ip(peer, forwarded, list(trusted))


async def rate_limit(runtime: Runtime, request: Request, route: str, session_id: str | None = None) -> dict[str, str]:
    limiter = runtime.components.limiter
    if limiter is None:
        cap: SessionCap | None = request.app.state.get("session_cap")
        if route == "create-session" and cap is not None and (wait := cap.hit(_ip(runtime, request))):
            raise APIError(429, "rate_limited", f"Too many new conversations. Please wait {wait} seconds and try "
                           "again.", headers={"Retry-After": str(wait)}, retryAfter=wait)
        return {}
    try:
        decision = await limiter.hit(route, _ip(runtime, request), session_id)
    except LimiterUnavailable:
        raise APIError(503, "rate_limiter_unavailable", "The service is busy right now. Please try again shortly.",
                       headers={"Retry-After": "5"}) from None
    if decision is None:
        return {}
    if not decision.allowed:
        runtime.metrics.rate_limited.labels(route).inc()
        wait = max(1, decision.retry_after)
        raise APIError(429, "rate_limited", f"You are sending messages too quickly. Please wait {wait} seconds "
                       "and try again.", headers={**decision.headers, "Retry-After": str(wait)}, retryAfter=wait)
    return decision.headers


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
    async with store_errors():
        session = await runtime.store.create((data or CreateSessionBody()).metadata)
    expires = to_rfc3339(session.expires_at(runtime.store.ttl))
    log.info("session_created", session=redact(session.id))
    return Response(SessionCreated(session.id, expires), status_code=HTTP_201_CREATED, headers=headers)


@get("/api/session/{session_id:str}/messages", summary="A conversation's messages, oldest first",
     responses=error_responses(400, 403, 404, 503))
async def get_messages(session_id: FromPath[str], runtime: NamedDependency[Runtime]) -> History:
    async with store_errors():
        messages = await runtime.store.messages(session_id)
    if messages is None:
        raise session_not_found()
    return History(session_id, messages)


@delete("/api/session/{session_id:str}", status_code=HTTP_204_NO_CONTENT, summary="Erase a conversation",
        responses=error_responses(400, 403, 404, 503))
async def delete_session(session_id: FromPath[str], runtime: NamedDependency[Runtime]) -> None:
    async with store_errors():
        if not await runtime.store.delete(session_id):
            raise session_not_found()


@post("/api/chat", status_code=HTTP_200_OK,
      summary="Send a message; the answer as JSON, or streamed as Server-Sent Events",
      responses={200: ResponseSpec(ChatReply, description="The answer"),
                 **error_responses(400, 403, 404, 413, 415, 429, 503)},
      operation_class=_JsonOrEvents)
async def chat(request: Request, data: JSONBody[ChatBody]) -> Response[ChatReply] | ServerSentEvent:
    runtime: Runtime = request.app.state.runtime  # the busiest route skips resolving it as a dependency
    headers = await rate_limit(runtime, request, "chat", data.session_id)
    chat_request = await conversation.ask(runtime, data.session_id, data.message, data.locale,
                                          request.scope["state"].get("request_id", ""))
    if data.stream or "text/event-stream" in (first_header(request.scope, b"accept") or b"").decode("latin-1"):
        stream = _events(runtime, data.session_id, chat_request)
        return ServerSentEvent(stream, headers={**headers, "X-Accel-Buffering": "no"})
    reply = await conversation.answer(runtime, data.session_id, chat_request)
    return Response(ChatReply(data.session_id, reply), headers=headers)


def _sse(event: conversation.Event) -> ServerSentEventMessage:
    if isinstance(event, Queued):
        return _event("queued", {"position": event.position})
    if isinstance(event, conversation.Opened):
        return _event("start", {"messageId": event.message_id, "provider": event.provider, "model": event.model})
    if isinstance(event, conversation.Delta):
        return _event("delta", {"text": event.text})
    if isinstance(event, conversation.Done):
        return _event("done", {"message": event.message})
    return _event("error", error_body(event.error.code, event.error.message))


async def _events(
    runtime: Runtime, session_id: str, request: ChatRequest
) -> AsyncGenerator[ServerSentEventMessage, None]:
    """queued… (while waiting for a busy provider), start, delta…, then exactly one of done or error."""
    async with contextlib.aclosing(conversation.answer_events(runtime, session_id, request)) as events:
        async for event in events:
            yield _sse(event)


def _event(name: str, payload: Any) -> ServerSentEventMessage:
    return ServerSentEventMessage(event=name, data=msgspec.json.encode(payload).decode())


HANDLERS = [create_session, get_messages, delete_session, chat]
