"""URLs as messages and logs may show them: never with the credentials they hold."""

from __future__ import annotations

from urllib.parse import urlsplit


def public_url(url: str) -> str:
    """``url`` without ``user:password@``."""
    parts = urlsplit(url)
    return parts._replace(netloc=public_host(url)).geturl()


def public_host(url: str) -> str:
    """The ``host[:port]`` of ``url``, without ``user:password@``."""
    return urlsplit(url).netloc.rpartition("@")[2]
