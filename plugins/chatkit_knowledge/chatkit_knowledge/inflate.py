"""Response bodies read within a byte limit, decompressed by us, counted as they inflate.

httpx inflates each chunk it receives in one go, however far it expands: 661 bytes of
``Content-Encoding: gzip, gzip`` become 300 MiB before any limit sees a byte. So the crawler
asks for ``gzip`` or ``deflate`` only, reads the raw bytes, and inflates them here with
``zlib``'s ``max_length``: never more than the bytes still allowed, plus one to notice the
overflow. A body with more than one content-coding, or one we did not ask for, is refused.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator

import httpx

ACCEPT_ENCODING = "gzip, deflate"


class TooLarge(Exception):
    """The body, decompressed, is larger than allowed."""


class BadEncoding(Exception):
    """A content-coding we do not read, or compressed bytes that do not inflate."""


class _Inflater:
    def __init__(self, coding: str) -> None:
        self.coding = coding
        # 32 + 15: a gzip or zlib header, told apart by zlib; raw deflate is tried when neither fits.
        self.engine = zlib.decompressobj(47 if coding in ("gzip", "x-gzip") else 15)
        self.started = False

    def inflate(self, data: bytes, room: int) -> bytes:
        """At most ``room + 1`` bytes out of ``data`` (the input not yet inflated is kept)."""
        try:
            out = self.engine.decompress(self.engine.unconsumed_tail + data, room + 1)
        except zlib.error as error:
            if self.started or self.coding != "deflate":
                raise BadEncoding(f"its {self.coding} data does not inflate ({error})") from None
            self.engine = zlib.decompressobj(-15)  # servers that send raw deflate without the zlib header
            out = self.engine.decompress(data, room + 1)
        self.started = True
        return out


def _coding(response: httpx.Response) -> str:
    codings = [c.strip().lower() for c in response.headers.get("content-encoding", "").split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    if len(codings) > 1:
        raise BadEncoding(f"more than one content-coding ({', '.join(codings)})")
    if codings and codings[0] not in ("gzip", "x-gzip", "deflate"):
        raise BadEncoding(f"a content-coding that was not asked for ({codings[0]})")
    return codings[0] if codings else ""


async def chunks(response: httpx.Response, limit: int) -> AsyncIterator[bytes]:
    """The body's bytes, decompressed, in pieces; :class:`TooLarge` once they pass ``limit``."""
    coding = _coding(response)
    inflater = _Inflater(coding) if coding else None
    raw = total = 0
    async for data in response.aiter_raw():
        raw += len(data)
        if raw > limit:  # compressed bytes count too: a body never costs more than limit to receive
            raise TooLarge
        # zlib stops at max_length = room + 1, so a piece that fills it is over the limit.
        piece = inflater.inflate(data, limit - total) if inflater else data
        total += len(piece)
        if total > limit:
            raise TooLarge
        if piece:
            yield piece


async def read(response: httpx.Response, limit: int) -> bytes:
    """The whole body, decompressed, at most ``limit`` bytes (:class:`TooLarge` beyond)."""
    body = bytearray()
    async for piece in chunks(response, limit):
        body += piece
    return bytes(body)
