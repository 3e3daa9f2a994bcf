"""The ``[sessions]`` keys of the ``postgres`` store, and URLs shown without their password."""

from __future__ import annotations

import re
from typing import ClassVar
from urllib.parse import urlsplit

from chatkit_core.chat.sessions import SessionStoreOptions
from chatkit_core.durations import parse_duration
from chatkit_core.platform.environment import EnvSetter, fallback

SCHEMES = ("postgresql", "postgres")
EXAMPLE = "postgresql://chatkit:PASSWORD@127.0.0.1:5432/chatkit"


class PostgresOptions(SessionStoreOptions, kw_only=True, forbid_unknown_fields=True):
    env: ClassVar[dict[str, EnvSetter]] = {"DATABASE_URL": fallback("url")}
    max_connections: int = 10
    """Connections each process opens at most; more concurrent calls wait for one (``pool_timeout``)."""
    connect_timeout: float = 5.0
    """Seconds to open a connection before PostgreSQL counts as unreachable."""
    statement_timeout: float = 5.0
    """Seconds one statement may run (PostgreSQL cancels it) before the call fails."""
    pool_timeout: float = 2.0
    """Seconds a call waits for a connection of the pool, opening a new one included."""
    statement_cache_size: int = 100
    """Prepared statements kept per connection; 0 behind PgBouncer in transaction mode."""
    sweep_lease: str | float = "10m"
    """How long the instance that last ran the retention sweep keeps the turn (others skip it)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_url(self.url)
        if self.max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        for key in ("connect_timeout", "statement_timeout", "pool_timeout"):
            if getattr(self, key) <= 0:
                raise ValueError(f"{key} must be greater than 0 (seconds)")
        if self.statement_cache_size < 0:
            raise ValueError("statement_cache_size must be 0 (no cache) or more")
        if parse_duration(self.sweep_lease) <= 0:
            raise ValueError("sweep_lease must be longer than 0")

    @property
    def sweep_lease_seconds(self) -> float:
        return parse_duration(self.sweep_lease)


def check_url(url: str) -> None:
    """Refuse anything but a PostgreSQL URL, echoing only its scheme (it may hold a password)."""
    if not url:
        raise ValueError(f"url: no PostgreSQL URL; set url = \"{EXAMPLE}\" or the DATABASE_URL environment variable")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError:
        raise ValueError(f"url: not a valid URL ({redact(url)}); use e.g. \"{EXAMPLE}\"") from None
    if parts.scheme not in SCHEMES:
        got = f"scheme {parts.scheme!r}" if parts.scheme else "no scheme"
        raise ValueError(f"url: not a PostgreSQL URL ({got}); use e.g. \"{EXAMPLE}\"")


_PASSWORD = re.compile(r"^([a-z][a-z0-9+.-]*://[^:/@?#]*):[^@/?#]*@", re.I)
_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&#]*", re.I)


def redact(url: str) -> str:
    """``url`` with any password (``user:PASSWORD@`` or ``?password=``) as ``***``."""
    return _QUERY_PASSWORD.sub(r"\1***", _PASSWORD.sub(r"\1:***@", url))
