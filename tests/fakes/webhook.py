"""A webhook receiver on loopback: records each POST, checks its signature, and answers with the
statuses it is told to (failing the first attempts, say)."""

from __future__ import annotations

import hashlib
import hmac
from collections import deque

from tests.fakes.server import FakeServer, Recorded, Responder


class FakeWebhook(FakeServer):
    chat_path = "/hook"

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret
        self.statuses: deque[int] = deque()
        """Answers for the next deliveries, in order; 204 once they run out."""

    def valid(self, request: Recorded) -> bool:
        expected = "sha256=" + hmac.new(self.secret.encode(), request.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(request.headers.get("x-chatkit-signature", ""), expected)

    def deliveries(self) -> list[Recorded]:
        return [r for r in self.requests if r.path == self.chat_path]

    async def handle(self, request: Recorded, respond: Responder) -> None:
        status = self.statuses.popleft() if self.statuses else 204
        if not self.valid(request):
            status = 401
        await respond.start(status, [("content-length", "0")])
        await respond.end()
