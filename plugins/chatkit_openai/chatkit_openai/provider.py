"""The ``openai`` provider: the SDK's client for what a request carries and what its errors mean,
one pooled aiohttp session for the bytes (:mod:`chatkit_openai.transport`), retries left to the chain."""

from __future__ import annotations

import base64
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import msgspec
import structlog

from chatkit_core.chat.health import Health
from chatkit_core.chat.providers import ChatMessage, ChatRequest, Chunk, Provider, ProviderError
from chatkit_core.urls import public_host, public_url
from chatkit_openai.errors import classify, redact, transport_error
from chatkit_openai.options import OpenAIOptions
from chatkit_openai.sse import DECODER, events

if TYPE_CHECKING:
    import aiohttp
    import openai

    from chatkit_openai.transport import Transport

log = structlog.get_logger("chatkit.openai")

# The SDK is imported where it is used, not with the plugin: it costs every worker about
# 20 MB and a third of a second at start-up, even with no OpenAI provider in the chain.


class OpenAIProvider(Provider):
    Options = OpenAIOptions
    options: OpenAIOptions

    def __init__(self, name: str, options: OpenAIOptions) -> None:
        super().__init__(name, options)
        self._client: openai.AsyncOpenAI | None = None
        self._transport: Transport | None = None
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

        from chatkit_openai.transport import Transport  # aiohttp too, only once an openai provider runs

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
        self._transport = Transport(self._client, options)

    async def close(self) -> None:
        if self._transport is not None:
            await self._transport.close()
            self._transport = None
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def stream(self, request: ChatRequest) -> AsyncGenerator[Chunk, None]:
        import aiohttp
        import openai

        answered = False
        try:
            messages = [_message(m) for m in request.messages]
            async with self._create(messages, request.max_tokens or self.options.max_tokens) as response:
                answered = True
                finish_reason = None
                usage: dict[str, Any] = {}
                done = False
                async for name, data in events(response.content.iter_any()):
                    # Read on past ``[DONE]`` to the end of the body, so the connection is reused.
                    done = done or data.startswith(b"[DONE]")
                    if done:
                        continue
                    event = DECODER.decode(data)
                    if event.error is not None or name == b"error":
                        message = event.error.message if event.error else data.decode(errors="replace")
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
        except aiohttp.ClientError as error:
            raise transport_error(error, self._host, answered) from None
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
    async def _create(self, messages: list[dict[str, Any]], max_tokens: int | None,
                      ) -> AsyncIterator[aiohttp.ClientResponse]:
        """The raw streamed response, dropping ``stream_options`` if the server refuses it.

        The body is encoded with msgspec and the answer read raw: ``chat.completions.create``
        checks and transforms every parameter and builds a pydantic object per chunk, costing
        more CPU than the rest of the request.
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
    async def _post(self, body: dict[str, Any]) -> AsyncIterator[aiohttp.ClientResponse]:
        if self._transport is None:
            raise RuntimeError(f"provider {self.name!r} used before start()")
        async with self._transport.post(_encode(body)) as response:
            yield response

    def _sdk(self) -> openai.AsyncOpenAI:
        if self._client is None:
            raise RuntimeError(f"provider {self.name!r} used before start()")
        return self._client


_encode = msgspec.json.Encoder().encode


def _message(message: ChatMessage) -> dict[str, Any]:
    """A message as Chat Completions takes it: with images, its content is a list of parts, the
    text first (none when the visitor sent images alone), then each image as a ``data:`` URL."""
    if not message.images:
        return {"role": message.role, "content": message.content}
    parts: list[dict[str, Any]] = [{"type": "text", "text": message.content}] if message.content else []
    parts += [{"type": "image_url", "image_url": {
        "url": f"data:{image.media_type};base64,{base64.b64encode(image.data).decode('ascii')}"}}
        for image in message.images]
    return {"role": message.role, "content": parts}
