"""The built-in ``html`` sanitizer, on nh3.

Message content is plain text, stored as written and escaped once, by whoever shows it (the
widget builds DOM text nodes; the console's templates escape). This sanitizer takes out of it
what a renderer that also reads HTML or markdown could turn into something active:

- HTML elements, comments and the like are removed (script, style and a few others with their
  content); text that only looks like markup to a person (``a < b``, ``I <3 it``, an entity
  such as ``&lt;`` typed as text) is left as written. Removal is repeated until nothing more
  goes, so no element can be assembled from the pieces of another.
- Markdown is kept, minus what a renderer could make active: a link, reference definition or
  autolink whose target has a scheme other than http(s) or mailto loses its target (entities
  decoded first, as renderers do), and an image becomes a link, so no picture loads by itself.
- Code is recognised only where CommonMark also sees code (fences at the start of a line,
  single-backtick spans) and is kept exactly, so ``<div>`` inside backticks stays visible.
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
_MARKDOWN_LINK = re.compile(r"\[([^\]\n]*)\]\(((?:[^()\n]|\([^()\n]*\))*)\)")
# Any other link target: after "](" (nested or unclosed links) or in a reference definition.
_TARGET = re.compile(r"(\]\()([^)\n]*)")
_DEFINITION = re.compile(r"^([ \t]{0,3}\[[^\]\n]*\]:)[ \t]*\n?[ \t]*(\S*)", re.M)
_AUTOLINK = re.compile(r"<([^\s<>]*)>")
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
    return "".join(part if index % 2 else _prose_before(part, index + 1 < len(parts))
                   for index, part in enumerate(parts))


def _prose_before(prose: str, code_follows: bool) -> str:
    """Cleaned prose; when it ended a line before code, it still does (markup such as ``</\\n``
    can swallow the newline), so a fenced block stays one when the text is cleaned again."""
    cleaned = _clean_prose(prose)
    if code_follows and prose.endswith("\n") and not cleaned.endswith("\n"):
        cleaned += "\n"
    return cleaned


# What nh3 or the link rules below act on: markup, brackets, and the characters html5ever
# rewrites (a carriage return, NUL, a leading byte order mark).
_PROSE_SPECIAL = re.compile("[<>\\[\\]\r\x00\ufeff]")


def _clean_prose(text: str) -> str:
    """Prose without markup or brackets is left as it is, so most answers skip the parser."""
    return _rewrite_prose(text) if _PROSE_SPECIAL.search(text) else text


def _rewrite_prose(text: str) -> str:
    text = _strip_markup(_WEB_AUTOLINK.sub(r"\1", text))
    text = _MARKDOWN_LINK.sub(lambda m: m[1] if _unsafe(m[2]) else m[0], text)
    for pattern in (_TARGET, _DEFINITION):
        text = pattern.sub(lambda m: m[1] if _unsafe(m[2]) else m[0], text)
    return _AUTOLINK.sub(lambda m: m[1] if _unsafe(m[1]) else m[0], text)


# A ``<`` an HTML parser would open a tag, comment or declaration at, with the ``<`` before it:
# dropping only the last of ``<</`` would leave ``</`` to open one.
_TAG_OPEN = re.compile(r"<+(?=[A-Za-z/!?])")


def _strip_markup(text: str) -> str:
    """``text`` without the elements and comments an HTML parser finds in it, otherwise as written.

    nh3 parses HTML, so its output is escaped HTML: ``&`` is escaped first so that entities
    written as text survive the round trip, and the output is decoded back to the text it shows.
    A ``<`` the parser kept as text can still open a tag with what follows it once the pieces
    between them are gone (``<<b>b>``): such a ``<`` is dropped too, so that no parser finds a
    tag in the result and cleaning it again changes nothing.
    """
    cleaned = html.unescape(nh3.clean(text.replace("&", "&amp;"), tags=set(), attributes={},
                                      clean_content_tags=_DROP_WITH_CONTENT, strip_comments=True))
    return _TAG_OPEN.sub("", cleaned)


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
