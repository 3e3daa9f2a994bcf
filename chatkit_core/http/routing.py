"""Which route a request is for, decided once from the path Litestar routes by.

Security decisions (site keys, which headers a response carries) and the names in
metrics and logs come from the matched route, never from a prefix of the raw path:
``//api/chat`` and ``/%2fapi/chat`` reach the same handler as ``/api/chat``.
"""

from __future__ import annotations

import re
from typing import Any

from litestar.exceptions import HTTPException
from litestar.types import Scope
from litestar.utils import normalize_path

UNMATCHED = "unmatched"

# A dot segment, an empty segment, or an escaped slash or backslash: the raw path is not
# how the route it reaches is spelled, so a proxy or a prefix check may read it differently.
_NON_CANONICAL = re.compile(rb"//|/\.\.?(?:/|$)|%2f|%5c|\\", re.I)


def canonical(scope: Scope) -> bool:
    raw = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
    return not _NON_CANONICAL.search(raw.split(b"?", 1)[0]) and not _NON_CANONICAL.search(
        scope["path"].encode("utf-8", "surrogateescape"))


def _route(scope: Scope) -> tuple[Any, str] | None:
    """The route handler the request reaches and its path template (looked up if not routed yet)."""
    if "route_handler" in scope:
        return scope["route_handler"], scope.get("path_template") or UNMATCHED
    try:
        found = scope["app"].asgi_router.handle_routing(path=normalize_path(scope["path"]), method=scope.get("method"))
    except HTTPException:
        return None
    return found[1], found[4]


def handler_of(scope: Scope) -> Any | None:
    route = _route(scope)
    return route[0] if route else None


def template_of(scope: Scope) -> str:
    """The matched route's path template (a bounded set of names), or ``unmatched``."""
    route = _route(scope)
    return route[1] if route else UNMATCHED


def opt(scope: Scope, key: str) -> Any:
    handler = handler_of(scope)
    return handler.opt.get(key) if handler is not None else None
