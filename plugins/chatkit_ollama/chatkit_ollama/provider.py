"""The ``ollama`` provider: one pooled aiohttp session per configured provider."""

from __future__ import annotations

import base64
from collections.abc import AsyncGenerator
from typing import Any

import aiohttp
import msgspec
import structlog
from yarl import URL

from chatkit_core.chat.health import Health
from chatkit_core.chat.providers import ChatMessage, ChatRequest, Chunk, Provider, ProviderError
from chatkit_core.urls import public_url
from chatkit_ollama.errors import status_error, transport_error
from chatkit_ollama.ndjson import lines
from chatkit_ollama.options import OllamaOptions
from chatkit_ollama.proxy import env_proxy
from chatkit_ollama.pull import pull_model

log = structlog.get_logger("chatkit.ollama")


class _Message(msgspec.Struct):
    content: str = ""


class _Line(msgspec.Struct):
    """One NDJSON line of a streamed ``/api/chat`` answer."""

    message: _Message | None = None
    done: bool = False
    done_reason: str = ""
    error: str | None = None
    prompt_eval_count: int = 0
    eval_count: int = 0
    total_duration: int = 0
    load_duration: int = 0
    prompt_eval_duration: int = 0
    eval_duration: int = 0


class _Tags(msgspec.Struct):
    models: list[dict[str, Any]] = []


_decode_line = msgspec.json.Decoder(_Line).decode
_encode = msgspec.json.Encoder().encode
_JSON = {"Content-Type": "application/json"}


class OllamaProvider(Provider):
    Options = OllamaOptions
    options: OllamaOptions

    def __init__(self, name: str, options: OllamaOptions) -> None:
        super().__init__(name, options)
        self._session: aiohttp.ClientSession | None = None
        self._where = public_url(options.base_url)
        # Joined as text, so a base URL with a path prefix (a reverse proxy's) keeps it.
        base = options.base_url.rstrip("/")
        self._urls = {route: URL(base + route) for route in ("/api/chat", "/api/tags", "/api/pull")}
        # Every request: a redirect is not followed (as Ollama never sends one), and the proxy.
        self._sending: dict[str, Any] = {"allow_redirects": False, **env_proxy(URL(base))}

    async def start(self) -> None:
        options = self.options
        self._session = aiohttp.ClientSession(
            # No connection cap: past one, answers would queue until their first-token limit.
            # Idle connections wait in a per-host queue taken from its end, so keeping many is cheap.
            connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=5.0),
            # No total limit: the chain bounds the first token and each gap between chunks.
            timeout=aiohttp.ClientTimeout(sock_connect=options.connect_timeout, sock_read=options.read_timeout),
        )
        if options.pull_on_start:
            await self._pull_if_missing()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def stream(self, request: ChatRequest) -> AsyncGenerator[Chunk, None]:
        body = {
            "model": self.options.model,
            "messages": [_message(m) for m in request.messages],
            "stream": True,
            "options": self.options.model_options(request.max_tokens or self.options.max_tokens or None),
        }
        if self.options.keep_alive is not None:
            body["keep_alive"] = self.options.keep_alive
        answered = False
        try:
            async with self._http().post(
                self._urls["/api/chat"], data=_encode(body), headers=_JSON, **self._sending
            ) as response:
                answered = True
                if response.status >= 400:
                    raise status_error(response, await response.read(), self.options.model, self._where)
                final: _Line | None = None
                async for raw in lines(response.content):
                    line = _parse(raw)
                    if final is not None:
                        continue
                    if line.message and line.message.content:
                        yield Chunk(text=line.message.content)
                    if line.done:
                        final = line
                if final is None:
                    raise ProviderError("Ollama's stream ended without its done line", kind="bad_response")
                yield Chunk(usage=_usage(final), truncated=final.done_reason == "length")
        except aiohttp.ClientError as error:
            raise transport_error(error, self._where, answered) from error

    async def health(self) -> Health:
        try:
            models = await self._models()
        except ProviderError as error:
            return Health("down", str(error))
        wanted = _tagged(self.options.model)
        if wanted not in models:
            return Health("down", f"model {wanted} is not pulled; run `ollama pull {self.options.model}`")
        return Health("up", f"model {wanted} is available")

    async def _models(self) -> set[str]:
        """Names (with tags) of the models Ollama has, from ``GET /api/tags``."""
        wait = aiohttp.ClientTimeout(sock_connect=self.options.connect_timeout, sock_read=self.options.connect_timeout)
        try:
            async with self._http().get(self._urls["/api/tags"], timeout=wait, **self._sending) as response:
                content = await response.read()
        except aiohttp.ClientError as error:
            raise transport_error(error, self._where, answered=False) from error
        if response.status >= 400:
            raise status_error(response, content, self.options.model, self._where)
        try:
            tags = msgspec.json.decode(content, type=_Tags)
        except msgspec.DecodeError:
            raise ProviderError("Ollama's model list is not valid JSON", kind="bad_response") from None
        return {_tagged(str(entry.get("model") or entry.get("name", ""))) for entry in tags.models}

    async def _pull_if_missing(self) -> None:
        """Pull the model when it is missing; an unreachable Ollama is left to the chain."""
        try:
            if _tagged(self.options.model) in await self._models():
                return
            await pull_model(self._http(), self._urls["/api/pull"], self.options.model, self._where, self._sending)
        except ProviderError as error:
            log.warning("ollama_pull_skipped", provider=self.name, model=self.options.model, reason=str(error))

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError(f"provider {self.name!r} used before start()")
        return self._session


def _message(message: ChatMessage) -> dict[str, Any]:
    """A message as Ollama's ``/api/chat`` takes it: a vision model's images base64-encoded beside the text."""
    sent: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.images:
        sent["images"] = [base64.b64encode(image.data).decode("ascii") for image in message.images]
    return sent


def _parse(raw: bytes) -> _Line:
    try:
        line = _decode_line(raw)
    except msgspec.DecodeError:
        raise ProviderError("Ollama sent a line that is not valid JSON", kind="bad_response") from None
    if line.error is not None:
        raise ProviderError(f"Ollama failed mid-answer: {line.error}", kind="bad_response")
    return line


def _usage(final: _Line) -> dict[str, Any]:
    return {
        "prompt_tokens": final.prompt_eval_count,
        "completion_tokens": final.eval_count,
        "total_tokens": final.prompt_eval_count + final.eval_count,
        "done_reason": final.done_reason,
        "total_duration_ns": final.total_duration,
        "load_duration_ns": final.load_duration,
        "prompt_eval_duration_ns": final.prompt_eval_duration,
        "eval_duration_ns": final.eval_duration,
    }


def _tagged(name: str) -> str:
    """Ollama's full model name: ``llama3.2`` means ``llama3.2:latest``."""
    return name if ":" in name else f"{name}:latest"
