"""Running the configured sanitizers, on whole texts and on a stream of deltas."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Protocol


class Sanitizer(Protocol):
    def clean_input(self, text: str) -> str: ...

    def clean_output(self, text: str) -> str: ...


# Characters that show nothing but change what a model reads: zero-width spaces and joiners,
# direction marks, word joiner and invisible operators, soft hyphen, Mongolian vowel separator,
# combining grapheme joiner, Hangul fillers, byte order mark, and the tag block (U+E0000-E007F),
# which spells hidden ASCII.
INVISIBLE = re.compile("[\u00ad\u034f\u115f\u1160\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f"
                       "\u3164\ufeff\uffa0\U000e0000-\U000e007f]")

# Chat-template control tokens that model servers parsing text into turns would read as a turn
# boundary: ``<|...|>`` (ChatML, Llama 3, Phi, GPT), its full-width form (DeepSeek), Gemma's
# ``<start_of_turn>``/``<end_of_turn>``, sentence markers ``<s>``, ``</s>``, ``<bos>``, ``<eos>``,
# Llama 2's ``<<SYS>>``, and Mistral's ``[INST]``-style bracket tokens. An angle bracket written
# as an HTML entity is broken too: some templates and renderers decode entities.
_LT, _GT = r"(?:<|&lt;)", r"(?:>|&gt;)"
CONTROL_TOKEN = re.compile(
    rf"{_LT}(?=\|[^|<>&\s]{{1,40}}\|{_GT})"
    r"|<(?=\uff5c[^\uff5c<>\s]{1,40}\uff5c>)"
    rf"|{_LT}(?=/?(?:start_of_turn|end_of_turn|s|bos|eos|unk|pad|start_of_image|end_of_image){_GT})"
    rf"|{_LT}(?={_LT}/?SYS{_GT}{_GT})"
    r"|\[(?=/?(?:INST|SYS|SYSTEM_PROMPT|AVAILABLE_TOOLS|TOOL_CALLS|TOOL_RESULTS|TOOL_CONTENT|THINK)\])",
    re.I)


def neutralise_control_tokens(text: str) -> str:
    """Break every chat-template control token with a space after its opening bracket: it reads the
    same to a person, and no tokenizer matches it as the special token any more."""
    broken = int("<" in text or "&" in text or "[" in text)  # every token opens with one of them
    while broken:  # breaking one may complete another, as in <<|x|>
        text, broken = CONTROL_TOKEN.subn(_break, text)
    return text


def _break(match: re.Match[str]) -> str:
    return match[0] + " "


def visitor_text(text: str) -> str:
    """What is left of a visitor's text before any sanitizer: no invisible characters."""
    return INVISIBLE.sub("", text)


class Sanitizers:
    def __init__(self, chain: Sequence[Sanitizer]) -> None:
        self.chain = list(chain)

    def clean_input(self, text: str) -> str:
        """A visitor's message: invisible characters dropped, sanitizers run, control tokens broken."""
        text = visitor_text(text)
        for sanitizer in self.chain:
            text = sanitizer.clean_input(text)
        return neutralise_control_tokens(text)

    def clean_output(self, text: str) -> str:
        for sanitizer in self.chain:
            text = sanitizer.clean_output(text)
        return text

    def stream(self) -> StreamCleaner:
        return StreamCleaner(self.clean_output)


def model_text(content: str) -> str:
    """Stored content as the model reads it: no control token or invisible character,
    however it was spelled or stored."""
    return neutralise_control_tokens(visitor_text(content))


# A tail that may still become markup once more text arrives: an unclosed ``<``, a run of
# backticks or tildes that may open a fence, or a markdown link whose target is not complete yet.
_PENDING = re.compile(
    r"(<[^>]*|[`~]+|\[[^\]\n]*(?:\](?:\((?:[^()\n]|\([^()\n]*\))*(?:\([^()\n]*)?)?)?)\Z")


_FENCE_LINE = re.compile(r"^[ ]{0,3}(?:```|~~~)", re.M)


def _held_from(tail: str) -> int:
    """Where the part of ``tail`` that may still turn into markup begins.

    Besides ``_PENDING``: a ``!`` that may open an image, and, outside code fences, the
    paragraph from its first ``[`` on, since nested brackets and reference definitions
    spread over lines can turn it into a link whose target the sanitizer then rewrites.
    """
    cut = pending.start() if (pending := _PENDING.search(tail)) else len(tail)
    if tail.endswith("!"):
        cut = min(cut, len(tail) - 1)
    bracket = tail.find("[", tail.rfind("\n\n") + 1)
    if bracket != -1 and not len(_FENCE_LINE.findall(tail[:bracket])) % 2:
        cut = min(cut, bracket - 1 if tail[bracket - 1:bracket] == "!" else bracket)
    return cut


class StreamCleaner:
    """Sanitizes a streamed answer delta by delta, so that the deltas add up to the final text.

    Each step cleans the text received since the last settled paragraph, holding back a tail
    that might still turn into markup, and emits only what extends the text already sent, so
    every delta extends a prefix of some sanitizer output. A paragraph break outside a code
    fence settles everything before it, so long answers are not cleaned again and again.

    Should cleaning ever rewrite text already sent (a backtick closing a code span, say),
    nothing more is emitted until the end. ``finish`` then returns what was sent followed by
    the rest cleaned on its own, provided the sanitizers leave that joined text unchanged
    (it is then as clean as any of their output); ``rest`` is the final delta. Only when they
    would change it is the whole answer cleaned at once, and ``done`` differs from the deltas.
    """

    def __init__(self, clean: Callable[[str], str]) -> None:
        self.clean = clean
        self.raw = ""
        self.settled_raw = 0
        """``raw[:settled_raw]`` is cleaned once and for all, as ``settled``."""
        self.settled = ""
        self.sent = ""
        self.sent_raw = 0
        """The raw text behind ``sent``: ``sent`` is ``settled`` plus the cleaned ``raw[settled_raw:sent_raw]``."""

    def feed(self, delta: str) -> str:
        self.raw += delta
        tail = self.raw[self.settled_raw:]
        stable = tail[: _held_from(tail)]
        cleaned = self.settled + self.clean(stable)
        if not cleaned.startswith(self.sent) or cleaned.endswith("<"):  # a "<" the next text may drop
            return ""
        new, self.sent, self.sent_raw = cleaned[len(self.sent):], cleaned, self.settled_raw + len(stable)
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
        whole = self.settled + self.clean(self.raw[self.settled_raw:])
        if whole.startswith(self.sent):
            return whole
        joined = self.sent + self.clean(self.raw[self.sent_raw:])
        return joined if self.clean(joined) == joined else self.clean(self.raw)

    def rest(self, final: str) -> str:
        """What of ``final`` has not been streamed yet (the held-back tail)."""
        return final[len(self.sent):] if final.startswith(self.sent) else ""
