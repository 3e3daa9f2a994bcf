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
    r"(<[^>]*|&[#a-zA-Z0-9]{0,10}|[`~]+|\[[^\]\n]*(?:\](?:\((?:[^()\n]|\([^()\n]*\))*(?:\([^()\n]*)?)?)?)\Z")


_FENCE_LINE = re.compile(r"^[ ]{0,3}(?:```|~~~)", re.M)


class StreamCleaner:
    """Sanitizes a streamed answer delta by delta.

    Each step cleans the text received since the last settled paragraph, holding back a
    tail that might still turn into markup, and emits only what extends the text already
    sent. A paragraph break outside a code fence settles everything before it, so long
    answers are not cleaned again and again. Should cleaning ever rewrite text already
    sent, nothing more is emitted: the final message, cleaned whole, is authoritative.
    """

    def __init__(self, clean: Callable[[str], str]) -> None:
        self.clean = clean
        self.raw = ""
        self.settled_raw = 0
        """``raw[:settled_raw]`` is cleaned once and for all, as ``settled``."""
        self.settled = ""
        self.sent = ""

    def feed(self, delta: str) -> str:
        self.raw += delta
        tail = self.raw[self.settled_raw:]
        pending = _PENDING.search(tail)
        stable = tail[: pending.start()] if pending else tail
        cleaned = self.settled + self.clean(stable)
        if not cleaned.startswith(self.sent):
            return ""
        new, self.sent = cleaned[len(self.sent):], cleaned
        if "\n\n" in stable[-len(delta) - 1:]:
            self._settle(stable)
        return new

    def _settle(self, stable: str) -> None:
        cut = stable.rfind("\n\n") + 2
        head = stable[:cut]
        if len(_FENCE_LINE.findall(head)) % 2:  # inside a code fence: not a paragraph break
            return
        cleaned = self.settled + self.clean(head)
        if self.sent.startswith(cleaned):
            self.settled_raw += cut
            self.settled = cleaned

    def finish(self) -> str:
        return self.clean(self.raw)

    def rest(self, final: str) -> str:
        """What of ``final`` has not been streamed yet (the held-back tail)."""
        return final[len(self.sent):] if final.startswith(self.sent) else ""
