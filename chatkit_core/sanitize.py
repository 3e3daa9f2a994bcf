"""Running the configured sanitizers, on whole texts and on a stream of deltas."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from typing import Protocol


class Sanitizer(Protocol):
    def clean_input(self, text: str) -> str: ...

    def clean_output(self, text: str) -> str: ...


class Sanitizers:
    def __init__(self, chain: Sequence[Sanitizer]) -> None:
        self.chain = list(chain)

    def clean_input(self, text: str) -> str:
        for sanitizer in self.chain:
            text = sanitizer.clean_input(text)
        return text

    def clean_output(self, text: str) -> str:
        for sanitizer in self.chain:
            text = sanitizer.clean_output(text)
        return text

    def stream(self) -> StreamCleaner:
        return StreamCleaner(self.clean_output)


def plain_text(content: str) -> str:
    """Stored content as the model should read it: entities turned back into characters."""
    return html.unescape(content)


# A tail that may still become markup once more text arrives: an unclosed ``<``, a
# half-written entity, a run of backticks or tildes that may open a fence, or a markdown
# link whose target is not complete yet.
_PENDING = re.compile(
    r"(<[^>]*|&[#a-zA-Z0-9]{0,10}|[`~]+|\[[^\]\n]*(?:\](?:\((?:[^()\n]|\([^()\n]*\))*)?)?)\Z")


class StreamCleaner:
    """Sanitizes a streamed answer delta by delta.

    Each step cleans everything received so far, holding back a tail that might still turn
    into markup, and emits only what extends the text already sent. Should cleaning ever
    rewrite text already sent, nothing more is emitted: the final message, cleaned whole,
    is authoritative and replaces the streamed text.
    """

    def __init__(self, clean: Callable[[str], str]) -> None:
        self.clean = clean
        self.raw = ""
        self.sent = ""

    def feed(self, delta: str) -> str:
        self.raw += delta
        pending = _PENDING.search(self.raw)
        stable = self.raw[: pending.start()] if pending else self.raw
        cleaned = self.clean(stable)
        if not cleaned.startswith(self.sent):
            return ""
        new, self.sent = cleaned[len(self.sent):], cleaned
        return new

    def finish(self) -> str:
        return self.clean(self.raw)
