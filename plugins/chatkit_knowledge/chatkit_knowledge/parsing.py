"""Pages parsed in a child process with a time limit, so no page can stall ``chatkit index``.

Some HTML costs an HTML5 parser time that grows with the square of its size (200,000 nested
``<div>``s, or ``<option>``s: a minute or more in lexbor), and a C parser cannot be
interrupted from a thread. So the bytes of pages go to a long-lived child process (started by
the ``forkserver`` method, the parsers already imported), which decodes and parses them and
sends the :class:`Page` objects back. Before each page the child arms a CPU-time timer
(``ITIMER_PROF``) whose signal ends it: a page that takes more than its limit kills the child,
which the next page replaces. Its address space is capped too, so a page that makes a parser
balloon fails alone. Local files go in batches, to spare a round trip per page; when a batch
kills the child, its pages are parsed again one by one to find the culprit. The crawler waits
for the child in a worker thread: the event loop never parses.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import resource
import signal
import threading
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import cast

from chatkit_knowledge.decode import NotText, decode
from chatkit_knowledge.extract import Page, PageError, parse_html, parse_text
from chatkit_knowledge.markdown import parse_markdown

PARSE_SECONDS = 5.0
"""Most CPU time one page may take to decode and parse (a large ordinary page takes well under 0.1 s)."""
WAIT_FACTOR = 4
"""Longest wait for a batch, in CPU limits per page: on a busy machine a page waits for a core too."""
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


Request = tuple[bytes, str | None, str, str]
"""(bytes, declared charset, kind, name for a title of last resort)"""


def _one(request: Request) -> tuple[str, object]:
    try:
        return "page", page_from_bytes(*request)
    except NotText as error:
        return "failed", f"not text: {error}"
    except PageError as error:
        return "failed", str(error)
    except MemoryError:
        return "failed", f"could not be parsed in {PARSE_MEMORY >> 30} GiB of memory"
    except Exception as error:  # a parser bug must fail one page, not the build
        return "failed", f"could not be parsed ({type(error).__name__})"


def _serve(connection: Connection) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (PARSE_MEMORY, PARSE_MEMORY))
    signal.signal(signal.SIGPROF, signal.SIG_DFL)  # the timer's signal ends the process
    while True:
        try:
            requests, seconds = connection.recv()
        except (EOFError, OSError):
            return
        results = []
        for request in requests:
            signal.setitimer(signal.ITIMER_PROF, seconds)
            results.append(_one(request))
            signal.setitimer(signal.ITIMER_PROF, 0)
        connection.send(results)


class Parser:
    """The parsing child, started on first use; one batch at a time, which it may parse while the
    caller goes on (:meth:`submit`, then :meth:`collect`). Close it when done."""

    def __init__(self, seconds: float = PARSE_SECONDS) -> None:
        self.seconds = seconds
        self._lock = threading.Lock()
        self._process: BaseProcess | None = None
        self._connection: Connection | None = None
        self._sent: list[Request] = []

    def page(self, data: bytes, charset: str | None, kind: str, name: str, deadline: float | None = None) -> Page:
        """The page ``data`` holds; :class:`ParseFailed` if it cannot be read, within
        :attr:`seconds` of CPU and ``deadline`` seconds (if given) of waiting."""
        result = self.pages([(data, charset, kind, name)], deadline)[0]
        if isinstance(result, ParseFailed):
            raise result
        return result

    async def page_async(self, data: bytes, charset: str | None, kind: str, name: str,
                         deadline: float | None = None) -> Page:
        return await asyncio.to_thread(self.page, data, charset, kind, name, deadline)

    def pages(self, requests: list[Request], deadline: float | None = None) -> list[Page | ParseFailed]:
        """Each request's page, or why it failed, in order."""
        with self._lock:
            self._submit(requests)
            return self._collect(deadline)

    def submit(self, requests: list[Request]) -> None:
        """Start parsing ``requests`` while the caller goes on; :meth:`collect` returns them."""
        with self._lock:
            self._submit(requests)

    def collect(self) -> list[Page | ParseFailed]:
        """The pages of the last :meth:`submit`, in order."""
        with self._lock:
            return self._collect(None)

    def _submit(self, requests: list[Request]) -> None:
        if self._sent:
            raise RuntimeError("collect() the pages submitted before submitting more")
        self._sent = requests
        if requests:
            try:
                self._child().send((requests, self.seconds))
            except OSError:  # it died in between: collecting says so
                self._stop(dying=True)

    def _collect(self, deadline: float | None) -> list[Page | ParseFailed]:
        requests, self._sent = self._sent, []
        if not requests:
            return []
        # The CPU timer bounds each page; this bounds the wait, when the machine is busy too.
        wait = WAIT_FACTOR * self.seconds * len(requests)
        results = self._receive(wait if deadline is None else min(wait, deadline))
        if isinstance(results, ParseFailed) and len(requests) > 1:  # one of them: find which
            found: list[Page | ParseFailed] = []
            for request in requests:
                self._submit([request])
                found += self._collect(deadline)
            return found
        if isinstance(results, ParseFailed):
            return [results]
        return [cast(Page, value) if status == "page" else ParseFailed(str(value)) for status, value in results]

    def _receive(self, wait: float) -> list[tuple[str, object]] | ParseFailed:
        try:
            if self._connection is None:
                raise EOFError
            if self._connection.poll(max(wait, 0.0)):
                return self._connection.recv()
            self._stop()
            return ParseFailed(f"took longer than {wait:.3g} s to parse")
        except (EOFError, OSError):
            ended = self._stop(dying=True)
            if ended == -signal.SIGPROF:
                return ParseFailed(f"took more than {self.seconds:g} s of CPU to parse")
            return ParseFailed("could not be parsed (the parser stopped)")

    def _child(self) -> Connection:
        if self._connection is None or self._process is None or not self._process.is_alive():
            self._stop()
            ours, theirs = _context.Pipe()
            process = _context.Process(target=_serve, args=(theirs,), name="chatkit-parse", daemon=True)
            try:
                process.start()
            except BaseException:
                ours.close()
                raise
            finally:
                theirs.close()
            self._process = process
            self._connection = ours
        return self._connection

    def _stop(self, dying: bool = False) -> int | None:
        """End the child; its exit code if it had ended by itself."""
        ended = None
        if self._process is not None:
            if dying:  # it closed its end of the pipe: let it finish, to learn why
                self._process.join(1.0)
            ended = self._process.exitcode
            self._process.kill()
            self._process.join()
            self._process.close()
        if self._connection is not None:
            self._connection.close()
        self._process = self._connection = None
        return ended

    def close(self) -> None:
        with self._lock:
            self._stop()

    def __enter__(self) -> Parser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
