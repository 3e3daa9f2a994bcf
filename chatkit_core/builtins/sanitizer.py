"""The built-in ``html`` sanitizer, on nh3.

Message content is HTML-safe text: markup is removed, and what is left is escaped so that
``<``, ``>`` and ``&`` appear as entities. Whoever renders it (the widget, or a site that
puts it into ``innerHTML``) gets no element, attribute or script from it, while the text
still reads the same: ``a < b`` stays ``a &lt; b``, and ``<div>`` written inside backticks
stays visible as code instead of being stripped as a tag.

Markdown is kept, minus what a markdown renderer could turn into something active: a link,
reference definition or autolink whose target has a scheme other than http(s) or mailto
loses its target (entities decoded first, as renderers do), and an image becomes a link,
so no picture ever loads by itself. Code is recognised only where CommonMark also sees
code (fences at the start of a line, single-backtick spans), so nothing left untouched
as code can be rendered as a link.
"""

from __future__ import annotations

import html
import re

import nh3

from chatkit_core import hookimpl

# Fenced blocks opening at a line start (closed or running to the end), single-backtick spans.
_CODE = re.compile(r"((?:^|(?<=\n))[ ]{0,3}(?:```.*?(?:```|\Z)|~~~.*?(?:~~~|\Z))|(?<!`)`[^`\n]+`(?!`))", re.S)
# C0/C1 controls (but tab and newlines), lone surrogates, and bidirectional overrides
# that can make text read differently from what it is.
_INVISIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]")
_BARE_AMPERSAND = re.compile(r"&(?!(?:[a-zA-Z][a-zA-Z0-9]*|#\d+|#[xX][0-9a-fA-F]+);)")
_MARKDOWN_LINK = re.compile(r"\[([^\]\n]*)\]\(((?:[^()\n]|\([^()\n]*\))*)\)")
# Any other link target: after "](" (nested or unclosed links) or in a reference definition.
_TARGET = re.compile(r"(\]\()([^)\n]*)")
_DEFINITION = re.compile(r"^([ \t]{0,3}\[[^\]\n]*\]:)[ \t]*\n?[ \t]*(\S*)", re.M)
_AUTOLINK = re.compile(r"&lt;([^\s]*?)&gt;")
# A web autolink, ``<https://…>``, is kept as the bare address rather than removed as a tag.
_WEB_AUTOLINK = re.compile(r"<((?:https?://|mailto:)[^\s<>\"']+)>", re.I)
_IMAGE = re.compile(r"!(\[[^\]\n]*\][(\[])")
_SCHEME = re.compile(r"([a-z][a-z0-9+.\-]*):")
_SAFE_SCHEMES = {"http", "https", "mailto"}
_IGNORED_IN_URL = re.compile(r"[\s\x00-\x20<>]+")
_DROP_WITH_CONTENT = {"script", "style", "iframe", "noscript", "template", "object", "textarea", "title"}


def clean_markup(text: str) -> str:
    text = _IMAGE.sub(r"\1", _INVISIBLE.sub("", text.replace("\r\n", "\n")))
    parts = _CODE.split(text)
    return "".join(_escape_code(part) if index % 2 else _prose_before(part, index + 1 < len(parts))
                   for index, part in enumerate(parts))


def _prose_before(prose: str, code_follows: bool) -> str:
    """Cleaned prose; when it ended a line before code, it still does (markup such as ``</\n``
    can swallow the newline), so a fenced block stays one when the text is cleaned again."""
    cleaned = _clean_prose(prose)
    if code_follows and prose.endswith("\n") and not cleaned.endswith("\n"):
        cleaned += "\n"
    return cleaned


def _escape_code(code: str) -> str:
    return _BARE_AMPERSAND.sub("&amp;", code).replace("<", "&lt;").replace(">", "&gt;")


# What nh3 or the link rules below act on: markup, entities, brackets, and the characters
# html5ever rewrites (a carriage return, NUL, no-break space, a leading byte order mark).
_PROSE_SPECIAL = re.compile("[<>&\\[\\]\r\x00\u00a0\ufeff]")


def _clean_prose(text: str) -> str:
    """Prose without markup, entities or brackets is left as it is, so most answers skip the parser."""
    return _rewrite_prose(text) if _PROSE_SPECIAL.search(text) else text


def _rewrite_prose(text: str) -> str:
    text = _WEB_AUTOLINK.sub(r"\1", text)
    text = nh3.clean(text, tags=set(), attributes={}, clean_content_tags=_DROP_WITH_CONTENT, strip_comments=True)
    text = _MARKDOWN_LINK.sub(lambda m: m[1] if _unsafe(m[2]) else m[0], text)
    for pattern in (_TARGET, _DEFINITION):
        text = pattern.sub(lambda m: m[1] if _unsafe(m[2]) else m[0], text)
    return _AUTOLINK.sub(lambda m: m[1] if _unsafe(m[1]) else m[0], text)


def _unsafe(target: str) -> bool:
    """Whether a link target names a scheme other than http(s) or mailto, as a browser reads it."""
    while "&" in target and (decoded := html.unescape(target)) != target:
        target = decoded
    scheme = _SCHEME.match(_IGNORED_IN_URL.sub("", target).lower())
    return scheme is not None and scheme[1] not in _SAFE_SCHEMES


class HtmlSanitizer:
    def clean_input(self, text: str) -> str:
        return clean_markup(text)

    def clean_output(self, text: str) -> str:
        return clean_markup(text)


@hookimpl
def register_sanitizers(register):
    register("html", HtmlSanitizer())
