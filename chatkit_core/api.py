"""The conversation API: sessions, chat (JSON and Server-Sent Events), history."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from http import HTTPStatus
from typing import Annotated, Any

import anyio
import msgspec
import structlog
from litestar import Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, Schema
from litestar.params import FromPath, JSONBody
from litestar.response import ServerSentEvent, ServerSentEventMessage
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from chatkit_core.chain import ChainFailed, Finished, Queued, Started, StreamBroken
from chatkit_core.errors import APIError, error_body, invalid, session_not_found, store_unavailable
from chatkit_core.knowledge import Passage, Source, cited_sources, context_message, search_query
from chatkit_core.providers import ChatMessage, ChatRequest
from chatkit_core.ratelimit import LimiterUnavailable, SessionCap, client_ip
from chatkit_core.runtime import Runtime
from chatkit_core.sanitize import plain_text
from chatkit_core.sessions import Message, Metadata, StoreUnavailable, new_message_id, now_rfc3339, to_rfc3339

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


def _errors(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the error answers a route gives, all of one shape."""
    return {status: ResponseSpec(ErrorBody, description=HTTPStatus(status).phrase) for status in statuses}


@dataclass
class _OptionalBody(Operation):
    def __post_init__(self) -> None:
        if self.request_body is not None:
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
        if answer is not None and getattr(answer, "content", None) is not None:
            answer.content["text/event-stream"] = OpenAPIMediaType(schema=Schema(
                type=OpenAPIType.STRING, content_media_type="text/event-stream", description=_EVENTS))


def redact(session_id: str) -> str:
    """Enough of a session id to correlate log lines, never enough to use it."""
    return session_id[:6] + "…"


async def _limit(runtime: Runtime, request: Request, route: str, session_id: str | None = None) -> dict[str, str]:
    limiter = runtime.components.limiter
    peer = request.client.host if request.client else None
    ip = client_ip(peer, request.headers.getall("x-forwarded-for", []), runtime.config.server.trusted_proxies)
    if limiter is None:
        cap: SessionCap | None = request.app.state.get("session_cap")
        if route == "create-session" and cap is not None and (wait := cap.hit(ip)):
            raise APIError(429, "rate_limited", f"Too many new conversations. Please wait {wait} seconds and try "
                           "again.", headers={"Retry-After": str(wait)}, retryAfter=wait)
        return {}
    try:
        decision = await limiter.hit(route, ip, session_id)
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
    length = request.headers.get("content-length", "0")
    has_body = length.strip() not in ("0", "") or "transfer-encoding" in request.headers
    if has_body and request.content_type[0].lower() != "application/json":
        raise APIError(415, "unsupported_media_type",
                       "The request body must be JSON, sent with Content-Type: application/json.")


@contextlib.asynccontextmanager
async def _store_errors() -> AsyncIterator[None]:
    try:
        yield
    except StoreUnavailable as error:
        log.error("store_unavailable", error=str(error))
        raise store_unavailable() from None


@post("/api/create-session", status_code=HTTP_201_CREATED, summary="Start a conversation",
      responses=_errors(400, 403, 413, 415, 429, 503), operation_class=_OptionalBody)
async def create_session(
    request: Request, runtime: NamedDependency[Runtime], data: JSONBody[CreateSessionBody | None] = None
) -> Response[SessionCreated]:
    headers = await _limit(runtime, request, "create-session")
    async with _store_errors():
        session = await runtime.store.create((data or CreateSessionBody()).metadata)
    expires = to_rfc3339(session.expires_at(runtime.store.ttl))
    log.info("session_created", session=redact(session.id))
    return Response(SessionCreated(session.id, expires), status_code=HTTP_201_CREATED, headers=headers)


@get("/api/session/{session_id:str}/messages", summary="A conversation's messages, oldest first",
     responses=_errors(400, 403, 404, 503))
async def get_messages(session_id: FromPath[str], runtime: NamedDependency[Runtime]) -> History:
    async with _store_errors():
        messages = await runtime.store.messages(session_id)
    if messages is None:
        raise session_not_found()
    return History(session_id, messages)


@delete("/api/session/{session_id:str}", status_code=HTTP_204_NO_CONTENT, summary="Erase a conversation",
        responses=_errors(400, 403, 404, 503))
async def delete_session(session_id: FromPath[str], runtime: NamedDependency[Runtime]) -> None:
    async with _store_errors():
        if not await runtime.store.delete(session_id):
            raise session_not_found()


@post("/api/chat", status_code=HTTP_200_OK,
      summary="Send a message; the answer as JSON, or streamed as Server-Sent Events",
      responses={200: ResponseSpec(ChatReply, description="The answer"), **_errors(400, 403, 404, 413, 415, 429, 503)},
      operation_class=_JsonOrEvents)
async def chat(
    request: Request, runtime: NamedDependency[Runtime], data: JSONBody[ChatBody]
) -> Response[ChatReply] | ServerSentEvent:
    headers = await _limit(runtime, request, "chat", data.session_id)
    text = data.message.strip()
    if not text:
        raise invalid("message", "Please type a message first.")
    limit = runtime.config.server.max_message_chars
    if len(text) > limit:
        raise APIError(413, "message_too_long", f"Your message is too long. Please keep it under {limit} characters.",
                       limit=limit)
    content = runtime.sanitizers.clean_input(text)
    if not content.strip():
        raise invalid("message", "Your message had no text left once markup was removed.")
    if len(data.locale) > 16 or not _LOCALE.match(data.locale):
        raise invalid("locale", "The field `locale` must be a language tag such as \"en\" or \"pt-BR\".")
    async with _store_errors():
        history = await _with_question(runtime, data.session_id, content)
    passages = await _ground(runtime, history)
    chat_request = _provider_request(runtime, history, request, passages, data.locale)
    if data.stream or "text/event-stream" in request.headers.get("accept", ""):
        stream = _answer_stream(runtime, data.session_id, chat_request)
        return ServerSentEvent(stream, headers={**headers, "X-Accel-Buffering": "no"})
    reply = await _answer(runtime, data.session_id, chat_request)
    return Response(ChatReply(data.session_id, reply), headers=headers)


async def _with_question(runtime: Runtime, session_id: str, content: str) -> list[Message]:
    """The recent history ending with the visitor's question, stored before any provider runs.

    Asking again what is still unanswered (a retry after every provider failed) reuses the
    stored question instead of adding it twice.
    """
    limit = runtime.config.chat.history
    history = await runtime.store.messages(session_id, limit)
    if history is None:
        raise session_not_found()
    if history and history[-1].role == "user" and history[-1].content == content:
        return history
    user = Message(id=new_message_id(), role="user", content=content, created_at=now_rfc3339())
    if not await runtime.store.append(session_id, user):
        raise session_not_found()
    return [*history, user][-limit:]


_LOCALE = re.compile(r"^(?:[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*)?$")


async def _ground(runtime: Runtime, history: list[Message]) -> list[Passage]:
    """Passages of the site for the visitor's question; none without a knowledge base."""
    knowledge = runtime.components.knowledge
    if knowledge is None:
        return []
    questions = [plain_text(m.content) for m in history if m.role == "user"]
    return await knowledge.find(search_query(questions[-1], questions[-2] if len(questions) > 1 else None))


def _provider_request(
    runtime: Runtime, history: list[Message], request: Request, passages: list[Passage], locale: str
) -> ChatRequest:
    system = [runtime.config.chat.system_prompt] if runtime.config.chat.system_prompt else []
    if passages and runtime.components.knowledge is not None:
        system.append(context_message(passages, runtime.components.knowledge.options))
    messages = [ChatMessage("system", text) for text in system]
    messages += [ChatMessage(m.role, plain_text(m.content)) for m in history if m.content]
    return ChatRequest(messages=messages, request_id=request.scope["state"].get("request_id", ""),
                       passages=passages, locale=locale)


def _sources(runtime: Runtime, content: str, passages: list[Passage]) -> list[Source]:
    """The pages behind an answer, their titles cleaned like any text the API returns."""
    clean = runtime.sanitizers.clean_output
    return [Source(clean(s.title), s.url if _WEB_URL.match(s.url) else "")
            for s in cited_sources(plain_text(content), passages)]


_WEB_URL = re.compile(r"^(?:https?://[^\s]+|/[^\s]*)$", re.I)


def _assistant(started: Started | None, content: str, usage: dict[str, Any] | None, complete: bool,
               sources: list[Source] | None = None, truncated: bool = False) -> Message:
    return Message(
        id=new_message_id(), role="assistant", content=content, created_at=now_rfc3339(),
        provider=started.provider if started else None, model=started.model if started else None,
        incomplete=not complete, fallbacks=started.fallbacks if started else [],
        usage={**(usage or {}), "ttftMs": round(started.ttft * 1000)} if started and started.ttft else usage,
        sources=sources or [], truncated=truncated,
    )


async def _save(runtime: Runtime, session_id: str, message: Message) -> None:
    """Store an answer even while the request is being cancelled (the visitor left)."""
    with anyio.CancelScope(shield=True):
        await runtime.store.append(session_id, message)
    runtime.metrics.answer(message.provider or "none", not message.incomplete)
    log.info("answered", session=redact(session_id), provider=message.provider, fallbacks=message.fallbacks,
             incomplete=message.incomplete, chars=len(message.content))


def _unavailable(error: ChainFailed) -> APIError:
    log.error("providers_unavailable", fallbacks=error.fallbacks)
    return APIError(503, "providers_unavailable", "The assistant is unavailable right now. Your message was "
                    "saved; please try again in a moment.", headers={"Retry-After": "10"})


async def _answer(runtime: Runtime, session_id: str, request: ChatRequest) -> Message:
    """The whole answer at once. Nothing has been shown, so any failure may still fail over."""
    started: Started | None = None
    parts: list[str] = []
    finished = Finished(None)
    try:
        async with contextlib.aclosing(runtime.chain.stream(request, buffered=True)) as events:
            async for event in events:
                if isinstance(event, Started):
                    started, parts = event, []
                elif isinstance(event, Finished):
                    finished = event
                else:
                    parts.append(event)
    except ChainFailed as error:
        raise _unavailable(error) from None
    content = runtime.sanitizers.clean_output("".join(parts))
    message = _assistant(started, content, finished.usage, complete=True,
                         sources=_sources(runtime, content, request.passages), truncated=finished.truncated)
    async with _store_errors():
        await _save(runtime, session_id, message)
    return message


def _event(name: str, payload: Any) -> ServerSentEventMessage:
    return ServerSentEventMessage(event=name, data=msgspec.json.encode(payload).decode())


async def _answer_stream(runtime: Runtime, session_id: str, request: ChatRequest
                         ) -> AsyncIterator[ServerSentEventMessage]:
    """queued… (while waiting for a busy provider), start, delta…, then exactly one of done or error."""
    cleaner = runtime.sanitizers.stream()
    started: Started | None = None
    message_id = new_message_id()
    try:
        async with contextlib.aclosing(runtime.chain.stream(request)) as events:
            async for event in events:
                if isinstance(event, Queued):
                    yield _event("queued", {"position": event.position})
                elif isinstance(event, Started):
                    started = event
                    yield _event("start", {"messageId": message_id, "provider": event.provider, "model": event.model})
                elif isinstance(event, Finished):
                    content = cleaner.finish()
                    message = _assistant(started, content, event.usage, complete=True,
                                         sources=_sources(runtime, content, request.passages),
                                         truncated=event.truncated)
                    if tail := cleaner.rest(message.content):
                        yield _event("delta", {"text": tail})
                elif text := cleaner.feed(event):
                    yield _event("delta", {"text": text})
    except ChainFailed as error:
        failure = _unavailable(error)
        yield _event("error", error_body(failure.code, failure.message))
        return
    except StreamBroken as broken:
        log.warning("answer_interrupted", provider=broken.started.provider, kind=broken.error.kind)
        partial = _assistant(broken.started, cleaner.finish(), None, complete=False)
        partial.id = message_id
        yield await _finish_saved(runtime, session_id, partial, _event("error", error_body(
            "stream_interrupted", "The answer was interrupted. What arrived is kept; please try again.")))
        return
    except (asyncio.CancelledError, GeneratorExit):
        if started is not None:  # the visitor left mid-answer: keep what they saw
            partial = _assistant(started, cleaner.finish(), None, complete=False)
            partial.id = message_id
            with contextlib.suppress(StoreUnavailable):
                await _save(runtime, session_id, partial)
        raise
    message.id = message_id
    yield await _finish_saved(runtime, session_id, message, _event("done", {"message": message}))


async def _finish_saved(
    runtime: Runtime, session_id: str, message: Message, terminal: ServerSentEventMessage
) -> ServerSentEventMessage:
    try:
        await _save(runtime, session_id, message)
    except StoreUnavailable:
        failure = store_unavailable()
        return _event("error", error_body(failure.code, failure.message))
    return terminal


HANDLERS = [create_session, get_messages, delete_session, chat]
