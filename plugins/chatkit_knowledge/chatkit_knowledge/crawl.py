"""Fetching a site's pages over HTTP: page URLs with their links, and sitemaps.

Rules: only the source's origin (scheme, host and port) is fetched, redirects included;
robots.txt is obeyed (for the ``ChatKit`` agent, else ``*``); only HTML, plain text and
Markdown responses are read, at most ``max_page_bytes`` each; links are followed
``max_depth`` deep, at most ``max_pages`` pages per source, ``concurrency`` at a time,
and the whole run stops after ``crawl_seconds``. A private or loopback address is never
contacted unless the source's own host is one (see guard.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import urllib.robotparser
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from urllib.parse import urldefrag, urljoin, urlsplit

import httpx
from defusedxml import ElementTree

from chatkit_knowledge.decode import NotText, decode
from chatkit_knowledge.guard import Resolver, all_public, guarded_client, resolve
from chatkit_knowledge.options import SqliteOptions
from chatkit_knowledge.sources import Document, Failure, excluded, parse

PAGE_TYPES = {"text/html": "html", "application/xhtml+xml": "html", "text/plain": "text", "text/markdown": "markdown"}
SKIPPED_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg", ".ico", ".css", ".js", ".mjs", ".json",
                    ".pdf", ".zip", ".gz", ".mp4", ".mp3", ".woff", ".woff2", ".ttf", ".xml"}
MAX_REDIRECTS = 5
MAX_SITEMAPS = 50
ROBOTS_BYTES = 500_000
SITEMAP_BYTES = 50_000_000
AGENT = "ChatKit"


class Skip(Exception):
    """A page not taken, and why. ``keep``: it may still exist, its indexed copy stays."""

    def __init__(self, reason: str, keep: bool = False, status: int | None = None) -> None:
        super().__init__(reason)
        self.keep = keep
        self.status = status


class AlreadySeen(Exception):
    """A redirect to a page this crawl has already fetched or queued."""


@dataclass
class Crawl:
    options: SqliteOptions
    deadline: float
    client: httpx.AsyncClient
    origin: tuple[str, str]
    robots: urllib.robotparser.RobotFileParser
    results: list[Document | Failure] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    progress: Callable[[str], None] = lambda url: None

    def same_origin(self, url: str) -> bool:
        parts = urlsplit(url)
        return (parts.scheme, parts.netloc.lower()) == self.origin

    async def get(self, url: str, max_bytes: int) -> tuple[str, httpx.Response, bytes]:
        """GET ``url`` following same-origin redirects; (final URL, response, body)."""
        for _ in range(MAX_REDIRECTS + 1):
            if not self.robots.can_fetch(AGENT, url):
                raise Skip("disallowed by robots.txt")
            try:
                async with self.client.stream("GET", url) as response:
                    if response.is_redirect:
                        target = urljoin(url, response.headers.get("location", ""))
                        if not self.same_origin(target):
                            raise Skip(f"redirects off the site, to {target}")
                        url = urldefrag(target).url
                        if url in self.seen:
                            raise AlreadySeen(url)
                        continue
                    return url, response, await _read(response, max_bytes)
            except httpx.TimeoutException:
                raise Skip("timed out", keep=True) from None
            except httpx.HTTPError as error:
                raise Skip(f"unreachable: {error}", keep=True) from None
        raise Skip(f"more than {MAX_REDIRECTS} redirects")


async def _read(response: httpx.Response, max_bytes: int) -> bytes:
    if response.status_code >= 400:
        raise Skip(f"HTTP {response.status_code}", keep=response.status_code not in (404, 410),
                   status=response.status_code)
    declared = int(response.headers.get("content-length") or 0)
    if declared > max_bytes:
        raise Skip(f"{declared} bytes, over max_page_bytes ({max_bytes})")
    body = bytearray()
    async for part in response.aiter_bytes():
        body += part
        if len(body) > max_bytes:
            raise Skip(f"over max_page_bytes ({max_bytes})")
    return bytes(body)


async def crawl(source: str, options: SqliteOptions, deadline: float, progress: Callable[[str], None],
                resolver: Resolver = resolve) -> list[Document | Failure]:
    parts = urlsplit(source)
    if not parts.hostname:
        return [Failure(source, "not a URL")]
    try:
        addresses = await resolver(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    except OSError as error:
        return [Failure(source, f"unreachable: cannot resolve {parts.hostname} ({error})", keep=True)]
    client = guarded_client(not all_public(addresses), options.request_timeout, options.user_agent,
                            options.concurrency, resolver)
    async with client:
        robots = urllib.robotparser.RobotFileParser()
        crawl = Crawl(options, deadline, client, (parts.scheme, parts.netloc.lower()), robots,
                      progress=progress)
        try:
            await _robots(crawl)
        except Skip as skip:
            return [Failure(source, f"{skip} (robots.txt)", keep=True)]
        await _start(crawl, urldefrag(source).url)
    return crawl.results


async def _robots(crawl: Crawl) -> None:
    """Read robots.txt (same-origin redirects followed). Missing (4xx): everything is allowed;
    erroring (5xx): nothing is, as RFC 9309 says; unreachable: the source is."""
    crawl.robots.parse([])  # allow everything until told otherwise
    try:
        _, _, body = await crawl.get(f"{crawl.origin[0]}://{crawl.origin[1]}/robots.txt", ROBOTS_BYTES)
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
    crawl.progress(url)
    try:
        final, response, body = await crawl.get(url, max(crawl.options.max_page_bytes, SITEMAP_BYTES))
    except Skip as skip:
        crawl.results.append(Failure(url, str(skip), skip.keep))
        return
    if _is_sitemap(response, body):
        urls = await _sitemap_urls(crawl, final, body)
        await _fetch_all(crawl, [(u, 0) for u in urls], follow=False)
    else:
        crawl.seen.add(final)
        await _fetch_all(crawl, [], follow=True, first=(final, response, body))


def _is_sitemap(response: httpx.Response, body: bytes) -> bool:
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    head = body[:2048].lstrip()
    return (("xml" in kind and kind != "application/xhtml+xml") or head.startswith(b"<?xml")) and (
        b"<urlset" in body[:4096] or b"<sitemapindex" in body[:4096])


async def _sitemap_urls(crawl: Crawl, url: str, body: bytes) -> list[str]:
    """Page URLs listed by a sitemap or sitemap index, up to ``max_pages``."""
    pending, fetched, listed = [(url, body)], 0, 0
    urls: list[str] = []
    cap = crawl.options.max_pages
    while pending:
        where, data = pending.pop(0)
        try:
            tag, locations = _locations(data)
        except ElementTree.ParseError as error:
            crawl.results.append(Failure(where, f"not a valid sitemap: {error}"))
            continue
        except ValueError as error:  # defusedxml refuses entities
            crawl.results.append(Failure(where, f"refused: {error}"))
            continue
        for location in locations:
            if not crawl.same_origin(location):
                crawl.results.append(Failure(location, "off the site's origin"))
            elif tag == "sitemapindex" and fetched < MAX_SITEMAPS:
                fetched += 1
                try:
                    _, _, child = await crawl.get(location, SITEMAP_BYTES)
                    pending.append((location, child))
                except Skip as skip:
                    crawl.results.append(Failure(location, str(skip), skip.keep))
            elif tag == "urlset":
                listed += 1
                if len(urls) < cap:
                    urls.append(urldefrag(location).url)
    if listed > cap:
        crawl.results.append(Failure(url, f"the sitemap lists {listed} URLs; the first {cap} were taken "
                                          "(max_pages)", keep=True))
    return list(dict.fromkeys(urls))


def _locations(data: bytes) -> tuple[str, list[str]]:
    root = ElementTree.fromstring(data, forbid_dtd=True)
    tag = root.tag.rsplit("}", 1)[-1]
    return tag, [(node.text or "").strip() for node in root.iter() if node.tag.rsplit("}", 1)[-1] == "loc"]


async def _fetch_all(crawl: Crawl, start: list[tuple[str, int]], follow: bool,
                     first: tuple[str, httpx.Response, bytes] | None = None) -> None:
    queue: asyncio.Queue[tuple[str, int]] = asyncio.Queue()
    taken = 0
    if first is not None:
        taken = 1
        _page(crawl, first[0], first[1], first[2], 0, follow, queue)
    for url, depth in start:
        crawl.seen.add(url)
        queue.put_nowait((url, depth))

    async def worker() -> None:
        nonlocal taken
        while True:
            url, depth = await queue.get()
            try:
                if time.monotonic() > crawl.deadline:
                    crawl.results.append(Failure(url, "crawl_seconds ran out before this page", keep=True))
                elif taken >= crawl.options.max_pages:
                    crawl.results.append(Failure(url, f"over max_pages ({crawl.options.max_pages})", keep=True))
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
        final, response, body = await crawl.get(url, crawl.options.max_page_bytes)
    except Skip as skip:
        crawl.results.append(Failure(url, str(skip), skip.keep))
        return
    except AlreadySeen:
        return
    crawl.seen.add(final)
    _page(crawl, final, response, body, depth, follow, queue)


def _page(crawl: Crawl, url: str, response: httpx.Response, body: bytes, depth: int, follow: bool,
          queue: asyncio.Queue[tuple[str, int]]) -> None:
    kind_header = response.headers.get("content-type", "").split(";")[0].strip().lower()
    kind = PAGE_TYPES.get(kind_header)
    if kind is None:
        crawl.results.append(Failure(url, f"not a page (content type {kind_header or 'missing'})"))
        return
    if len(body) > crawl.options.max_page_bytes:
        crawl.results.append(Failure(url, f"over max_page_bytes ({crawl.options.max_page_bytes})"))
        return
    try:
        text = decode(body, response.charset_encoding)
    except NotText as error:
        crawl.results.append(Failure(url, f"not text: {error}"))
        return
    page = parse(text, kind, PurePosixPath(urlsplit(url).path).stem or urlsplit(url).netloc)
    if follow and depth < crawl.options.max_depth and not page.nofollow:
        for href in page.links:
            link = urldefrag(urljoin(url, href)).url
            path = urlsplit(link).path
            if (crawl.same_origin(link) and link not in crawl.seen and PurePosixPath(path).suffix.lower()
                    not in SKIPPED_SUFFIXES and not excluded(path, crawl.options.exclude)):
                crawl.seen.add(link)
                queue.put_nowait((link, depth + 1))
    if page.noindex:
        crawl.results.append(Failure(url, "marked noindex"))
    elif excluded(urlsplit(url).path, crawl.options.exclude):
        return
    else:
        crawl.results.append(Document(url, page))
