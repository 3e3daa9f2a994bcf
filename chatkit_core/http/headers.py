"""Reading and setting raw ASGI headers without building header objects (the hot path)."""

from __future__ import annotations

from collections.abc import Collection, Iterable

from litestar.types import HTTPResponseStartEvent, Scope


def encode(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]


def set_headers(
    message: HTTPResponseStartEvent, headers: Iterable[tuple[bytes, bytes]], keep: Collection[bytes] = ()
) -> None:
    """Set encoded ``headers`` (lower-case names) on a response start, replacing any of the same
    name, except those named in ``keep`` that the response already has."""
    current = list(message.get("headers") or ())
    present = {name.lower() for name, _ in current}
    adding = [header for header in headers if header[0] not in present or header[0] not in keep]
    if replaced := present.intersection(name for name, _ in adding):
        current = [header for header in current if header[0].lower() not in replaced]
    current.extend(adding)
    message["headers"] = current


def first_header(scope: Scope, name: bytes) -> bytes | None:
    """A request header's first value (as ``Headers.get``), without building a headers object."""
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None
