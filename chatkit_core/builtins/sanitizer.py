"""The built-in ``html`` sanitizer, on nh3.

Message content is HTML-safe text: markup is removed, and what is left is escaped so that
``<``, ``>`` and ``&`` appear as entities. Whoever renders it (the widget, or a site that
puts it into ``innerHTML``) gets no element, attribute or script from it, while the text
still reads the same: ``a < b`` stays ``a &lt; b``, and ``<div>`` written inside backticks
stays visible as code instead of being stripped as a tag.
"""

from __future__ import annotations

import re

import nh3

from chatkit_core import hookimpl

# Fenced blocks (closed or running to the end) and inline code spans.
_CODE = re.compile(r"(```.*?(?:```|\Z)|~~~.*?(?:~~~|\Z)|`[^`\n]+`)", re.S)
# C0/C1 controls (but tab and newlines), lone surrogates, and bidirectional overrides
# that can make text read differently from what it is.
_INVISIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]")
_BARE_AMPERSAND = re.compile(r"&(?!(?:[a-zA-Z][a-zA-Z0-9]*|#\d+|#[xX][0-9a-fA-F]+);)")
_MARKDOWN_LINK = re.compile(r"\[([^\]\n]*)\]\(((?:[^()\n]|\([^()\n]*\))*)\)")
_SAFE_TARGET = re.compile(r"^(?:https?:|mailto:|#|/|[^:]*$)", re.I)
_DROP_WITH_CONTENT = {"script", "style", "iframe", "noscript", "template", "object", "textarea", "title"}


def clean_markup(text: str) -> str:
    text = _INVISIBLE.sub("", text.replace("\r\n", "\n"))
    parts = _CODE.split(text)
    return "".join(_escape_code(part) if index % 2 else _clean_prose(part) for index, part in enumerate(parts))


def _escape_code(code: str) -> str:
    return _BARE_AMPERSAND.sub("&amp;", code).replace("<", "&lt;").replace(">", "&gt;")


def _clean_prose(text: str) -> str:
    if not text:
        return text
    cleaned = nh3.clean(text, tags=set(), attributes={}, clean_content_tags=_DROP_WITH_CONTENT, strip_comments=True)
    return _MARKDOWN_LINK.sub(_safe_link, cleaned)


def _safe_link(match: re.Match[str]) -> str:
    """Keep markdown links to web and mail addresses; reduce any other to its text."""
    target = re.sub(r"[\s\x00-\x20]+", "", match[2]).removeprefix("&lt;")
    return match[0] if _SAFE_TARGET.match(target) else match[1]


class HtmlSanitizer:
    def clean_input(self, text: str) -> str:
        return clean_markup(text)

    def clean_output(self, text: str) -> str:
        return clean_markup(text)


@hookimpl
def register_sanitizers(register):
    register("html", HtmlSanitizer())
