"""A fake Ollama server speaking the native API byte for byte.

    with FakeOllama(models=["llama3.2"]) as ollama:
        ollama.script(Script(status=503), Script(text="Hi there"))
        ...  # point a client at ollama.url
        assert ollama.chat_requests()[0].json["model"] == "llama3.2"

``FakeOllama(vision=["llava"])`` takes images (``images``: base64 strings on a message) for those
models and refuses them for others, as Ollama does; ``ollama.images()`` are the images it received.

Routes: ``POST /api/chat`` (NDJSON stream, or one JSON object with ``"stream": false``),
``POST /api/embed`` (``{"embeddings": [[...], ...]}``, see :mod:`tests.fakes.vectors`),
``GET /api/tags``, ``POST /api/pull`` (NDJSON progress), ``GET /api/version`` and ``GET /``.
Bodies are encoded as Go's encoding/json does: compact, HTML characters escaped.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterable
from typing import Any

from tests.fakes.server import FakeServer, Frames, Recorded, Responder, Script, arrive, play
from tests.fakes.vectors import embed

DEFAULT_ERRORS = {
    400: "invalid options: unknown option",
    401: "unauthorized",
    429: "too many requests",
    500: "llama runner process has terminated: exit status 2",
    502: "bad gateway",
    503: "server busy, please try again.  maximum pending requests exceeded",
}


class FakeOllama(FakeServer):
    chat_path = "/api/chat"

    def __init__(self, models: Iterable[str] = ("llama3.2",), pullable: Iterable[str] | None = None,
                 vision: Iterable[str] = ()) -> None:
        super().__init__()
        self.models = [_tagged(name) for name in models]
        self.vision = {_tagged(name) for name in vision}
        """Models that take images; any other answers images with Ollama's 400."""
        self.pullable = None if pullable is None else {_tagged(name) for name in pullable}
        """Models ``/api/pull`` can fetch; ``None``: any."""

    async def handle(self, request: Recorded, respond: Responder) -> None:
        route = (request.method, request.path)
        if route == ("POST", "/api/chat"):
            await self._chat(request, respond)
        elif route == ("POST", "/api/embed"):
            await self._embed(request, respond)
        elif route == ("GET", "/api/tags"):
            script = self.next_script("/api/tags")
            if await arrive(respond, script):
                await self._simple(respond, script, {"models": [_entry(m) for m in self.models]})
        elif route == ("POST", "/api/pull"):
            await self._pull(request, respond)
        elif route == ("GET", "/api/version"):
            await respond.json(200, {"version": "0.6.5"})
        elif route in (("GET", "/"), ("HEAD", "/")):
            await _text(respond, 200, b"Ollama is running")
        else:
            await _text(respond, 404, b"404 page not found")

    async def _chat(self, request: Recorded, respond: Responder) -> None:
        script = self.next_script(self.chat_path)
        body = request.json
        model = body.get("model", "")
        if not await arrive(respond, script):
            return
        if _tagged(model) not in self.models and script.status < 400:
            await _error(respond, Script(status=404, error=f'model "{model}" not found, try pulling it first'))
            return
        if (refusal := self._image_problem(body, model)) is not None:
            await _error(respond, Script(status=400, error=refusal))
            return
        prompt_count = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", [])) + 10
        if not body.get("stream", True):
            whole = _message(model, script.text, done=True, prompt_count=prompt_count, eval_count=len(script.pieces()))
            await self._simple(respond, script, whole)
            return
        if script.status >= 400:
            await _error(respond, script)
            return
        cap = (body.get("options") or {}).get("num_predict")
        pieces, reason = script.capped(cap if cap is None or cap >= 0 else None)
        frames = Frames(
            content_type="application/x-ndjson",
            chunks=[_line(_message(model, piece)) for piece in pieces],
            final=[_line(_message(model, "", done=True, prompt_count=prompt_count, eval_count=len(pieces))
                         | {"done_reason": reason})],
            error=_line({"error": script.error or "an error was encountered while running the model: unexpected EOF"}),
            malformed=b'{"model":"' + model.encode() + b'","created_at":"' + _now().encode() + b'","message":{"ro\n',
        )
        await play(respond, script, frames)

    async def _embed(self, request: Recorded, respond: Responder) -> None:
        script = self.next_script("/api/embed")
        body = request.json
        model = body.get("model", "")
        if not await arrive(respond, script):
            return
        if _tagged(model) not in self.models and script.status < 400:
            await _error(respond, Script(status=404, error=f'model "{model}" not found, try pulling it first'))
            return
        texts = body.get("input", [])
        texts = [texts] if isinstance(texts, str) else texts
        await self._simple(respond, script, {"model": model, "embeddings": [embed(text) for text in texts],
                                             "total_duration": 14143917, "load_duration": 1019500,
                                             "prompt_eval_count": sum(len(t.split()) for t in texts)})

    def _image_problem(self, body: dict, model: str) -> str | None:
        """Why Ollama would refuse the request's images: not base64, or a model without vision."""
        for message in body.get("messages", []):
            for index, image in enumerate(message.get("images") or []):
                try:
                    base64.b64decode(image, validate=True)
                except (ValueError, TypeError):
                    return f"illegal base64 data at input byte {index}"
                if _tagged(model) not in self.vision:
                    return f"{model} does not support images"
        return None

    def images(self) -> list[bytes]:
        """Every image the chat requests carried, decoded, in order."""
        return [base64.b64decode(image) for request in self.chat_requests()
                for message in request.json.get("messages", []) for image in message.get("images") or []]

    async def _pull(self, request: Recorded, respond: Responder) -> None:
        script = self.next_script("/api/pull")
        body = request.json
        model = _tagged(body.get("model") or body.get("name", ""))
        if not await arrive(respond, script):
            return
        if script.status >= 400:
            await _error(respond, script)
            return
        digest = "dde5aa3fc5ffc17176b5e8bdc82f587b24b2678c6c66101bf7da77af9f7ccdff"
        steps = [{"status": "pulling manifest"}]
        if self.pullable is not None and model not in self.pullable:
            error = _line({"error": "pull model manifest: file does not exist"})
        else:
            total = 2019377376
            steps += [
                {
                    "status": f"pulling {digest[:12]}",
                    "digest": f"sha256:{digest}",
                    "total": total,
                    "completed": total * part // 4,
                }
                for part in range(1, 5)
            ]
            steps += [
                {"status": "verifying sha256 digest"},
                {"status": "writing manifest"},
                {"status": "success"},
            ]
            error = b""
        frames = Frames("application/x-ndjson", [_line(step) for step in steps], [], error, b"{\n")
        if error:
            script = Script(fault="error", after=1, chunk_delay=script.chunk_delay)
        await play(respond, script, frames)
        if respond.record.completed and not error and model not in self.models:
            self.models.append(model)

    async def _simple(self, respond: Responder, script: Script, body: Any) -> None:
        """A one-object answer, with the script's latency, error status or fault."""
        if script.status >= 400:
            await _error(respond, script)
        elif script.fault == "cut":
            payload = _encode(body)
            await respond.start(
                200,
                [("content-type", "application/json; charset=utf-8"), ("content-length", str(len(payload)))],
            )
            await respond.data(payload[: len(payload) // 2])
            respond.cut()
        elif script.fault == "malformed":
            await respond.json(200, None, raw=_encode(body)[:-7])
        else:
            await respond.json(200, None, raw=_encode(body))


async def _error(respond: Responder, script: Script) -> None:
    headers = [("retry-after", script.retry_after)] if script.retry_after else []
    message = script.error or DEFAULT_ERRORS.get(script.status, "error")
    await respond.json(script.status, None, headers, raw=_encode({"error": message}))


async def _text(respond: Responder, status: int, body: bytes) -> None:
    await respond.start(status, [("content-type", "text/plain; charset=utf-8"), ("content-length", str(len(body)))])
    await respond.data(body)
    await respond.end()


def _message(model: str, content: str, done: bool = False, prompt_count: int = 0, eval_count: int = 0) -> dict:
    line: dict[str, Any] = {
        "model": model,
        "created_at": _now(),
        "message": {"role": "assistant", "content": content},
    }
    if not done:
        line["done"] = False
        return line
    return line | {
        "done_reason": "stop",
        "done": True,
        "total_duration": 4883583458,
        "load_duration": 1334875,
        "prompt_eval_count": prompt_count,
        "prompt_eval_duration": 342546000,
        "eval_count": eval_count,
        "eval_duration": 4535599000,
    }


def _entry(name: str) -> dict:
    family = name.split(":")[0].rstrip("0123456789.") or name
    return {
        "name": name,
        "model": name,
        "modified_at": "2025-01-14T10:12:45.120834291Z",
        "size": 2019393189,
        "digest": "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
        "details": {
            "parent_model": "",
            "format": "gguf",
            "family": family,
            "families": [family],
            "parameter_size": "3.2B",
            "quantization_level": "Q4_K_M",
        },
    }


def _tagged(name: str) -> str:
    """Ollama's canonical model name: ``llama3.2`` is ``llama3.2:latest``."""
    return name if ":" in name else f"{name}:latest"


def _now() -> str:
    """The time as Go's RFC 3339 with nanoseconds, trailing zeros trimmed."""
    ns = time.time_ns()
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000))
    fraction = f"{ns % 1_000_000_000:09d}".rstrip("0")
    return f"{seconds}.{fraction}Z" if fraction else f"{seconds}Z"


def _encode(value: Any) -> bytes:
    """JSON as Go's encoding/json writes it: compact, with <, > and & escaped."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escape)
    return text.encode()


def _line(value: Any) -> bytes:
    return _encode(value) + b"\n"
