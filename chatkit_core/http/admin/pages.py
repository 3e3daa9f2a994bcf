"""Rendering console pages: Jinja2 with autoescaping everywhere, and the console's headers.

Visitor and model text is stored as written and only ever reaches a page through autoescaping,
or, for answers, through the ``markdown`` filter (:mod:`chatkit_core.http.admin.markdown`), which
escapes every piece of text itself: templates never mark anything else safe.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from litestar import Request, Response
from markupsafe import Markup

from chatkit_core import __version__
from chatkit_core.http.admin.auth import SESSION_COOKIE, Keys

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"

# connect-src: the handoff pages read the operators' API and its event streams, on this origin only.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
HEADERS = {"Content-Security-Policy": CSP, "Cache-Control": "no-store"}


def when(timestamp: float | str | None) -> str:
    """An instant as ``2026-11-30 14:05:09 UTC`` from epoch seconds or RFC 3339."""
    if timestamp is None or timestamp == "":
        return ""
    moment = (datetime.fromisoformat(timestamp.replace("Z", "+00:00")) if isinstance(timestamp, str)
              else datetime.fromtimestamp(timestamp, UTC))
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def markdown(text: str) -> Markup:
    """An answer's Markdown as HTML; markdown-it loads with the first transcript, not in every worker."""
    from chatkit_core.http.admin.markdown import markdown

    return markdown(text)


_environment = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True, undefined=StrictUndefined,
                           trim_blocks=True, lstrip_blocks=True)
_environment.filters["when"] = when
_environment.filters["markdown"] = markdown
_environment.globals["version"] = __version__


def render(request: Request, template: str, status: int = 200, **context: Any) -> Response[str]:
    keys: Keys = request.app.state.admin_keys
    session = request.cookies.get(SESSION_COOKIE)
    csrf = keys.csrf_for(session) if session and keys.session_valid(session) else ""
    handoff_on = request.app.state.runtime.handoff is not None
    html = _environment.get_template(template).render(csrf=csrf, signed_in=bool(csrf), handoff_on=handoff_on,
                                                      **context)
    return Response(html, status_code=status, media_type="text/html; charset=utf-8", headers=HEADERS)
