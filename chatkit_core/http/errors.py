"""Every error the API sends has one shape: ``{"error": {"code", "message", ...}}``.

Messages are sentences a site visitor can read. Nothing from an exception's text, a
stack trace or an upstream's reply reaches them.
"""

from __future__ import annotations

import errno
import re
from collections.abc import Callable
from typing import Any

import msgspec
import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import ASGIApp, HTTPResponseBodyEvent, HTTPResponseStartEvent, Receive, Scope, Send

from chatkit_core.chat import errors as chat_errors
from chatkit_core.chat.errors import (
    AlreadyClaimed,
    ChatError,
    ConversationNotFound,
    ConversationsUnavailable,
    HandoffClosed,
    InvalidRequest,
    MessageNotFound,
    MessageTooLong,
    NotClaimed,
    NotSupported,
    ProvidersUnavailable,
    SessionNotFound,
    StreamInterrupted,
    TooManyStreams,
)
from chatkit_core.chat.uploads import (
    AttachmentNotFound,
    FileTooLarge,
    TooManyAttachments,
    UnreadableFile,
    UnsupportedFile,
    UploadsBusy,
)
from chatkit_core.http.routing import template_of

log = structlog.get_logger("chatkit.errors")


class APIError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None,
                 **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.extra = extra


# The conversation's errors as HTTP answers: status and headers (the code and message are its own).
CHAT_ERRORS: dict[type[ChatError], tuple[int, dict[str, str]]] = {
    InvalidRequest: (400, {}),
    SessionNotFound: (404, {}),
    MessageNotFound: (404, {}),
    MessageTooLong: (413, {}),
    NotSupported: (501, {}),
    ProvidersUnavailable: (503, {"Retry-After": "10"}),
    StreamInterrupted: (503, {}),
    ConversationsUnavailable: (503, {"Retry-After": "5"}),
    ConversationNotFound: (404, {}),
    AlreadyClaimed: (409, {}),
    NotClaimed: (409, {}),
    HandoffClosed: (409, {}),
    TooManyStreams: (429, {"Retry-After": "30"}),
    UnsupportedFile: (415, {}),
    FileTooLarge: (413, {}),
    UnreadableFile: (422, {}),
    TooManyAttachments: (400, {}),
    AttachmentNotFound: (404, {}),
    UploadsBusy: (503, {"Retry-After": "5"}),
}


def api_error(error: ChatError) -> APIError:
    status, headers = CHAT_ERRORS.get(type(error), (500, {}))
    return APIError(status, error.code, error.message, headers=headers, **error.details)


def invalid(field: str | None, message: str) -> APIError:
    return api_error(chat_errors.invalid(field, message))


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


def respond(error: APIError) -> Response:
    return Response(error_body(error.code, error.message, **error.extra), status_code=error.status,
                    headers=error.headers)


_STATUS_CODES = {
    400: ("invalid_request", "The request body is not valid JSON."),
    404: ("not_found", "There is nothing at this address."),
    405: ("method_not_allowed", "This address does not accept that method."),
    413: ("body_too_large", "The request is too large."),
    415: ("unsupported_media_type", "The request body must be JSON, sent as Content-Type: application/json."),
}


def error_app(status: int, code: str | None = None, message: str | None = None) -> ASGIApp:
    """An ASGI app answering every request with one error, for layers outside Litestar's routing."""
    default_code, default_message = _STATUS_CODES.get(status, ("error", "The request could not be completed."))
    body = msgspec.json.encode(error_body(code or default_code, message or default_message))
    start: HTTPResponseStartEvent = {"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]}
    whole: HTTPResponseBodyEvent = {"type": "http.response.body", "body": body, "more_body": False}

    async def answer(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start)
        await send(whole)

    return answer


def _describe(error: ValidationException) -> APIError:
    """A visitor-readable 400 naming the body field, from Litestar's msgspec details."""
    details = [item for item in (error.extra or []) if isinstance(item, dict)] if isinstance(error.extra, list) else []
    for item in details:
        message, key = str(item.get("message", "")), str(item.get("key") or "")
        missing = re.search(r"missing required field `([^`]+)`", message)
        if missing:
            return invalid(missing[1], f"The field `{missing[1]}` is required.")
        expected = re.search(r"Expected `([^`]+)`", message)
        if key and key != "data" and "of length >= 1" in message:
            return invalid(key, f"The field `{key}` must not be empty.")
        if key and key != "data" and re.search(r"of length|matching regex", message):
            return invalid(key, f"The field `{key}` is too long or not in the expected form.")
        if key and key != "data":
            kind = f" (expected {expected[1]})" if expected else ""
            return invalid(key, f"The field `{key}` has the wrong type{kind}.")
        if expected:
            return invalid(None, f"The request body must be a JSON {expected[1]}.")
    return invalid(None, "The request body is missing.")


def handle_api_error(request: Request, error: APIError) -> Response:
    return respond(error)


def handle_chat_error(request: Request, error: ChatError) -> Response:
    return respond(api_error(error))


def handle_http_exception(request: Request, error: HTTPException) -> Response:
    if isinstance(error, ValidationException):
        return respond(_describe(error))
    if error.status_code >= 500 and _bad_file_path(request, error):
        return respond(APIError(404, *_STATUS_CODES[404]))
    code, message = _STATUS_CODES.get(error.status_code, ("error", "The request could not be completed."))
    if error.status_code >= 500:
        code, message = "internal_error", "Something went wrong on our side. Please try again."
    return Response(error_body(code, message), status_code=error.status_code, headers=error.headers or {})


def handle_undecodable(request: Request, error: UnicodeDecodeError | RecursionError) -> Response:
    """msgspec raises these, not a DecodeError, for invalid UTF-8 and for very deep nesting."""
    if isinstance(error, RecursionError):
        return respond(invalid(None, "The request body is nested too deeply."))
    return respond(invalid(None, "The request body is not valid UTF-8 JSON."))


def _bad_file_path(request: Request, error: Exception) -> bool:
    """Static files hand the path to the OS, which refuses a NUL byte (ValueError) and an
    over-long name (OSError, which Litestar wraps in a 500): nothing is at such an address."""
    cause = error.__cause__ if isinstance(error, HTTPException) else error
    too_long = isinstance(cause, OSError) and cause.errno == errno.ENAMETOOLONG
    return too_long or "\x00" in request.scope["path"]


def handle_value_error(request: Request, error: ValueError) -> Response:
    if _bad_file_path(request, error):
        return respond(APIError(404, *_STATUS_CODES[404]))
    return handle_unexpected(request, error)


def handle_unexpected(request: Request, error: Exception) -> Response:
    log.exception("unhandled_error", route=template_of(request.scope))  # never a session id
    return Response(error_body("internal_error", "Something went wrong on our side. Please try again."),
                    status_code=500)


EXCEPTION_HANDLERS: dict[int | type[Exception], Callable[[Request, Any], Response]] = {
    APIError: handle_api_error,
    ChatError: handle_chat_error,
    HTTPException: handle_http_exception,
    UnicodeDecodeError: handle_undecodable,
    RecursionError: handle_undecodable,
    ValueError: handle_value_error,
    Exception: handle_unexpected,
}
