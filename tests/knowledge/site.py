"""A small website on loopback for crawler tests: a threaded ``http.server`` serving routes.

    with Site({"/": html_page("Home", links=["/a.html"]), "/a.html": Route(status=404)}) as site:
        site.url      # http://127.0.0.1:PORT
        site.hits     # paths requested, in order

``Route(parts=..., pause=...)`` sends a body made as it goes (a drip, a body too large to hold).
"""

from __future__ import annotations

import http.server
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "text/html; charset=utf-8"})
    chunked: bool = False
    """Send the body without Content-Length, so only reading it tells its size."""
    delay: float = 0.0
    parts: Callable[[], Iterable[bytes]] | None = None
    """Written one after the other as made, instead of ``body`` (a body too big to hold, a drip):
    chunked, unless ``headers`` give a Content-Length."""
    pause: float = 0.0
    """Seconds between two of ``parts``."""


def html_page(title: str, body: str = "", links: list[str] | tuple[str, ...] = ()) -> Route:
    anchors = "".join(f'<a href="{link}">{link}</a> ' for link in links)
    text = (f"<!doctype html><html><head><title>{title}</title></head><body><nav>{anchors}</nav>"
            f"<main><h1>{title}</h1>{body}</main><footer>Footer text</footer></body></html>")
    return Route(text.encode())


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """A crawler that stops reading (a body over its limit) is expected: say nothing."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class Site:
    def __init__(self, routes: dict[str, Route], password: str | None = None) -> None:
        self.routes = routes
        self.hits: list[str] = []
        self.password = password
        """An ``Authorization`` header every request must carry (else 401)."""
        self.authorizations: list[str | None] = []
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                site.hits.append(self.path)
                site.authorizations.append(self.headers.get("Authorization"))
                route = site.routes.get(self.path.split("?")[0]) or Route(b"not found", 404, {})
                if route.delay:
                    time.sleep(route.delay)
                if site.password is not None and self.headers.get("Authorization") != site.password:
                    route = Route(b"who are you?", 401, {"WWW-Authenticate": 'Basic realm="site"'})
                self.send_response(route.status)
                for name, value in route.headers.items():
                    self.send_header(name, value)
                if route.parts is not None:
                    self.send_parts(route)
                    return
                if route.chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for start in range(0, len(route.body), 65536):
                        part = route.body[start : start + 65536]
                        self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
                    self.wfile.write(b"0\r\n\r\n")
                    return
                self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                self.wfile.write(route.body)

            def send_parts(self, route: Route) -> None:
                chunked = "Content-Length" not in route.headers
                if chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for part in route.parts():  # type: ignore[misc]  # checked by the caller
                    self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n" if chunked else part)
                    self.wfile.flush()
                    time.sleep(route.pause)
                if chunked:
                    self.wfile.write(b"0\r\n\r\n")

            def log_message(self, *args: object) -> None:
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> Site:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
