"""A fake OpenAI API server speaking the Chat Completions wire format byte for byte.

    with FakeOpenAI(api_key="sk-test") as openai:
        openai.script(Script(status=429, retry_after="2"), Script(text="Hi there"))
        ...  # point a client at openai.url + "/v1"

``FakeOpenAI(vision=["gpt-4o-mini"])`` takes ``image_url`` content parts for those models and refuses
them for others with the API's 400; ``openai.images()`` are the ``data:`` images it received.

Routes: ``POST /v1/embeddings`` (floats or base64 float32, see :mod:`tests.fakes.vectors`),
``POST /v1/chat/completions`` (SSE ``data: {chunk}`` frames ending with
``data: [DONE]``, a usage chunk when ``stream_options.include_usage``; or one JSON object)
and ``GET /v1/models``. Errors carry OpenAI's ``{"error": {message, type, param, code}}``.
"""

from __future__ import annotations

import base64
import json
import struct
import time
import uuid
from collections.abc import Iterable
from typing import Any

from tests.fakes.server import FakeServer, Frames, Recorded, Responder, Script, arrive, play
from tests.fakes.vectors import DIMENSIONS, embed

# status -> (message, type, code)
DEFAULT_ERRORS: dict[int, tuple[str, str, str | None]] = {
    400: ("Invalid value for 'messages'.", "invalid_request_error", None),
    401: (
        "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
        "invalid_request_error",
        "invalid_api_key",
    ),
    403: ("You are not allowed to sample from this model", "invalid_request_error", None),
    404: (
        "The model `{model}` does not exist or you do not have access to it.",
        "invalid_request_error",
        "model_not_found",
    ),
    429: (
        "Rate limit reached for {model} on requests per min (RPM): Limit 3, Used 3, Requested 1. "
        "Please try again in 20s.",
        "requests",
        "rate_limit_exceeded",
    ),
    500: ("The server had an error while processing your request. Sorry about that!", "server_error", None),
    503: ("The engine is currently overloaded, please try again later.", "server_error", None),
}


class FakeOpenAI(FakeServer):
    chat_path = "/v1/chat/completions"

    def __init__(
        self,
        models: Iterable[str] = ("gpt-4o-mini",),
        api_key: str | None = None,
        accept_stream_options: bool = True,
        vision: Iterable[str] = (),
    ) -> None:
        super().__init__()
        self.models = list(models)
        self.vision = set(vision)
        """Models that take ``image_url`` content parts; others refuse them with OpenAI's 400."""
        self.api_key = api_key
        """When set, requests without ``Authorization: Bearer <api_key>`` get 401."""
        self.accept_stream_options = accept_stream_options
        """False: answer 400 to ``stream_options``, as some compatible servers do."""

    async def handle(self, request: Recorded, respond: Responder) -> None:
        if self.api_key is not None and request.headers.get("authorization") != f"Bearer {self.api_key}":
            sent = request.headers.get("authorization", "").removeprefix("Bearer ")
            masked = sent[:8] + "*" * max(len(sent) - 12, 0) + sent[-4:]
            await _error(
                respond,
                Script(
                    status=401,
                    error=f"Incorrect API key provided: {masked}. You can find "
                    "your API key at https://platform.openai.com/account/api-keys.",
                ),
            )
            return
        route = (request.method, request.path)
        if route == ("POST", self.chat_path):
            await self._chat(request, respond)
        elif route == ("GET", "/v1/models"):
            await self._models(respond, self.next_script("/v1/models"))
        elif route == ("POST", "/v1/embeddings"):
            await self._embeddings(request, respond)
        else:
            await _error(respond, Script(status=404, error=f"Invalid URL ({request.method} {request.path})"))

    async def _chat(self, request: Recorded, respond: Responder) -> None:
        script = self.next_script(self.chat_path)
        body = request.json
        model = body.get("model", "")
        if not await arrive(respond, script):
            return
        if script.status >= 400:
            await _error(respond, script, model)
            return
        if model not in self.models:
            await _error(respond, Script(status=404), model)
            return
        if (refusal := self._parts_problem(body, model)) is not None:
            await _error(respond, Script(status=400, error=refusal), param="messages")
            return
        if body.get("stream_options") and not self.accept_stream_options:
            await _error(
                respond,
                Script(status=400, error="Unrecognized request argument supplied: stream_options"),
                param="stream_options",
            )
            return
        completion = _Completion(model, body)
        if not body.get("stream"):
            await respond.json(200, None, [("x-request-id", completion.request_id)], raw=completion.whole(script))
            return
        pieces, reason = script.capped(body.get("max_completion_tokens") or body.get("max_tokens"))
        frames = Frames(
            content_type="text/event-stream; charset=utf-8",
            headers=[("x-request-id", completion.request_id), ("openai-processing-ms", "187")],
            opening=[completion.chunk({"role": "assistant", "content": "", "refusal": None})],
            chunks=[completion.chunk({"content": piece}) for piece in pieces],
            final=completion.final(len(pieces), reason),
            error=_event({"error": _error_body(script.error or DEFAULT_ERRORS[500][0], "server_error", None, None)}),
            malformed=b'data: {"id":"' + completion.id.encode() + b'","object":"chat.completion.chunk","cho\n\n',
        )
        await play(respond, script, frames)

    async def _embeddings(self, request: Recorded, respond: Responder) -> None:
        """OpenAI's embeddings: floats, or little-endian float32 in base64 (the SDK's default)."""
        script = self.next_script("/v1/embeddings")
        body = request.json
        model = body.get("model", "")
        if not await arrive(respond, script):
            return
        if script.status >= 400:
            await _error(respond, script, model)
            return
        if model not in self.models:
            await _error(respond, Script(status=404), model)
            return
        texts = body.get("input", [])
        texts = [texts] if isinstance(texts, str) else texts
        vectors = [embed(text, body.get("dimensions") or DIMENSIONS) for text in texts]
        as_base64 = body.get("encoding_format") == "base64"
        data = [{"object": "embedding", "index": index,
                 "embedding": base64.b64encode(struct.pack(f"<{len(v)}f", *v)).decode() if as_base64 else v}
                for index, v in enumerate(vectors)]
        tokens = sum(len(text.split()) for text in texts)
        await respond.json(200, {"object": "list", "data": data, "model": model,
                                 "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

    def _parts_problem(self, body: dict[str, Any], model: str) -> str | None:
        """Why the API would refuse a message's content parts (``text``, ``image_url``)."""
        for message in body.get("messages", []):
            content = message.get("content")
            if isinstance(content, str):
                continue
            for part in content if isinstance(content, list) else [None]:
                kind = part.get("type") if isinstance(part, dict) else None
                if kind == "text" and isinstance(part.get("text"), str):
                    continue
                url = (part.get("image_url") or {}).get("url", "") if kind == "image_url" else ""
                if not url.startswith(("data:image/", "https://")):
                    return "Invalid content: each part must be text or an image_url with a URL."
                if model not in self.vision:
                    return "Invalid content type. image_url is only supported by certain models."
        return None

    def images(self) -> list[tuple[str, bytes]]:
        """Every ``data:`` image the chat requests carried: its media type and bytes, in order."""
        found = []
        for request in self.chat_requests():
            for message in request.json.get("messages", []):
                for part in message["content"] if isinstance(message.get("content"), list) else []:
                    url = part.get("image_url", {}).get("url", "") if part.get("type") == "image_url" else ""
                    if url.startswith("data:"):
                        head, _, data = url.partition(",")
                        found.append((head.removeprefix("data:").removesuffix(";base64"), base64.b64decode(data)))
        return found

    async def _models(self, respond: Responder, script: Script) -> None:
        if not await arrive(respond, script):
            return
        if script.status >= 400:
            await _error(respond, script)
        else:
            data = [{"id": m, "object": "model", "created": 1721172741, "owned_by": "system"} for m in self.models]
            await respond.json(200, {"object": "list", "data": data})


class _Completion:
    """The chunks of one streamed completion, sharing id, timestamp and fingerprint."""

    def __init__(self, model: str, body: dict[str, Any]) -> None:
        self.model = model
        self.id = "chatcmpl-" + uuid.uuid4().hex[:29]
        self.request_id = "req_" + uuid.uuid4().hex
        self.created = int(time.time())
        self.include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        self.prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", [])) + 8

    def _head(self, kind: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": kind,
            "created": self.created,
            "model": self.model,
            "service_tier": "default",
            "system_fingerprint": "fp_b8bc95a0ac",
        }

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        payload = self._head("chat.completion.chunk") | {"choices": [choice]}
        if self.include_usage:
            payload["usage"] = None
        return _event(payload)

    def usage(self, completion: int) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": self.prompt_tokens + completion,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    def final(self, completion: int, reason: str = "stop") -> list[bytes]:
        frames = [self.chunk({}, reason)]
        if self.include_usage:
            usage = {"choices": [], "usage": self.usage(completion)}
            frames.append(_event(self._head("chat.completion.chunk") | usage))
        return [*frames, b"data: [DONE]\n\n"]

    def whole(self, script: Script) -> bytes:
        message = {"role": "assistant", "content": script.text, "refusal": None, "annotations": []}
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}
        payload = self._head("chat.completion") | {"choices": [choice], "usage": self.usage(len(script.pieces()))}
        return json.dumps(payload, indent=2).encode() + b"\n"


async def _error(respond: Responder, script: Script, model: str = "", param: str | None = None) -> None:
    message, kind, code = DEFAULT_ERRORS.get(script.status, ("Error", "server_error", None))
    body = {"error": _error_body((script.error or message).replace("{model}", model), kind, param, code)}
    headers = [("retry-after", script.retry_after)] if script.retry_after else []
    await respond.json(script.status, None, headers, raw=json.dumps(body, indent=4).encode() + b"\n")


def _error_body(message: str, kind: str, param: str | None, code: str | None) -> dict[str, Any]:
    return {"message": message, "type": kind, "param": param, "code": code}


def _event(payload: Any) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"
