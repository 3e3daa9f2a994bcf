"""Pages parsed in a child process with a time limit, so no page can stall ``chatkit index``.

Some HTML costs an HTML5 parser time that grows with the square of its size (200,000 nested
``<div>``s, or ``<option>``s: a minute or more in lexbor), and a C parser cannot be
interrupted from a thread. So the bytes of each page go to one long-lived child process
(started by the ``forkserver`` method, the parsers already imported), which decodes and
parses them and sends the :class:`Page` back. When a parse takes longer than its limit the
child is killed and the next page starts a new one. The child's address space is capped too,
so a page that makes a parser balloon fails alone. The crawler waits for the child in a worker
thread: the event loop never parses.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import resource
import threading
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from chatkit_knowledge.decode import NotText, decode
from chatkit_knowledge.extract import Page, PageError, parse_html, parse_text
from chatkit_knowledge.markdown import parse_markdown

PARSE_SECONDS = 5.0
"""Longest one page may take to decode and parse (a large ordinary page takes well under 0.1 s)."""
PARSE_MEMORY = 2 << 30
"""Address space of the parsing process, in bytes."""

_context = multiprocessing.get_context("forkserver")
_context.set_forkserver_preload(["chatkit_knowledge.parsing"])


class ParseFailed(Exception):
    """A page that could not be parsed, and why."""


def parse(text: str, kind: str, name: str) -> Page:
    """``text`` as a page of ``kind`` (``html``, ``markdown``, ``mdx`` or ``text``)."""
    if kind == "html":
        return parse_html(text, name)
    if kind in ("markdown", "mdx"):
        return parse_markdown(text, name, mdx=kind == "mdx")
    return parse_text(text, name)


def page_from_bytes(data: bytes, charset: str | None, kind: str, name: str) -> Page:
    return parse(decode(data, charset), kind, name)


def _serve(connection: Connection) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (PARSE_MEMORY, PARSE_MEMORY))
    while True:
        try:
            request = connection.recv()
        except (EOFError, OSError):
            return
        try:
            result: tuple[str, object] = ("page", page_from_bytes(*request))
        except NotText as error:
            result = ("failed", f"not text: {error}")
        except PageError as error:
            result = ("failed", str(error))
        except MemoryError:
            result = ("failed", f"could not be parsed in {PARSE_MEMORY >> 30} GiB of memory")
        except Exception as error:  # a parser bug must fail one page, not the build
            result = ("failed", f"could not be parsed ({type(error).__name__})")
        connection.send(result)


class Parser:
    """The parsing child, started on first use; one page at a time. Close it when done."""

    def __init__(self, seconds: float = PARSE_SECONDS) -> None:
        self.seconds = seconds
        self._lock = threading.Lock()
        self._process: BaseProcess | None = None
        self._connection: Connection | None = None

    def page(self, data: bytes, charset: str | None, kind: str, name: str, seconds: float | None = None) -> Page:
        """The page ``data`` holds; :class:`ParseFailed` if it cannot be read within ``seconds``."""
        limit = self.seconds if seconds is None else min(seconds, self.seconds)
        with self._lock:
            connection = self._child()
            try:
                connection.send((data, charset, kind, name))
                if not connection.poll(max(limit, 0.0)):
                    self._stop()
                    raise ParseFailed(f"took longer than {limit:.3g} s to parse")
                status, value = connection.recv()
            except (EOFError, OSError):
                self._stop()
                raise ParseFailed("could not be parsed (the parser stopped)") from None
        if status != "page":
            raise ParseFailed(value)
        return value

    async def page_async(self, data: bytes, charset: str | None, kind: str, name: str,
                         seconds: float | None = None) -> Page:
        return await asyncio.to_thread(self.page, data, charset, kind, name, seconds)

    def _child(self) -> Connection:
        if self._connection is None or self._process is None or not self._process.is_alive():
            self._stop()
            ours, theirs = _context.Pipe()
            self._process = _context.Process(target=_serve, args=(theirs,), name="chatkit-parse", daemon=True)
            self._process.start()
            theirs.close()
            self._connection = ours
        return self._connection

    def _stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.join()
            self._process.close()
        if self._connection is not None:
            self._connection.close()
        self._process = self._connection = None

    def close(self) -> None:
        with self._lock:
            self._stop()

    def __enter__(self) -> Parser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
