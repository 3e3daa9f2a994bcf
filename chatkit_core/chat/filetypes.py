"""What an uploaded file is, decided from its bytes (never from its name or the upload's header),
and what its name may say.

Images and PDFs are known by their magic numbers at the very start of the file: a file that only
holds one further in (a polyglot that opens as something else) is not one. Anything else is a
text file only if it decodes as text (:mod:`chatkit_core.chat.convert` decides) and does not open
like markup a browser would run: SVG, HTML and XML are refused by name, even though they are text.
"""

from __future__ import annotations

import re
import unicodedata

TYPES = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "pdf": "application/pdf",
    "text": "text/plain",
    "markdown": "text/markdown",
}
"""The ``[uploads] types`` names and the media type each stands for."""
IMAGES = ("png", "jpeg", "webp")
EXTENSIONS = {"png": ".png", "jpeg": ".jpg,.jpeg", "webp": ".webp", "pdf": ".pdf", "text": ".txt",
              "markdown": ".md,.markdown"}
"""What a browser's file picker offers for each type (a hint only: the bytes decide)."""

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"%PDF-", "pdf"),
)
# Text a browser would sniff as markup and may run: SVG, HTML, XML (WHATWG MIME sniffing's
# patterns, and what follows a byte order mark or leading white space).
_MARKUP = re.compile(rb"^(?:\xef\xbb\xbf|\xff\xfe|\xfe\xff)?\s*<(?:\?xml|!--|(?:svg|!doctype|html|head|body|script|"
                     rb"iframe|h1|div|font|table|a|style|title|b|br|p|math|xsl:\w+)(?:[\s>/]|$))", re.I)
# Known binary formats nobody should send as "text": archives, executables, other images.
_BINARY = (b"PK\x03\x04", b"\x7fELF", b"MZ\x90\x00", b"GIF8", b"\x1f\x8b", b"7z\xbc\xaf", b"Rar!", b"II*\x00",
           b"MM\x00*", b"\x00\x00\x01\x00", b"OggS", b"fLaC", b"\xca\xfe\xba\xbe")


def sniff(data: bytes) -> str | None:
    """``png``, ``jpeg``, ``webp`` or ``pdf`` from the magic number; ``text`` for what may be
    text; ``markup`` for SVG, HTML or XML; None for anything else (a known binary format)."""
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if _MARKUP.match(data[:512].replace(b"\x00", b"")):
        return "markup"
    if data.startswith(_BINARY) or data[:4] == b"RIFF" or data[4:8] == b"ftyp":
        return None
    return "text"


def text_kind(name: str) -> str:
    """A text file is ``markdown`` when its name says so, else ``text``: the bytes cannot tell the two
    apart, and the label changes nothing of what is done with it."""
    return "markdown" if name.lower().endswith((".md", ".markdown")) else "text"


MAX_NAME_CHARS = 100
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\"*:<>?|\\/]+")
_SPACES = re.compile(r"\s+")


def clean_name(name: str, fallback: str = "attachment") -> str:
    """A file name safe to show and to send in a header: the last part of any path, no control or
    direction characters, none that file systems or headers refuse, no leading dots, at most
    :data:`MAX_NAME_CHARS` characters (the extension kept)."""
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c) not in ("Cc", "Cf", "Co", "Cs", "Zl", "Zp"))
    name = _SPACES.sub(" ", _UNSAFE.sub("_", name)).strip(" .")
    if len(name) > MAX_NAME_CHARS:
        _, dot, extension = name.rpartition(".")
        keep = f".{extension}" if dot and 0 < len(extension) <= 10 else ""
        name = name[:MAX_NAME_CHARS - len(keep)].rstrip(" .") + keep
    return name or fallback


def download_name(name: str, media_type: str) -> str:
    """The name an attachment is downloaded under: what it is now, not what it was (a PDF's text is
    ``invoice.pdf.txt``; an image keeps an extension of its own type)."""
    if media_type.startswith("text/"):
        return name if name.lower().endswith(".txt") else name + ".txt"
    extension = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}.get(media_type, "")
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return (stem or "image") + extension
