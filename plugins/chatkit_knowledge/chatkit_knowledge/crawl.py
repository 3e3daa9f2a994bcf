"""Fetching a site's pages over HTTP: page URLs with their links, and sitemaps.

Rules: only the source's origin (scheme, host and port) is fetched, redirects included;
robots.txt is obeyed (for the ``ChatKit`` agent, else ``*``); only HTML, plain text and
Markdown responses are read; links are followed ``max_depth`` deep, at most ``max_pages``
pages per source, ``concurrency`` at a time, and the whole run stops after ``crawl_seconds``.
A private or loopback address is never contacted unless the source's own host is one (see
guard.py).

Nothing a site sends is held or worked on without a bound:

- a body is decompressed by us, counted as it inflates, at most ``max_page_bytes`` (inflate.py);
- one request, from connecting to the last byte, takes at most ``request_timeout`` and never
  runs past ``crawl_seconds``: a page that drips a byte a second is dropped;
- pages are parsed in a child process with a nesting and a time limit (parsing.py), off the
  event loop;
- sitemaps are parsed as they arrive and read only until ``max_pages`` URLs are found; the
  sitemaps a sitemap index lists are fetched one at a time, at most :data:`MAX_SITEMAPS`;
- each page goes to the caller as soon as it is parsed, and at most :data:`MAX_QUEUED` times
  ``max_pages`` links wait in the queue.

Credentials written in a source URL (``https://user:pass@host/``) are sent, as HTTP Basic
authentication, to that origin only, and appear nowhere else: URLs, sources and reports
carry the URL without them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import urllib.robotparser
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import TypeVar
from urllib.parse import unquote, urldefrag, urljoin, urlsplit, urlunsplit

import httpx

from chatkit_knowledge import inflate
from chatkit_knowledge.decode import NotText, decode
from chatkit_knowledge.guard import Resolver, all_public, guarded_client, resolve
from chatkit_knowledge.options import SqliteOptions
from chatkit_knowledge.parsing import ParseFailed, Parser
from chatkit_knowledge.sitemaps import NotASitemap, SitemapReader
from chatkit_knowledge.sources import Document, Failure, excluded

PAGE_TYPES = {"text/html": "html", "application/xhtml+xml": "html", "text/plain": "text", "text/markdown": "markdown"}
SKIPPED_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg", ".ico", ".css", ".js", ".mjs", ".json",
                    ".pdf", ".zip", ".gz", ".mp4", ".mp3", ".woff", ".woff2", ".ttf", ".xml"}
MAX_REDIRECTS = 5
MAX_QUEUED = 10
"""Links queued per source, at most, as a multiple of ``max_pages``: a page of 40,000 links
must not make the crawl hold millions. Those past it are counted and reported once."""
MAX_SITEMAPS = 50
"""Most sitemaps read from sitemap indexes for one source."""
ROBOTS_BYTES = 500_000
SITEMAP_BYTES = 50_000_000
"""Largest sitemap, decompressed (the sitemap protocol's own limit)."""
AGENT = "ChatKit"
T = TypeVar("T")


class Skip(Exception):
    """A page not taken, and why. ``keep``: it may still exist, its indexed copy stays."""

    def __init__(self, reason: str, keep: bool = False, status: int | None = None) -> None:
        super().__init__(reason)
        self.keep = keep
        self.status = status


class AlreadySeen(Exception):
    """A redirect to a page this crawl has already fetched or queued."""


def split_credentials(url: str) -> tuple[str, httpx.BasicAuth | None]:
    """``url`` without ``user:password@``, and those credentials (None when it has none)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None
    host = parts.netloc.rsplit("@", 1)[1]
    auth = httpx.BasicAuth(unquote(parts.username or ""), unquote(parts.password or ""))
    return urlunsplit(parts._replace(netloc=host)), auth


@dataclass
class Crawl:
    options: SqliteOptions
    deadline: float
    client: httpx.AsyncClient
    origin: tuple[str, str]
    robots: urllib.robotparser.RobotFileParser
    parser: Parser
    auth: httpx.BasicAuth | None = None
    emit: Callable[[Document | Failure], None] = lambda item: None
    """Takes each page or failure as soon as it is known: nothing piles up in the crawl."""
    seen: set[str] = field(default_factory=set)
    unfollowed: int = 0
    """Links left out because :data:`MAX_QUEUED` pages per allowed page were already queued."""
    progress: Callable[[str], None] = lambda url: None

    def same_origin(self, url: str) -> bool:
        parts = urlsplit(url)
        return (parts.scheme, parts.netloc.lower()) == self.origin

    async def fetch(self, url: str, read: Callable[[str, httpx.Response], Awaitable[T]]) -> T:
        """GET ``url`` (same-origin redirects followed) and ``read`` the response, all within
        ``request_timeout`` and before ``crawl_seconds`` runs out."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise Skip("crawl_seconds ran out before this page", keep=True)
        limit = min(self.options.request_timeout, left)
        try:
            async with asyncio.timeout(limit):
                return await self._follow(url, read)
        except TimeoutError:
            if limit < self.options.request_timeout:
                raise Skip("crawl_seconds ran out while fetching it", keep=True) from None
            raise Skip(f"took longer than request_timeout ({self.options.request_timeout:g} s)", keep=True) from None

    async def _follow(self, url: str, read: Callable[[str, httpx.Response], Awaitable[T]]) -> T:
        for _ in range(MAX_REDIRECTS + 1):
            if not self.robots.can_fetch(AGENT, url):
                raise Skip("disallowed by robots.txt")
            try:
                async with self.client.stream("GET", url, auth=self.auth) as response:
                    if response.is_redirect:
                        target = urljoin(url, response.headers.get("location", ""))
                        if not self.same_origin(target):
                            raise Skip(f"redirects off the site, to {split_credentials(target)[0]}")
                        url = urldefrag(target).url
                        if url in self.seen:
                            raise AlreadySeen(url)
                        continue
                    if response.status_code >= 400:
                        raise Skip(f"HTTP {response.status_code}", keep=response.status_code not in (404, 410),
                                   status=response.status_code)
                    return await read(url, response)
            except httpx.TimeoutException:
                raise Skip("timed out", keep=True) from None
            except httpx.HTTPError as error:
                raise Skip(f"unreachable: {error}", keep=True) from None
            except inflate.BadEncoding as error:
                raise Skip(f"refused: {error}") from None
        raise Skip(f"more than {MAX_REDIRECTS} redirects")


def _content_type(response: httpx.Response) -> str:
    return response.headers.get("content-type", "").split(";")[0].strip().lower()


def _is_xml(kind: str) -> bool:
    return kind in ("application/xml", "text/xml") or (kind.endswith("+xml") and kind != "application/xhtml+xml")


@dataclass
class Body:
    url: str
    kind: str
    charset: str | None
    data: bytes


async def _read_page(crawl: Crawl, url: str, response: httpx.Response) -> Body:
    kind_header = _content_type(response)
    kind = PAGE_TYPES.get(kind_header)
    if kind is None:
        raise Skip(f"not a page (content type {kind_header or 'missing'})")
    limit = crawl.options.max_page_bytes
    length = response.headers.get("content-length", "")
    declared = int(length) if length.isdigit() else 0
    if declared > limit and "content-encoding" not in response.headers:
        raise Skip(f"{declared} bytes, over max_page_bytes ({limit})")
    try:
        data = await inflate.read(response, limit)
    except inflate.TooLarge:
        raise Skip(f"over max_page_bytes ({limit})") from None
    return Body(url, kind, response.charset_encoding, data)


async def crawl(source: str, options: SqliteOptions, deadline: float, progress: Callable[[str], None],
                resolver: Resolver = resolve, parser: Parser | None = None,
                emit: Callable[[Document | Failure], None] | None = None) -> list[Document | Failure]:
    """Crawl one source. Each page and failure goes to ``emit`` as soon as it is known (and the
    list returned is empty); without ``emit`` they are all returned at the end."""
    results: list[Document | Failure] = []
    emit = emit or results.append
    with contextlib.ExitStack() as own:
        await _crawl(source, options, deadline, progress, resolver, parser or own.enter_context(Parser()), emit)
    return results


async def _crawl(source: str, options: SqliteOptions, deadline: float, progress: Callable[[str], None],
                 resolver: Resolver, parser: Parser, emit: Callable[[Document | Failure], None]) -> None:
    public, auth = split_credentials(source)
    parts = urlsplit(public)
    if not parts.hostname:
        emit(Failure(public, "not a URL"))
        return
    try:
        addresses = await resolver(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    except OSError as error:
        emit(Failure(public, f"unreachable: cannot resolve {parts.hostname} ({error})", keep=True))
        return
    client = guarded_client(not all_public(addresses), options.request_timeout, options.user_agent,
                            options.concurrency, resolver)
    async with client:
        crawl = Crawl(options, deadline, client, (parts.scheme, parts.netloc.lower()),
                      urllib.robotparser.RobotFileParser(), parser, auth, emit, progress=progress)
        try:
            await _robots(crawl)
        except Skip as skip:
            emit(Failure(public, f"{skip} (robots.txt)", keep=True))
            return
        await _start(crawl, urldefrag(public).url)
        if crawl.unfollowed:
            emit(Failure(public, f"{crawl.unfollowed} more links were not followed: over {MAX_QUEUED} times "
                                 f"max_pages ({options.max_pages}) queued", keep=True))


async def _robots(crawl: Crawl) -> None:
    """Read robots.txt (same-origin redirects followed). Missing (4xx): everything is allowed;
    erroring (5xx): nothing is, as RFC 9309 says; unreachable: the source is."""
    crawl.robots.parse([])  # allow everything until told otherwise

    async def read(url: str, response: httpx.Response) -> bytes:
        try:
            return await inflate.read(response, ROBOTS_BYTES)
        except inflate.TooLarge:  # RFC 9309: at least 500 KiB are read; past that, nothing is
            return b""

    try:
        body = await crawl.fetch(f"{crawl.origin[0]}://{crawl.origin[1]}/robots.txt", read)
    except Skip as skip:
        if skip.keep and skip.status is None:  # unreachable or timed out
            raise
        crawl.robots.disallow_all = (skip.status or 0) >= 500  # type: ignore[attr-defined]  # undocumented
        return
    except AlreadySeen:
        return
    with contextlib.suppress(NotText):
        crawl.robots.parse(decode(body).splitlines())


async def _start(crawl: Crawl, url: str) -> None:
    """The source URL: a sitemap (its pages are fetched) or a page (its links are followed)."""
    crawl.progress(url)

    async def read(final: str, response: httpx.Response) -> Body | Listing:
        kind = _content_type(response)
        if _is_xml(kind) or (kind not in PAGE_TYPES and urlsplit(final).path.endswith(".xml")):
            try:
                return await _stream_sitemap(response, crawl.options.max_pages)
            except NotASitemap as error:
                raise Skip(str(error)) from None
        return await _read_page(crawl, final, response)

    try:
        first = await crawl.fetch(url, read)
    except Skip as skip:
        crawl.emit(Failure(url, str(skip), skip.keep))
        return
    except AlreadySeen:
        return
    if isinstance(first, Listing):
        urls = await _sitemap_urls(crawl, url, first)
        await _fetch_all(crawl, [(u, 0) for u in urls], follow=False)
    else:
        crawl.seen.add(first.url)
        await _fetch_all(crawl, [], follow=True, first=first)


@dataclass
class Listing:
    """What one sitemap lists: page URLs (``urlset``) or sitemaps (``sitemapindex``)."""

    kind: str
    locations: list[str]
    more: bool
    """It lists more than were wanted; the rest was not read."""


async def _sitemap_urls(crawl: Crawl, url: str, listing: Listing) -> list[str]:
    """Page URLs listed by a sitemap or, through a sitemap index, by its sitemaps, up to
    ``max_pages``. The index's sitemaps are read one after the other, until enough are found."""
    cap = crawl.options.max_pages
    urls: dict[str, None] = {}
    children: list[str] = []
    where, read = url, 0
    while True:
        for location in listing.locations:
            if not crawl.same_origin(location):
                crawl.emit(Failure(split_credentials(location)[0], "off the site's origin"))
            elif listing.kind == "sitemapindex":
                children.append(urldefrag(location).url)
            elif len(urls) < cap:
                urls[urldefrag(location).url] = None
        taken = len(listing.locations)
        if listing.more and listing.kind == "urlset":
            crawl.emit(Failure(where, f"the sitemap lists more than {taken} URLs; the first {taken} were "
                                                "taken (max_pages)", keep=True))
        elif listing.more:
            crawl.emit(Failure(where, f"the sitemap index lists more than {taken} sitemaps; the first "
                                                f"{taken} were read", keep=True))
        if len(urls) >= cap or not children:
            break
        if read >= MAX_SITEMAPS:
            crawl.emit(Failure(url, f"over {MAX_SITEMAPS} sitemaps; {len(children)} were not read",
                                         keep=True))
            break
        where, read = children.pop(0), read + 1
        listing = await _child_sitemap(crawl, where, cap - len(urls))
    return list(urls)


async def _child_sitemap(crawl: Crawl, url: str, wanted: int) -> Listing:
    """One sitemap listed by an index (nothing if it fails)."""
    crawl.progress(url)
    try:
        return await crawl.fetch(url, lambda final, response: _stream_sitemap(response, wanted))
    except NotASitemap as error:
        crawl.emit(Failure(url, str(error)))
    except Skip as skip:
        crawl.emit(Failure(url, str(skip), skip.keep))
    except AlreadySeen:
        pass
    return Listing("", [], False)


async def _stream_sitemap(response: httpx.Response, wanted: int) -> Listing:
    """Read a sitemap until it ends, or until it lists more than ``wanted`` URLs (more than
    :data:`MAX_SITEMAPS` sitemaps for an index): then it is not read any further."""
    reader = SitemapReader()
    try:
        async for piece in inflate.chunks(response, SITEMAP_BYTES):
            reader.feed(piece)
            limit = MAX_SITEMAPS if reader.kind == "sitemapindex" else wanted
            if len(reader.locations) > limit:
                return Listing(reader.kind, reader.locations[:limit], True)
        reader.close()
    except inflate.TooLarge:
        raise NotASitemap(f"over {SITEMAP_BYTES} bytes, decompressed") from None
    if reader.kind not in ("urlset", "sitemapindex"):
        raise NotASitemap("not a sitemap (no <urlset> or <sitemapindex>)")
    return Listing(reader.kind, reader.locations, False)


async def _fetch_all(crawl: Crawl, start: list[tuple[str, int]], follow: bool, first: Body | None = None) -> None:
    queue: asyncio.Queue[tuple[str, int]] = asyncio.Queue()
    taken = 0
    if first is not None:
        taken = 1
        await _page(crawl, first, 0, follow, queue)
    for url, depth in start:
        crawl.seen.add(url)
        queue.put_nowait((url, depth))

    async def worker() -> None:
        nonlocal taken
        while True:
            url, depth = await queue.get()
            try:
                if time.monotonic() > crawl.deadline:
                    crawl.emit(Failure(url, "crawl_seconds ran out before this page", keep=True))
                elif taken >= crawl.options.max_pages:
                    crawl.emit(Failure(url, f"over max_pages ({crawl.options.max_pages})", keep=True))
                else:
                    taken += 1
                    await _fetch(crawl, url, depth, follow, queue)
            finally:
                queue.task_done()

    workers = [asyncio.create_task(worker()) for _ in range(crawl.options.concurrency)]
    try:
        await queue.join()
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)


async def _fetch(crawl: Crawl, url: str, depth: int, follow: bool, queue: asyncio.Queue[tuple[str, int]]) -> None:
    crawl.progress(url)
    try:
        body = await crawl.fetch(url, lambda final, response: _read_page(crawl, final, response))
    except Skip as skip:
        crawl.emit(Failure(url, str(skip), skip.keep))
        return
    except AlreadySeen:
        return
    crawl.seen.add(body.url)
    await _page(crawl, body, depth, follow, queue)


async def _page(crawl: Crawl, body: Body, depth: int, follow: bool, queue: asyncio.Queue[tuple[str, int]]) -> None:
    url = body.url
    left = crawl.deadline - time.monotonic()
    if left <= 0:
        crawl.emit(Failure(url, "crawl_seconds ran out before this page", keep=True))
        return
    name = PurePosixPath(urlsplit(url).path).stem or urlsplit(url).netloc
    try:
        page = await crawl.parser.page_async(body.data, body.charset, body.kind, name, left)
    except ParseFailed as error:
        if time.monotonic() >= crawl.deadline:
            crawl.emit(Failure(url, "crawl_seconds ran out while parsing it", keep=True))
        else:
            crawl.emit(Failure(url, str(error)))
        return
    if follow and depth < crawl.options.max_depth and not page.nofollow:
        for href in page.links:
            link = urldefrag(urljoin(url, href)).url
            path = urlsplit(link).path
            if (crawl.same_origin(link) and link not in crawl.seen and PurePosixPath(path).suffix.lower()
                    not in SKIPPED_SUFFIXES and not excluded(path, crawl.options.exclude)):
                if len(crawl.seen) >= MAX_QUEUED * crawl.options.max_pages:
                    crawl.unfollowed += 1
                    continue
                crawl.seen.add(link)
                queue.put_nowait((link, depth + 1))
    if page.noindex:
        crawl.emit(Failure(url, "marked noindex"))
    elif excluded(urlsplit(url).path, crawl.options.exclude):
        return
    else:
        crawl.emit(Document(url, page))
