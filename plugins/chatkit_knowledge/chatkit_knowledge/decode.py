"""Bytes to text: pages and files whose charset is missing or wrong still read correctly."""

from __future__ import annotations

import codecs
import re

import charset_normalizer

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)


class NotText(Exception):
    """Binary content, or bytes no text encoding explains."""


def _known(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode(data: bytes, declared: str | None = None) -> str:
    """``data`` as text. Valid UTF-8 wins over any label (a wrong label is common, valid UTF-8
    by chance is not); then the declared charset, then ``<meta charset>``, then detection."""
    if b"\x00" in data[:8192]:
        raise NotText("binary content")
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    meta = _META_CHARSET.search(data[:4096])
    labels = ["utf-8", _known(declared), _known(meta.group(1).decode("ascii") if meta else None)]
    for label in dict.fromkeys(name for name in labels if name):
        try:
            return data.decode(label)
        except UnicodeDecodeError:
            continue
    best = charset_normalizer.from_bytes(data[:200_000]).best()
    if best is None:
        raise NotText("no text encoding fits its bytes")
    return data.decode(best.encoding, errors="replace")
