"""SDK exceptions classified as :class:`ProviderError` for the chain, with secrets removed."""

from __future__ import annotations

import re
import time
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from chatkit_core.chat.providers import ProviderError

if TYPE_CHECKING:
    import aiohttp
    import openai

_KEY_LIKE = re.compile(r"\b(sk-[A-Za-z0-9_*-]{3})[A-Za-z0-9_*-]+")


def classify(error: Exception, host: str, answered: bool, secret: str, base_url: str = "") -> ProviderError:
    """The ProviderError for ``error``; ``answered`` once the response started streaming.

    ``base_url`` (without credentials) lets a 404 that is no model error say what is wrong.
    """
    import openai

    if isinstance(error, openai.APITimeoutError):
        return ProviderError(f"timed out waiting for {host}", kind="timeout")
    if isinstance(error, openai.APIConnectionError):
        if answered:
            return ProviderError(f"the stream from {host} broke off", kind="bad_response")
        return ProviderError(f"cannot reach {host}", kind="connect")
    if isinstance(error, openai.APIStatusError):
        if error.status_code in (404, 405) and base_url and not _openai_error(error):
            return ProviderError(wrong_protocol(error, base_url), kind="not_found", retryable=False,
                                 status=error.status_code)
        return _status_error(error, host, secret)
    if isinstance(error, openai.APIError):  # an error event inside the stream
        return ProviderError(f"{host} failed mid-answer: {redact(error.message, secret)}", kind="bad_response")
    return ProviderError(f"{host} sent a chunk that is not valid JSON", kind="bad_response")


def transport_error(error: aiohttp.ClientError, host: str, answered: bool) -> ProviderError:
    """A network failure; after the answer began, a broken connection is a cut stream."""
    import aiohttp

    if isinstance(error, aiohttp.ServerTimeoutError):
        phase = "connecting to" if isinstance(error, aiohttp.ConnectionTimeoutError) else "waiting for"
        return ProviderError(f"timed out {phase} {host}", kind="timeout")
    if answered:
        return ProviderError(f"the stream from {host} broke off", kind="bad_response")
    return ProviderError(f"cannot reach {host}", kind="connect")


def _status_error(error: openai.APIStatusError, host: str, secret: str) -> ProviderError:
    status = error.status_code
    message = f"{host} answered {status}: {redact(_reason(error), secret)}"
    if status in (401, 403):
        return ProviderError(message, kind="auth", retryable=False, status=status, trip=True)
    if status == 404:
        return ProviderError(message, kind="not_found", retryable=False, status=status)
    if status == 429:
        if error.code == "insufficient_quota":  # billing, not load: waiting will not help
            return ProviderError(message, kind="rate_limited", retryable=False, status=status, trip=True)
        return ProviderError(message, kind="rate_limited", status=status, retry_after=retry_after(error))
    if status == 408:
        return ProviderError(message, kind="timeout", status=status)
    if status >= 500:
        return ProviderError(message, kind="server", status=status, retry_after=retry_after(error))
    return ProviderError(message, kind="bad_request", retryable=False, status=status)


def retry_after(error: openai.APIStatusError) -> float | None:
    """Seconds from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    headers = error.response.headers
    try:
        if milliseconds := headers.get("retry-after-ms"):
            return max(float(milliseconds) / 1000, 0.0)
        value = headers.get("retry-after")
        if not value:
            return None
        if value.strip().replace(".", "", 1).isdigit():
            return float(value)
        return max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError):
        return None


def wrong_protocol(error: openai.APIStatusError, base_url: str) -> str:
    """Why a Chat Completions route is missing, with the likely fix."""
    path = error.response.request.url.path
    said = f"{base_url} answered {error.status_code} to {path}"
    root = base_url.rstrip("/")
    if "404 page not found" in error.response.text or not root.endswith("/v1"):
        # Go's plain 404, as Ollama's native root answers
        return (f"{said}: it looks like Ollama's native API, not an OpenAI-compatible one. "
                f'Use base_url = "{root}/v1", or type = "ollama" with base_url = "{root}"')
    return f"{said}: no OpenAI-compatible API there; check base_url (it usually ends in /v1)"


def _openai_error(error: openai.APIStatusError) -> bool:
    """The body is an OpenAI error object (``model_not_found`` and the like)."""
    return isinstance(error.body, dict) and isinstance(error.body.get("message"), str)


def redact(text: str, secret: str) -> str:
    """``text`` without the key, nor anything shaped like an OpenAI key."""
    if secret:
        text = text.replace(secret, "***")
    return _KEY_LIKE.sub(r"\1***", text)


def _reason(error: openai.APIStatusError) -> str:
    body = error.body
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"]
    return error.response.reason_phrase or "error"
