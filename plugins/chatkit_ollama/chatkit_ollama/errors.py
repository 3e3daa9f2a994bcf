"""Ollama failures classified as :class:`ProviderError` for the chain."""

from __future__ import annotations

import re

import aiohttp
import msgspec

from chatkit_core.chat.providers import ProviderError

_MODEL_NOT_FOUND = re.compile(r"model .*not found")


class _ErrorBody(msgspec.Struct):
    error: str | dict[str, object] = ""
    """Ollama's is a string; OpenAI-compatible servers send an object (``{"message": ...}``)."""
    detail: object = None
    """What vLLM (FastAPI) sends instead."""


def status_error(response: aiohttp.ClientResponse, content: bytes, model: str, base_url: str = "") -> ProviderError:
    """An HTTP error answer; its ``{"error": ...}`` body (``content``) gives the reason.

    ``base_url`` is shown as is: pass it through :func:`chatkit_core.urls.public_url` first.
    """
    status = response.status
    body = _body(content)
    reason = _reason(body, content) or response.reason or ""
    if status == 404 and _MODEL_NOT_FOUND.search(reason):
        return ProviderError(
            f"Ollama does not have model {model!r} ({reason}); run `ollama pull {model}`",
            kind="not_found",
            retryable=False,
            status=status,
        )
    if status in (404, 405) and base_url:
        return ProviderError(wrong_protocol(response, body, base_url), kind="not_found", retryable=False,
                             status=status)
    message = f"Ollama answered {status}: {reason}"
    if status in (401, 403):
        return ProviderError(message, kind="auth", retryable=False, status=status, trip=True)
    if status == 429:
        return ProviderError(
            message, kind="rate_limited", status=status, retry_after=retry_after(response.headers.get("retry-after"))
        )
    if status >= 500:
        return ProviderError(message, kind="server", status=status)
    return ProviderError(message, kind="bad_request", retryable=False, status=status)


def transport_error(error: aiohttp.ClientError, base_url: str, answered: bool) -> ProviderError:
    """A network failure; after the answer began, a broken connection is a cut stream.

    ``base_url`` is shown as is: pass it through :func:`chatkit_core.urls.public_url` first.
    """
    if isinstance(error, aiohttp.ServerTimeoutError):
        phase = "connecting to" if isinstance(error, aiohttp.ConnectionTimeoutError) else "waiting for"
        return ProviderError(f"timed out {phase} Ollama at {base_url}", kind="timeout")
    if answered:
        return ProviderError(f"Ollama's stream broke off: {type(error).__name__}", kind="bad_response")
    return ProviderError(f"cannot reach Ollama at {base_url}: {type(error).__name__}", kind="connect")


def retry_after(value: str | None) -> float | None:
    try:
        return max(float(value), 0.0) if value else None
    except ValueError:
        return None


def wrong_protocol(response: aiohttp.ClientResponse, body: _ErrorBody | None, base_url: str) -> str:
    """Why a route of Ollama's native API is missing, with the likely fix."""
    path = response.url.path
    openai_like = body is not None and (isinstance(body.error, dict) or body.detail is not None)
    looks = "it looks like an OpenAI-compatible server, not Ollama" if openai_like else "Ollama's API is not there"
    root = base_url.rstrip("/").removesuffix("/v1")
    return (f"{base_url} answered {response.status} to {path}: {looks}. "
            f'For an OpenAI-compatible server (llama.cpp, vLLM, LM Studio) use type = "openai" with '
            f'base_url = "{root}/v1"; for Ollama, base_url is its root ("http://host:11434", no /v1)')


def _body(content: bytes) -> _ErrorBody | None:
    try:
        return msgspec.json.decode(content, type=_ErrorBody)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def _reason(body: _ErrorBody | None, content: bytes) -> str:
    if body is None:
        return content.decode(errors="replace").strip()[:200]
    if isinstance(body.error, dict):
        return str(body.error.get("message", ""))[:200]
    return body.error or (str(body.detail)[:200] if body.detail is not None else "")
