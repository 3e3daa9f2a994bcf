"""Site keys: publishable keys that tie use of the API to the sites allowed to embed it.

The widget sends its key as ``X-ChatKit-Site-Key`` (or, on an event stream, which a browser's
EventSource opens without headers of its own, as ``?siteKey=``). ``[middleware.site_keys] keys`` maps the
salted hash of each key to the origins that may use it::

    [middleware.site_keys.keys]
    "sha256$9f2c4e1a7b3d5c60$5b0e…" = ["https://shop.example.com"]

When the table is empty no key is needed. Otherwise every request routed to the
conversation API (however its path is spelled: ``//api/chat`` reaches the same route; not
preflights, ``/health``, ``/metrics``, the widget or the pages) needs a known key and, when
it sends an ``Origin``, an origin listed for that key (``"*"`` allows any); anything else
gets 403 ``forbidden``. A key is public (it sits in the page's HTML), so this keeps other
sites' browsers off the service; it does not authenticate a visitor or stop a script that
forges headers. The rate limiter covers that.

Hash a new key with::

    python -c "from chatkit_core.http.site_keys import hash_site_key; print(hash_site_key('KEY'))"
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs

import msgspec
import structlog
from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPScope, Receive, Scope, Send

from chatkit_core import hookimpl
from chatkit_core.http.errors import error_app
from chatkit_core.http.routing import opt
from chatkit_core.platform.config import Config, ConfigError

log = structlog.get_logger("chatkit.site_keys")

HEADER = b"x-chatkit-site-key"
_HASH = re.compile(r"^sha256\$([0-9A-Za-z_-]{8,64})\$([0-9a-f]{64})$")
_ORIGIN = re.compile(r"^https?://[^/\s]+$")
_FORBIDDEN = error_app(
    403, "forbidden", "This website is not allowed to use the chat service. Please contact the site's owner.")


def hash_site_key(key: str, salt: str | None = None) -> str:
    """The ``[middleware.site_keys] keys`` entry for ``key``: ``sha256$<salt>$<hex HMAC-SHA256 of key>``."""
    salt = salt or secrets.token_hex(8)
    return f"sha256${salt}${_digest(key, salt)}"


def _digest(key: str, salt: str) -> str:
    return hmac.new(salt.encode(), key.encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class SiteKey:
    salt: str
    digest: str
    origins: frozenset[str]

    def matches(self, key: str) -> bool:
        return hmac.compare_digest(_digest(key, self.salt), self.digest)

    def allows(self, origin: str | None) -> bool:
        return origin is None or "*" in self.origins or origin in self.origins


def parse_site_keys(table: dict[str, list[str]]) -> list[SiteKey]:
    """Check ``middleware.site_keys.keys`` at start-up; errors name the entry and the expected form."""
    keys = []
    for entry, origins in table.items():
        found = _HASH.match(entry)
        if not found:
            raise ConfigError(f"middleware.site_keys.keys: {entry[:20]!r}… is not a key hash like "
                              "\"sha256$<salt>$<64 hex>\"; make one with chatkit_core.http.site_keys.hash_site_key")
        bad = [o for o in origins if o != "*" and not _ORIGIN.match(o)]
        if not origins or bad:
            raise ConfigError(f"middleware.site_keys.keys[{entry[:20]!r}…]: list the origins allowed to use the "
                              f"key, like [\"https://example.com\"] (or [\"*\"] for any); got {origins!r}")
        keys.append(SiteKey(found[1], found[2], frozenset(origins)))
    return keys


def _guarded(scope: HTTPScope) -> bool:
    """Whether the route the request reaches asks for a key (decided by the route, not the path)."""
    return scope["method"] != "OPTIONS" and bool(opt(scope, "site_key"))


def _check(keys: list[SiteKey], presented: str | None, origin: str | None) -> str | None:
    """Why the request is refused, or None. Every hash is compared, so timing shows no match."""
    if presented is None:
        return "missing_key"
    matched = [key for key in keys if key.matches(presented)]
    if not matched:
        return "unknown_key"
    if not any(key.allows(origin) for key in matched):
        return "origin_not_allowed"
    return None


def _from_query(query: bytes) -> bytes | None:
    found = parse_qs(query.decode("latin-1"), max_num_fields=20).get("siteKey")
    return found[0].encode("latin-1") if found else None


class SiteKeysOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``[middleware.site_keys]``."""

    keys: dict[str, list[str]] = msgspec.field(default_factory=dict)
    """Publishable site keys: salted hash -> origins allowed to use it. Empty: no key needed."""


def site_keys(config: Config, options: SiteKeysOptions) -> Callable[[ASGIApp], ASGIApp] | None:
    """Refuse conversation API requests without a valid site key for their origin (403 ``forbidden``)."""
    keys = parse_site_keys(options.keys)
    if not keys:
        return None

    def wrap(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP or not _guarded(scope):
                await app(scope, receive, send)
                return
            headers = dict(scope["headers"])
            presented = headers.get(HEADER)
            if presented is None and opt(scope, "site_key_query"):
                presented = _from_query(scope["query_string"])
            origin = headers.get(b"origin")
            refused = _check(keys, presented.decode("latin-1") if presented is not None else None,
                             origin.decode("latin-1") if origin is not None else None)
            if refused is None:
                await app(scope, receive, send)
                return
            log.warning("site_key_refused", reason=refused, origin=origin.decode("latin-1")[:200] if origin else None)
            await _FORBIDDEN(scope, receive, send)

        return middleware

    return wrap


@hookimpl
def register_middleware(register):
    register("site_keys", site_keys)
