"""A hostile website on loopback: every byte a page sends is bounded in memory and time.

Builds that could blow up run in a child process (``measured_build``), which reports its own
peak memory, so a regression fails the test instead of the test run.
"""

from __future__ import annotations

import functools
import gzip
import json
import re
import sqlite3
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator

import pytest
from chatkit_knowledge.guard import is_public
from chatkit_knowledge.parsing import ParseFailed, Parser

from tests.knowledge.conftest import failures
from tests.knowledge.site import Route, Site, html_page

MEASURE = """
import json, resource, sys, time
import msgspec
from chatkit_knowledge.build import build
from chatkit_knowledge.options import SqliteOptions

options = msgspec.convert(json.loads(sys.argv[1]), SqliteOptions)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.monotonic()
report = build(options)
print(json.dumps({"grew_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024,
                  "seconds": time.monotonic() - started, "added": report.added,
                  "failed": {f.where: f.reason for f in report.failed}}))
"""


def measured_build(tmp_path, sources: list[str], **keys) -> dict:
    """Build in a fresh interpreter: (its memory growth in MB, seconds, added, failed)."""
    options = {"type": "sqlite", "sources": sources, "path": str(tmp_path / "k.sqlite3"), **keys}
    done = subprocess.run([sys.executable, "-c", MEASURE, json.dumps(options)], capture_output=True, text=True,
                          timeout=180)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


@functools.cache
def gzipped_zeros(mib: int) -> bytes:
    """``mib`` MiB of zeros, gzipped, made without holding them."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    return b"".join(compressor.compress(zeros) for _ in range(mib)) + compressor.flush()


def test_a_gzip_bomb_is_refused_or_cut_off_at_max_page_bytes(tmp_path):
    single = gzipped_zeros(300)  # ~300 kB that inflate to 300 MiB
    double = gzip.compress(single)  # the 661-byte "gzip, gzip" bomb
    page = b"<title>Compressed</title><main><p>Sourdough every morning.</p></main>"
    html = {"Content-Type": "text/html"}
    routes = {
        "/": html_page("Home", links=["/double", "/single", "/brotli", "/gzip", "/deflate", "/raw-deflate"]),
        "/double": Route(double, headers={**html, "Content-Encoding": "gzip, gzip"}),
        "/single": Route(single, headers={**html, "Content-Encoding": "gzip"}),
        "/brotli": Route(b"\x1b\x00", headers={**html, "Content-Encoding": "br"}),
        "/gzip": Route(gzip.compress(page), headers={**html, "Content-Encoding": "gzip"}),
        "/deflate": Route(zlib.compress(page), headers={**html, "Content-Encoding": "deflate"}),
        "/raw-deflate": Route(zlib.compress(page, wbits=-15), headers={**html, "Content-Encoding": "deflate"}),
    }
    with Site(routes) as site:
        result = measured_build(tmp_path, [site.url + "/"])
    assert len(double) < 1000
    assert result["failed"] == {
        site.url + "/double": "refused: more than one content-coding (gzip, gzip)",
        site.url + "/single": "over max_page_bytes (2000000)",
        site.url + "/brotli": "refused: a content-coding that was not asked for (br)",
    }
    assert sorted(result["added"]) == [site.url + p for p in ("/", "/deflate", "/gzip", "/raw-deflate")]
    assert result["grew_mb"] < 40  # it was 669 MB: httpx inflated each chunk whole


def drip(byte: bytes, count: int) -> Route:
    """A page that promises a megabyte and sends one byte every 0.2 s."""
    return Route(headers={"Content-Type": "text/html", "Content-Length": "1000000"},
                 parts=lambda: (byte for _ in range(count)), pause=0.2)


def test_a_slow_drip_page_is_dropped_at_request_timeout_and_never_outlives_crawl_seconds(make_index):
    routes = {"/": html_page("Home", links=["/drip", "/fine.html"]), "/drip": drip(b"x", 1000),
              "/fine.html": html_page("Fine", "<p>Rye bread.</p>")}
    with Site(routes) as site:
        started = time.monotonic()
        report, _ = make_index([site.url + "/"], request_timeout=1.5)
        took = time.monotonic() - started
        assert failures(report) == {site.url + "/drip": "took longer than request_timeout (1.5 s)"}
        assert sorted(report.added) == [site.url + "/", site.url + "/fine.html"]
        assert took < 30  # every byte reset an inactivity timeout: this page alone took 200 s

        site.routes["/"] = drip(b"<", 1000)  # the source itself drips; request_timeout is generous
        started = time.monotonic()
        report, _ = make_index([site.url + "/"], request_timeout=60, crawl_seconds=1.5)
        took = time.monotonic() - started
    assert failures(report) == {site.url + "/": "crawl_seconds ran out while fetching it"}
    assert took < 30


def test_deeply_nested_html_is_refused_before_it_is_parsed(make_index):
    nested = "<!doctype html><title>Deep</title><body>" + "<div>" * 200_000 + "bottom" + "</div>" * 200_000
    routes = {"/": html_page("Home", links=["/deep", "/wide"]),
              "/deep": Route(nested.encode()),
              "/wide": Route(("<title>Wide</title><main>" + "<div><p>Row</p></div>" * 20_000 + "</main>").encode())}
    with Site(routes) as site:
        started = time.monotonic()
        report, _ = make_index([site.url + "/"], max_page_bytes=3_000_000)
        took = time.monotonic() - started
    assert failures(report) == {site.url + "/deep": "elements nested more than 512 deep"}
    assert sorted(report.added) == [site.url + "/", site.url + "/wide"]  # many elements are fine, not deep ones
    assert took < 30  # lexbor spent about 85 s on this page (the refusal itself takes milliseconds)


def test_a_page_that_parses_too_slowly_is_ended_and_the_next_one_parses():
    """200,000 <option>s are not nested, but lexbor takes over a minute on them."""
    options = ("<select>" + "<option>x" * 200_000).encode()
    too_slow = r"took (more than 0\.5 s of CPU|longer than 2 s) to parse"
    with Parser(seconds=0.5) as parser:
        parser.page(b"<title>First</title>", None, "html", "first")  # the child is running
        started = time.monotonic()
        with pytest.raises(ParseFailed, match=too_slow):
            parser.page(options, None, "html", "options")
        assert time.monotonic() - started < 5
        assert parser.page(b"<title>Next</title><p>Fine.</p>", None, "html", "next").title == "Next"
        with pytest.raises(ParseFailed, match="not text: binary content"):
            parser.page(b"\x00\x01\x02", None, "html", "binary")
        batch = parser.pages([(b"<title>A</title>", None, "html", "a"), (options, None, "html", "slow"),
                              (b"# B", None, "markdown", "b")])  # one bad page in a batch fails alone
    assert [getattr(result, "title", None) for result in batch] == ["A", None, "B"]
    assert re.fullmatch(too_slow, str(batch[1]))


def sitemap_stream(base: str, first: int, count: int) -> Iterator[bytes]:
    yield b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
    for start in range(first, first + count, 1000):
        yield "".join(f"<url><loc>{base}/p{n}.html</loc></url>" for n in range(start, start + 1000)).encode()
    yield b"</urlset>"


def test_a_sitemap_index_of_huge_sitemaps_is_streamed_one_at_a_time_and_stopped_at_max_pages(tmp_path):
    children = [f"/s{n}.xml" for n in range(8)]
    with Site({}) as site:
        xml = {"Content-Type": "application/xml"}
        index = "".join(f"<sitemap><loc>{site.url}{child}</loc></sitemap>" for child in children)
        site.routes["/sitemap.xml"] = Route(f'<?xml version="1.0"?><sitemapindex>{index}</sitemapindex>'.encode(),
                                            headers=xml)
        for number, child in enumerate(children):  # each about 45 MB, made as it is sent
            site.routes[child] = Route(headers=xml, parts=functools.partial(sitemap_stream, site.url,
                                                                           number * 1_000_000, 1_000_000))
        for n in range(20):
            site.routes[f"/p{n}.html"] = html_page(f"Page {n}")
        result = measured_build(tmp_path, [site.url + "/sitemap.xml"], max_pages=20)
    assert len(result["added"]) == 20
    assert result["failed"] == {
        site.url + "/s0.xml": "the sitemap lists more than 20 URLs; the first 20 were taken (max_pages)"}
    assert [hit for hit in site.hits if hit.endswith(".xml")] == ["/sitemap.xml", "/s0.xml"]
    assert result["grew_mb"] < 40  # it was 728 MB: every child fetched and held before any was parsed
    assert result["seconds"] < 30


def test_a_sitemap_with_one_huge_token_is_refused(tmp_path):
    comment = b"<!--" + b"x" * 5_000_000 + b"-->"
    with Site({"/sitemap.xml": Route(b'<?xml version="1.0"?><urlset>' + comment + b"</urlset>",
                                     headers={"Content-Type": "text/xml"})}) as site:
        result = measured_build(tmp_path, [site.url + "/sitemap.xml"])
    assert result["failed"] == {
        site.url + "/sitemap.xml": "refused: a single tag or comment over 1000000 bytes"}
    assert result["grew_mb"] < 40


def test_a_huge_title_is_cut_at_ingest(make_index, index_path):
    title = "Bread " * 300_000  # 1.8 MB
    routes = {"/": Route(f"<title>{title}</title><main><h2>{'Crumb ' * 50_000}</h2><p>Seeded rye.</p></main>"
                         .encode())}
    with Site(routes) as site:
        report, reader = make_index([site.url + "/"], max_page_bytes=4_000_000)
    assert report.added == [site.url + "/"]
    passage = reader.search("seeded rye", 1)[0]
    assert len(passage.title) <= 2 * 200 + 3 and passage.title.startswith("Bread Bread")
    with sqlite3.connect(index_path) as db:
        longest = db.execute("SELECT max(length(title)) FROM pages").fetchone()[0]
        assert longest <= 200
        assert db.execute("SELECT max(length(title)) FROM chunks").fetchone()[0] <= 2 * 200 + 3


PRIVATE_AS_IPV6 = ["::ffff:127.0.0.1", "::127.0.0.1", "64:ff9b::7f00:1", "64:ff9b:1::7f00:1", "2002:7f00:1::1",
                   "::ffff:0:7f00:1", "64:ff9b::a00:1", "2002:c0a8:101::1", "2001:0:4136:e378:8000:63bf:80ff:fffe"]


@pytest.mark.parametrize("address", PRIVATE_AS_IPV6)
def test_ipv6_forms_of_private_ipv4_addresses_are_never_contacted(make_index, address):
    with Site({"/": html_page("Internal", "<p>Admin panel</p>")}) as site:
        port = int(site.url.rsplit(":", 1)[1])
        answers = iter([["93.184.216.34"]])

        async def rebinding(host: str, port: int) -> list[str]:
            return next(answers, [address, "127.0.0.1"])

        report, _ = make_index([f"http://bakery.example:{port}/"], resolver=rebinding)
    assert site.hits == []
    assert f"bakery.example resolves to the private address {address}" in failures(report)[
        f"http://bakery.example:{port}/"]


def test_ipv6_forms_of_public_ipv4_addresses_stay_public():
    assert all(is_public(a) for a in ("64:ff9b::808:808", "2002:808:808::1", "::ffff:8.8.8.8", "2606:4700::1111"))
    assert not any(is_public(a) for a in ("::1", "::", "fe80::1%eth0", "fd00::1"))


def test_credentials_in_a_source_url_are_used_for_the_crawl_and_never_stored_or_shown(tmp_path):
    from tests.knowledge.test_cli import chatkit

    token = "Basic " + __import__("base64").b64encode(b"crawler:s3cret-pass").decode()
    routes = {"/": html_page("Members", "<p>Members bake on Mondays.</p>", links=["/more.html", "/missing.html"]),
              "/more.html": html_page("More", "<p>Rye on Tuesdays.</p>"), "/missing.html": Route(b"", 404)}
    with Site(routes, password=token) as site:
        source = site.url.replace("http://", "http://crawler:s3cret-pass@") + "/"
        (tmp_path / "chatkit.toml").write_text(f'[knowledge]\ntype = "sqlite"\nsources = ["{source}"]\n')
        built = chatkit("index", cwd=tmp_path)
        status = chatkit("index", "--status", cwd=tmp_path)
    assert built.returncode == 0, built.stdout + built.stderr
    assert sorted(site.hits) == ["/", "/missing.html", "/more.html", "/robots.txt"]
    assert set(site.authorizations) == {token}  # every request, robots.txt included, carried them
    index = tmp_path / ".chatkit" / "knowledge.sqlite3"
    everything = built.stdout + built.stderr + status.stdout + status.stderr
    assert f"added: {site.url}/more.html" in built.stdout and f"failed: {site.url}/missing.html" in built.stdout
    for secret in ("s3cret", "crawler:"):
        assert secret not in everything
        assert secret.encode() not in index.read_bytes()
    with sqlite3.connect(index) as db:
        assert {row[0] for row in db.execute("SELECT DISTINCT source FROM pages")} == {site.url + "/"}


def test_a_page_of_thousands_of_links_queues_a_bounded_number(make_index):
    links = [f"/p{n}.html" for n in range(5000)]
    with Site({"/": html_page("Hub", links=links)}) as site:
        report, _ = make_index([site.url + "/"], max_pages=3)
    reasons = failures(report)
    assert len(report.failed) == 10 * 3  # 29 links queued (2 fetched: 404), 27 over max_pages, one summary
    assert reasons[site.url + "/"] == ("4971 more links were not followed: over 10 times max_pages (3) queued")
    assert len(site.hits) == 4  # robots.txt, the hub, two of its links
