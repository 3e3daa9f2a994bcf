"""Fixtures for security tests: apps built from TOML text, the XSS corpus, inertness checks."""

from __future__ import annotations

import html
import json
import re
import socket
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from litestar.testing import AsyncTestClient

from chatkit_core.http.app import create_app
from chatkit_core.platform.assembly import build_runtime
from tests.core.conftest import config_from

# One payload per line; a literal ``\n`` stands for a line break inside a payload.
PAYLOADS = [line.replace("\\n", "\n")
            for line in (Path(__file__).parent.parent / "data" / "xss_payloads.txt").read_text().splitlines()
            if line.strip()]


def canned(replies: list[str] | None = None, chunk_chars: int = 8, extra: str = "",
           rate_limit: str = 'type = "none"') -> str:
    """A config answered by the canned provider; no rate limiter unless ``rate_limit`` says."""
    return f"""
[chain]
order = ["demo"]
[providers.demo]
type = "canned"
replies = {json.dumps(replies or [], ensure_ascii=False)}
chunk_chars = {chunk_chars}
delay = 0
[rate_limit]
{rate_limit}
{extra}
"""


@pytest.fixture
def make_client() -> Callable[..., AsyncTestClient]:
    """``async with make_client(toml) as client``: a started app for that config."""

    def make(text: str | None = None) -> AsyncTestClient:
        return AsyncTestClient(create_app(build_runtime(config_from(text or canned()))), raise_server_exceptions=False)

    return make


async def new_session(client: AsyncTestClient, headers: dict[str, str] | None = None) -> str:
    response = await client.post("/api/create-session", headers=headers or {})
    assert response.status_code == 201, response.text
    return response.json()["sessionId"]


def sse_events(text: str) -> list[tuple[str, dict]]:
    """(event, data) pairs of a Server-Sent Events body."""
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.split("\n") if ": " in line)
        if "event" in fields:
            events.append((fields["event"], json.loads(fields.get("data", "null"))))
    return events


class _Markup(HTMLParser):
    """Records everything an HTML parser would turn into something other than text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.found.append(f"<{tag} {attrs}>")

    def handle_endtag(self, tag):
        self.found.append(f"</{tag}>")

    def handle_comment(self, data):
        self.found.append(f"<!--{data}-->")

    def handle_decl(self, decl):
        self.found.append(f"<!{decl}>")

    def handle_pi(self, data):
        self.found.append(f"<?{data}>")

    def unknown_decl(self, data):
        self.found.append(f"<![{data}]>")


# Code as CommonMark sees it (fences at a line start, single-backtick spans): links there are inert.
_CODE = re.compile(r"(?:^|(?<=\n))[ ]{0,3}(?:```.*?(?:```|\Z)|~~~.*?(?:~~~|\Z))|(?<!`)`[^`\n]+`(?!`)", re.S)
_TARGETS = re.compile(r"\]\(([^)\n]*)|^[ \t]{0,3}\[[^\]\n]*\]:\s*(\S*)|<([^\s<>]*)>", re.M)
_SCHEME = re.compile(r"([a-z][a-z0-9+.\-]*):")


def _fully_decoded(text: str) -> str:
    while (decoded := html.unescape(text)) != text:
        text = decoded
    return text


def active_parts(content: str) -> list[str]:
    """What in stored content could become markup, a script URL or an image anywhere it is shown.

    Content is plain text: shown escaped it is inert anyway, so this looks at what a renderer
    that reads markdown with raw HTML in it (as many do) would make of it, outside code.
    """
    prose = _CODE.sub("", content)
    parser = _Markup()
    parser.feed(prose)
    parser.close()
    found = list(parser.found)
    shown = html.unescape(prose)
    for match in _TARGETS.finditer(shown):
        target = re.sub(r"[\s\x00-\x20<>]+", "", _fully_decoded(next(g for g in match.groups() if g is not None)))
        scheme = _SCHEME.match(target.lower())
        if scheme and scheme[1] not in ("http", "https", "mailto"):
            found.append(f"link to {target[:40]}")
    if re.search(r"!\[[^\]\n]*\][(\[]", shown):
        found.append("image")
    return found


def raw_request(base_url: str, method: str, path: str,
                headers: dict[str, str] | list[tuple[str, str]] | None = None,
                body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """One request written byte for byte on a socket (no client normalises its path, a header
    may repeat); status, headers, body."""
    parts = urlsplit(base_url)
    pairs = list(headers.items()) if isinstance(headers, dict) else headers or []
    lines = [f"{method} {path} HTTP/1.1", f"Host: {parts.netloc}", "Connection: close",
             f"Content-Length: {len(body)}", *(f"{name}: {value}" for name, value in pairs)]
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status, *header_lines = head.decode("latin-1").split("\r\n")
    found = {name.lower(): value for name, _, value in (line.partition(": ") for line in header_lines)}
    return int(status.split(" ", 2)[1]), found, rest
