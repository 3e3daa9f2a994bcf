"""The widget bundle, served under its plain name and under a content-hashed one, with a manifest.

``/widget/chatkit.js`` is the name embed snippets use: cached for minutes, so a new release
reaches pages soon. ``/widget/chatkit.<hash>.js`` holds the same bytes and never changes, so a
browser or a CDN may keep it for a year (``immutable``). ``/widget/manifest.json`` names the
hashed file and its Subresource Integrity value, for snippets with ``integrity=``. Cache and
cross-origin headers come from the security headers middleware, by the routes' ``asset``.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path

from litestar import HttpMethod, Request, Response, Router, route
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # chatkit_core/, where a wheel puts widget/
SOURCE_ROOT = PACKAGE_ROOT.parent
NAME = "chatkit.js"
READ = [HttpMethod.GET, HttpMethod.HEAD]
JAVASCRIPT = "text/javascript"  # Litestar adds "; charset=utf-8"


def find_bundle(configured: str) -> Path | None:
    """``chatkit.js`` in ``configured``, else in ``./widget``, else the one a wheel installs in the
    package, else the source tree's build (``widget/dist/``, an editable install)."""
    folders = [Path(configured)] if configured else [
        Path.cwd() / "widget", PACKAGE_ROOT / "widget", SOURCE_ROOT / "widget" / "dist"]
    return next((folder / NAME for folder in folders if (folder / NAME).is_file()), None)


@dataclass(frozen=True)
class Bundle:
    body: bytes
    hashed_name: str
    integrity: str
    etag: str

    @classmethod
    def of(cls, body: bytes) -> Bundle:
        digest = hashlib.sha384(body).digest()
        return cls(body, f"chatkit.{digest.hex()[:16]}.js", "sha384-" + base64.b64encode(digest).decode(),
                   f'"{digest.hex()[:32]}"')


class BundleFile:
    """The bundle on disk, read again when it changes (a rebuild while the server runs)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen: tuple[int, int, int] | None = None
        self.bundle = Bundle.of(b"")

    def current(self) -> Bundle:
        stat = self.path.stat()
        # The build replaces the file (a new inode); an edit in place changes its time or size.
        seen = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if seen != self.seen:
            self.bundle = Bundle.of(self.path.read_bytes())
            self.seen = seen
        return self.bundle


def _script(request: Request, bundle: Bundle) -> Response[bytes]:
    # The ETag lets a browser whose short-lived copy expired revalidate it without a download.
    if request.headers.get("if-none-match") == bundle.etag:
        return Response(b"", status_code=304, headers={"ETag": bundle.etag})
    return Response(bundle.body, media_type=JAVASCRIPT, headers={"ETag": bundle.etag})


def widget_router(configured: str) -> Router | None:
    """Routes under ``/widget`` for the bundle found (``server.widget_root``), or None without one."""
    path = find_bundle(configured)
    if path is None:
        return None
    source = BundleFile(path)
    source.current()  # an unreadable bundle fails at start-up, not on a visitor's request

    @route("/" + NAME, http_method=READ, opt={"asset": "widget"}, include_in_schema=False, sync_to_thread=False)
    def plain(request: Request) -> Response[bytes]:
        return _script(request, source.current())

    @route("/manifest.json", http_method=READ, opt={"asset": "widget"}, include_in_schema=False,
           sync_to_thread=False)
    def manifest() -> dict[str, str]:
        bundle = source.current()
        return {NAME: bundle.hashed_name, "integrity": bundle.integrity}

    @route("/{name:str}", http_method=READ, opt={"asset": "widget-hashed"}, include_in_schema=False,
           sync_to_thread=False)
    def hashed(request: Request, name: FromPath[str]) -> Response[bytes]:
        bundle = source.current()
        if name != bundle.hashed_name:
            raise NotFoundException()  # an older hash, too: its bytes are gone
        return _script(request, bundle)

    return Router("/widget", route_handlers=[plain, manifest, hashed])
