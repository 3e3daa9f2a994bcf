"""MDX as plain Markdown: what a reader of the published page sees, without the code around it.

- ``import``/``export`` statements (ESM) at the start of a block go, up to the next blank line;
- JSX components (``<Tabs>``, ``<Note title="…">``, ``<Card />``, fragments ``<>``) go and
  their children stay, so ``<Note>Bring cash.</Note>`` leaves ``Bring cash.``; lower-case
  elements stay HTML (``<h2 id="x">``), without attributes written as ``{expressions}``;
- ``{expressions}`` and ``{/* comments */}`` go, except a heading's ``{#id}``;
- code fences and code spans are left exactly as written;
- indentation never makes a code block in MDX, so it is dropped outside fences.

MDX itself has no Python parser; this keeps to the constructs that change what is text, and
hands the result to markdown-it-py like any Markdown. A construct MDX would refuse (an
unclosed ``{``) is kept as text.
"""

from __future__ import annotations

import functools
import re

_FENCE = re.compile(r"^([ \t]*)(`{3,}|~{3,})")
_ESM = re.compile(r"^(?:import|export)\b")
_PLAIN = re.compile(r"[^`\\{<]+")
_TAG_START = re.compile(r"<[ \t]*(/?)[ \t]*([A-Za-z_$][\w$.:-]*)?")
_ATTRIBUTE = re.compile(r"[A-Za-z_$][\w$.:-]*")
_SPACE = re.compile(r"\s*")
_HEADING_ID = re.compile(r"\{#[\w-]+\}")
_JS_SPECIAL = re.compile(r"""[{}'"`]|/\*|//""")
_BACKTICKS = re.compile("`+")
MAX_TAG = 10_000
"""Longest JSX tag, attributes included; a longer ``<…`` is text."""


@functools.lru_cache(maxsize=16)
def _closing_run(run: int) -> re.Pattern[str]:
    return re.compile(f"(?<!`){'`' * run}(?!`)")


def to_markdown(mdx: str) -> str:
    out: list[str] = []
    prose: list[str] = []
    fence: tuple[str, str] | None = None  # (indentation, marker) of the open fence
    in_esm = False
    blank = True
    for line in mdx.split("\n"):
        if fence is not None:
            if line.strip().startswith(fence[1]) and not line.strip().strip(fence[1][0]):
                fence = None
            out.append(line.removeprefix(fence[0]) if fence else line.strip())
            continue
        if in_esm and line.strip():
            continue
        in_esm = False
        opening = _FENCE.match(line)
        if opening:
            out += _prose(prose)
            prose = []
            fence = (opening[1], opening[2])
            out.append(line.strip())
        elif blank and _ESM.match(line):
            in_esm = True
        else:
            prose.append(line)
        blank = not line.strip()
    return "\n".join(out + _prose(prose))


def _prose(lines: list[str]) -> list[str]:
    if not lines:
        return []
    return [line.strip() for line in _Stripper("\n".join(lines)).run().split("\n")]


class _Stripper:
    """One pass over prose; each construct that fails to close is not tried again (linear time)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.out: list[str] = []
        self.unclosed_spans: set[int] = set()  # backtick run lengths with no closing run left
        self.unclosed = ""  # '{' or quote characters with no closing one left

    def run(self) -> str:
        text, position = self.text, 0
        while position < len(text):
            plain = _PLAIN.match(text, position)
            if plain:
                self.out.append(plain[0])
                position = plain.end()
                continue
            char = text[position]
            if char == "\\":
                self.out.append(text[position : position + 2])
                position += 2
            elif char == "`":
                position = self._code_span(position)
            elif char == "{":
                position = self._expression(position)
            else:
                position = self._tag(position)
        return "".join(self.out)

    def _code_span(self, start: int) -> int:
        """A code span closes at the next run of exactly as many backticks."""
        run = _BACKTICKS.match(self.text, start).end() - start  # type: ignore[union-attr]  # at a backtick
        close = None if run in self.unclosed_spans else _closing_run(run).search(self.text, start + run)
        if close is None:
            self.unclosed_spans.add(run)
            self.out.append("`" * run)
            return start + run
        self.out.append(self.text[start : close.end()])
        return close.end()

    def _expression(self, start: int) -> int:
        heading_id = _HEADING_ID.match(self.text, start)
        if heading_id:
            self.out.append(heading_id[0])
            return heading_id.end()
        end = self._expression_end(start)
        if end is None:
            self.out.append("{")
            return start + 1
        return end

    def _expression_end(self, start: int) -> int | None:
        """Just past the ``}`` closing the ``{`` at ``start``: strings and comments skipped."""
        if "{" in self.unclosed:
            return None
        depth, position = 0, start
        while special := _JS_SPECIAL.search(self.text, position):
            token, position = special[0], special.end()
            if token in "{}":
                depth += 1 if token == "{" else -1
                if depth == 0:
                    return position
                continue
            close = {"/*": "*/", "//": "\n"}.get(token, token)
            end = self.text.find(close, position)
            if end < 0:
                break
            position = end + len(close)
        self.unclosed += "{"
        return None

    def _tag(self, start: int) -> int:
        end, name, keep = self._tag_end(start)
        if end is None:
            self.out.append("<")
            return start + 1
        if name and name[0].islower() and "." not in name:  # an HTML element: kept, minus expressions
            self.out.append(keep)
        return end

    def _tag_end(self, start: int) -> tuple[int | None, str, str]:
        """(just past the tag at ``start`` or None, its name, the tag with only literal attributes)."""
        text = self.text
        head = _TAG_START.match(text, start)
        if head is None:
            return None, "", ""
        closing, name = head[1], head[2] or ""
        kept = [f"<{closing}{name}"]
        position = head.end()
        while position - start < MAX_TAG:
            position = _SPACE.match(text, position).end()  # type: ignore[union-attr]  # \s* always matches
            if text.startswith("/>", position) or text.startswith(">", position):
                marker = "/>" if text[position] == "/" else ">"
                return position + len(marker), name, "".join(kept) + marker
            if text.startswith("{", position):  # {...spread}
                end = self._expression_end(position)
                if end is None:
                    return None, "", ""
                position = end
                continue
            attribute = _ATTRIBUTE.match(text, position)
            if attribute is None:
                return None, "", ""
            position = _SPACE.match(text, attribute.end()).end()  # type: ignore[union-attr]
            if not text.startswith("=", position):
                kept.append(f" {attribute[0]}")
                continue
            position = _SPACE.match(text, position + 1).end()  # type: ignore[union-attr]
            value_end = self._value_end(position)
            if value_end is None:
                return None, "", ""
            if text[position] in "\"'":
                kept.append(f" {attribute[0]}={text[position:value_end]}")
            position = value_end
        return None, "", ""

    def _value_end(self, start: int) -> int | None:
        char = self.text[start : start + 1]
        if char == "{":
            return self._expression_end(start)
        if char not in ("'", '"') or char in self.unclosed:
            return None
        end = self.text.find(char, start + 1)
        if end < 0:
            self.unclosed += char
            return None
        return end + 1
