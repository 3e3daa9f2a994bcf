"""The ``openai`` provider: one SDK client per configured provider, retries left to the chain."""

from __future__ import annotations

import base64
import importlib
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import msgspec
import structlog

from chatkit_core.chat.health import Health
from chatkit_core.chat.providers import ChatMessage, ChatRequest, Chunk, Provider, ProviderError
from chatkit_core.urls import public_host, public_url
from chatkit_openai.errors import classify, redact
from chatkit_openai.options import OpenAIOptions
from chatkit_openai.sse import DECODER, events

if TYPE_CHECKING:
    import openai

log = structlog.get_logger("chatkit.openai")

# The SDK is imported where it is used, not with the plugin: it costs every worker about
# 20 MB and a third of a second at start-up, even with no OpenAI provider in the chain.


class OpenAIProvider(Provider):
    Options = OpenAIOptions
    options: OpenAIOptions

    def __init__(self, name: str, options: OpenAIOptions) -> None:
        super().__init__(name, options)
        self._client: openai.AsyncOpenAI | None = None
        self._usage_option = True
        """Ask for a usage chunk until the server refuses ``stream_options``."""
        self._host = public_host(options.base_url)
        """Where errors say the failure was: no credentials, even if the URL holds some."""
        self._where = public_url(options.base_url)

    def problems(self) -> list[str]:
        if self.options.is_openai and not self.options.configured_key():
            return ["no API key for api.openai.com: set api_key or OPENAI_API_KEY"]
        return []

    async def start(self) -> None:
        import openai

        options = self.options
        timeout = openai.Timeout(options.read_timeout, connect=options.connect_timeout)
        self._client = openai.AsyncOpenAI(
            api_key=options.resolved_key(),
            organization=options.organization or None,
            base_url=options.base_url,
            max_retries=0,
            timeout=timeout,
            # httpx transports make no retries of their own either: the chain owns them.
            http_client=openai.DefaultAsyncHttpxClient(timeout=timeout),
        )

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def stream(self, request: ChatRequest) -> AsyncGenerator[Chunk, None]:
        import openai

        http = _http_module()
        answered = False
        try:
            messages = [_message(m) for m in request.messages]
            async with self._create(messages, request.max_tokens or self.options.max_tokens) as response:
                answered = True
                finish_reason = None
                usage: dict[str, Any] = {}
                done = False
                async for name, data in events(response.aiter_lines()):
                    # Read on past ``[DONE]`` to the end of the body, so the connection is reused.
                    done = done or data.startswith("[DONE]")
                    if done:
                        continue
                    event = DECODER.decode(data)
                    if event.error is not None or name == "error":
                        message = event.error.message if event.error else data
                        raise ProviderError(f"{self._host} failed mid-answer: "
                                            f"{redact(message, self.options.resolved_key())}", kind="bad_response")
                    if event.usage is not None:
                        usage = {key: value for key, value in event.usage.items() if value is not None}
                    if not event.choices:
                        continue
                    choice = event.choices[0]
                    if choice.delta is not None and choice.delta.content:
                        yield Chunk(text=choice.delta.content)
                    finish_reason = choice.finish_reason or finish_reason
            if finish_reason is None:
                raise ProviderError(f"the stream from {self._host} ended before it finished", kind="bad_response")
            yield Chunk(usage={**usage, "finish_reason": finish_reason}, truncated=finish_reason == "length")
        except openai.OpenAIError as error:
            # ``from None``: the SDK's exception holds the request, whose headers hold the key.
            raise classify(error, self._host, answered, self.options.resolved_key(), self._where) from None
        except http.TimeoutException:
            raise ProviderError(f"timed out waiting for {self._host}", kind="timeout") from None
        except http.TransportError:
            raise ProviderError(f"the stream from {self._host} broke off", kind="bad_response") from None
        except msgspec.DecodeError:
            raise ProviderError(f"{self._host} sent a chunk that is not valid JSON", kind="bad_response") from None

    async def health(self) -> Health:
        import openai

        try:
            page = await self._sdk().with_options(timeout=self.options.connect_timeout).models.list()
        except openai.OpenAIError as error:
            problem = classify(error, self._host, False, self.options.resolved_key(), self._where)
            return Health("down", str(problem))
        listed = any(model.id == self.options.model for model in page.data)
        return Health("up", f"model {self.options.model} {'listed' if listed else 'not listed'} by {self._host}")

    @asynccontextmanager
    async def _create(self, messages: list[dict[str, Any]], max_tokens: int | None) -> AsyncIterator[Any]:
        """The raw streamed response, dropping ``stream_options`` if the server refuses it.

        The SDK's client sends the request, authenticates and raises its errors, but the body
        is encoded with msgspec and read raw: ``chat.completions.create`` checks and transforms
        every parameter and builds a pydantic object per chunk, costing more CPU than the rest
        of the request.
        """
        import openai

        options = self.options
        body: dict[str, Any] = {"model": options.model, "messages": messages, "stream": True,
                                **options.sampling(max_tokens)}
        if self._usage_option:
            try:
                usage = {"stream_options": {"include_usage": True}}
                async with self._post({**body, **usage, **options.extra_body}) as response:
                    yield response
                return
            except openai.BadRequestError as error:
                if "stream_options" not in f"{error.param} {error.message}":
                    raise
                self._usage_option = False
                log.info("openai_stream_options_refused", provider=self.name, host=self._host)
        async with self._post({**body, **options.extra_body}) as response:
            yield response

    @asynccontextmanager
    async def _post(self, body: dict[str, Any]) -> AsyncIterator[Any]:
        response = await self._sdk().post("/chat/completions", cast_to=_http_module().Response,
                                          content=msgspec.json.encode(body), stream=True)
        try:
            yield response
        finally:
            await response.aclose()

    def _sdk(self) -> openai.AsyncOpenAI:
        if self._client is None:
            raise RuntimeError(f"provider {self.name!r} used before start()")
        return self._client


def _message(message: ChatMessage) -> dict[str, Any]:
    """A message as Chat Completions takes it: with images, its content is a list of parts, the
    text first, then each image as a ``data:`` URL."""
    if not message.images:
        return {"role": message.role, "content": message.content}
    parts: list[dict[str, Any]] = [{"type": "text", "text": message.content}]
    parts += [{"type": "image_url", "image_url": {
        "url": f"data:{image.media_type};base64,{base64.b64encode(image.data).decode('ascii')}"}}
        for image in message.images]
    return {"role": message.role, "content": parts}


def _http_module() -> Any:
    """The HTTP library the SDK's client is built on (``httpx`` or a fork), for its read errors."""
    import openai

    return importlib.import_module(openai.DefaultAsyncHttpxClient.__mro__[1].__module__.partition(".")[0])
