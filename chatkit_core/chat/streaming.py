"""What a streamed answer sends the visitor: :class:`Opened`, :class:`Delta`…, then exactly one of
:class:`Done` or :class:`Failed`; and the assistant's message it becomes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from chatkit_core.chat.chain import Finished, Queued, Started
from chatkit_core.chat.errors import ChatError
from chatkit_core.chat.providers import ChatRequest
from chatkit_core.chat.sanitize import StreamCleaner
from chatkit_core.models import Attachment, Message, Source, new_message_id, now_rfc3339


class Opened(msgspec.Struct, frozen=True):
    """The answer began: its id, who gives it, and who failed first (``"name:kind"``)."""

    message_id: str
    provider: str
    model: str
    fallbacks: list[str]


class Delta(msgspec.Struct, frozen=True):
    text: str


class Done(msgspec.Struct, frozen=True):
    message: Message


class Failed(msgspec.Struct, frozen=True):
    """The turn ended without a whole answer; what arrived before is saved, marked incomplete."""

    error: ChatError
    fallbacks: list[str] = msgspec.field(default_factory=list)
    """Why each provider did not answer (``"name:kind"``), for operators."""


Event = Queued | Opened | Delta | Done | Failed



class Streamed:
    """What a streamed answer has produced so far, and the events the visitor is shown for it."""

    def __init__(self, request: ChatRequest, cleaner: StreamCleaner, sources: Callable[[str], list[Source]],
                 used: Callable[[Started | None], list[Attachment]]) -> None:
        self.request = request
        self.cleaner = cleaner
        self.sources = sources
        """The site's pages an answer's text cites."""
        self.used = used
        """What the model took of the question's attachments."""
        self.id = new_message_id()
        self.started: Started | None = None
        self.message: Message | None = None

    def take(self, event: Queued | Started | str | Finished) -> Event | None:
        if isinstance(event, Queued):
            return event
        if isinstance(event, Started):
            self.started = event
            return Opened(self.id, event.provider, event.model, event.fallbacks)
        if isinstance(event, Finished):
            content = self.cleaner.finish()
            self.message = assistant(self.started, content, event.usage, complete=True, truncated=event.truncated,
                                      sources=self.sources(content),
                                      attachments=self.used(self.started))
            self.message.id = self.id
            tail = self.cleaner.rest(self.message.content)
            return Delta(tail) if tail else None
        text = self.cleaner.feed(event)
        return Delta(text) if text else None

    def partial(self, started: Started) -> Message:
        content = self.cleaner.finish()  # an interrupted answer keeps the pages it was grounded in
        message = assistant(started, content, None, complete=False,
                             sources=self.sources(content),
                             attachments=self.used(started))
        message.id = self.id
        return message


def assistant(started: Started | None, content: str, usage: dict[str, Any] | None, complete: bool,
               sources: list[Source] | None = None, truncated: bool = False,
               attachments: list[Attachment] | None = None) -> Message:
    return Message(
        id=new_message_id(), role="assistant", content=content, created_at=now_rfc3339(),
        provider=started.provider if started else None, model=started.model if started else None,
        incomplete=not complete, fallbacks=started.fallbacks if started else [],
        usage={**(usage or {}), "ttftMs": round(started.ttft * 1000)} if started and started.ttft else usage,
        sources=sources or [], truncated=truncated, attachments=attachments or [],
    )
