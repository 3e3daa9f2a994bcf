"""A fake llama.cpp ``llama-server``: OpenAI's wire format from a server with a few slots.

    with FakeLlama(slots=2, context=200) as llama:
        llama.default = Script(text=" ".join(["word"] * 500))   # a model that rambles
        ...  # point an ``openai`` provider at llama.url + "/v1"
        llama.peak            # most answers generated at once
        llama.overflows       # times the shared context filled up

Like ``llama-server --parallel N``: ``slots`` answers are generated at once and the rest
wait, first come first served, before a single byte is sent back, so a client's first-token
timeout runs while they merely queue. All slots share ``context`` tokens (the KV cache:
each answer's prompt and generated tokens); when it fills mid-answer, every running answer
ends with the in-band error llama-server sends ("Context size has been exceeded."). One
piece of the script is one token; ``token_delay`` is the time to generate one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from tests.fakes.openai import FakeOpenAI, _Completion, _event
from tests.fakes.server import Disconnected, Recorded, Responder, Script

OVERFLOW = {"code": 500, "message": "Context size has been exceeded.", "type": "server_error"}


class FakeLlama(FakeOpenAI):
    def __init__(self, slots: int = 4, context: int | None = None, token_delay: float = 0.01,
                 models: Iterable[str] = ("gemma-3-270m",)) -> None:
        super().__init__(models=models)
        self.slots = slots
        self.context = context
        self.token_delay = token_delay
        self.peak = 0
        """Most answers generated at once."""
        self.overflows = 0
        self._free: asyncio.Semaphore | None = None
        self._used: dict[int, int] = {}
        """Context tokens held by each running answer."""
        self._doomed: set[int] = set()

    async def _chat(self, request: Recorded, respond: Responder) -> None:
        body = request.json
        script = self.next_script(self.chat_path)
        if not body.get("stream") or script.status >= 400 or script.fault:
            self.script(script)  # errors and faults play as the plain OpenAI fake does
            await super()._chat(request, respond)
            return
        if self._free is None:
            self._free = asyncio.Semaphore(self.slots)
        acquired = asyncio.ensure_future(self._free.acquire())
        try:
            await respond.wait(acquired)
        except Disconnected:
            if acquired.done() and not acquired.cancelled():
                self._free.release()
            raise
        try:
            await self._generate(request, respond, body, script)
        finally:
            self._used.pop(id(request), None)
            self._doomed.discard(id(request))
            self._free.release()

    async def _generate(self, request: Recorded, respond: Responder, body: dict, script: Script) -> None:
        completion = _Completion(body.get("model", ""), body)
        key = id(request)
        self._used[key] = completion.prompt_tokens
        self.peak = max(self.peak, len(self._used))
        pieces, reason = script.capped(body.get("max_completion_tokens") or body.get("max_tokens"))
        await respond.start(200, [("content-type", "text/event-stream; charset=utf-8")])
        await respond.data(completion.chunk({"role": "assistant", "content": None}))
        for piece in pieces:
            await respond.sleep(self.token_delay)
            self._used[key] += 1
            if self.context is not None and sum(self._used.values()) > self.context:
                self.overflows += 1
                self._doomed.update(self._used)
            if key in self._doomed:
                await respond.data(_event({"error": OVERFLOW}))
                await respond.end()
                return
            await respond.data(completion.chunk({"content": piece}))
            respond.record.chunks_sent += 1
        for frame in completion.final(len(pieces), reason):
            await respond.data(frame)
        await respond.end()
