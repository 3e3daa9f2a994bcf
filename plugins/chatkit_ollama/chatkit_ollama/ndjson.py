"""Splitting a streamed NDJSON body into lines as its bytes arrive."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp


async def lines(content: aiohttp.StreamReader) -> AsyncIterator[bytes]:
    """The non-blank lines of ``content``; a last line without its newline counts too.

    Whatever arrives is split at once, with no cap on a line's length (``readline`` raises a
    non-client error past 128 KiB) and no copy of the body beyond the unfinished line.
    """
    rest = b""
    async for data in content.iter_any():
        *complete, rest = (rest + data).split(b"\n") if rest else data.split(b"\n")
        for line in complete:
            if line.strip():
                yield line
    if rest.strip():
        yield rest
