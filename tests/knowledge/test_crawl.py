"""Crawling real HTTP servers on loopback: every bad page is skipped with its reason."""

from __future__ import annotations

import socket

from tests.knowledge.conftest import failures
from tests.knowledge.site import Route, Site, html_page

ROBOTS = Route(b"User-agent: *\nDisallow: /private/\n", headers={"Content-Type": "text/plain"})
LATIN1 = "<title>Tarte</title><main><p>Crème brûlée et café</p></main>".encode("cp1252")


def crawl_site() -> dict[str, Route]:
    return {
        "/robots.txt": ROBOTS,
        "/": html_page("Home", "<p>Welcome.</p>", links=[
            "/a.html", "/private/x.html", "/missing.html", "/broken.html", "/away", "/old", "/feed", "/binary",
            "/latin1", "/nocharset", "/big", "/bigchunked", "/logo.png", "http://localhost:1/elsewhere.html",
            "/a.html#section"]),
        "/a.html": html_page("Page A", "<p>Apple strudel on Fridays.</p>", links=["/b.html"]),
        "/b.html": html_page("Page B", "<p>Blueberry muffins.</p>"),
        "/private/x.html": html_page("Private", "<p>Secret.</p>"),
        "/missing.html": Route(b"gone", 404),
        "/broken.html": Route(b"oops", 500),
        "/away": Route(b"", 302, {"Location": "http://127.0.0.2:9/page.html"}),
        "/old": Route(b"", 301, {"Location": "/a.html"}),
        "/feed": Route(b'{"a": 1}', headers={"Content-Type": "application/json"}),
        "/binary": Route(b"\x00\x01\x02GIF89a" * 50),
        "/latin1": Route(LATIN1, headers={"Content-Type": "text/html; charset=utf-8"}),  # a wrong charset
        "/nocharset": Route('<meta charset="iso-8859-1"><title>Gâteau</title><p>Gâteau basque</p>'.encode("latin-1"),
                            headers={"Content-Type": "text/html"}),
        "/big": Route(b"<p>" + b"x " * 6000 + b"</p>"),
        "/bigchunked": Route(b"<p>" + b"y " * 6000 + b"</p>", chunked=True),
    }


def test_a_site_is_crawled_and_every_bad_page_is_reported_with_its_reason(make_index):
    with Site(crawl_site()) as site:
        report, reader = make_index([site.url + "/"], max_page_bytes=10_000)
    url = site.url
    assert sorted(report.added) == sorted(f"{url}{p}" for p in ("/", "/a.html", "/b.html", "/latin1", "/nocharset"))
    assert failures(report) == {
        f"{url}/private/x.html": "disallowed by robots.txt",
        f"{url}/missing.html": "HTTP 404",
        f"{url}/broken.html": "HTTP 500",
        f"{url}/away": "redirects off the site, to http://127.0.0.2:9/page.html",
        f"{url}/feed": "not a page (content type application/json)",
        f"{url}/binary": "not text: binary content",
        f"{url}/big": "12007 bytes, over max_page_bytes (10000)",
        f"{url}/bigchunked": "over max_page_bytes (10000)",
    }
    assert "/private/x.html" not in site.hits and "/logo.png" not in site.hits
    assert site.hits.count("/a.html") == 1  # a redirect to a page already fetched is not indexed twice
    assert reader.search("creme brulee cafe", 1)[0].text == "Crème brûlée et café"
    assert reader.search("gateau basque", 1)[0].title == "Gâteau"
    assert reader.search("footer", 3) == []


def test_an_erroring_robots_txt_forbids_the_site_and_a_moved_one_is_followed(make_index):
    with Site({"/robots.txt": Route(b"down", 503), "/": html_page("Home")}) as site:
        report, _ = make_index([site.url + "/"])
        assert failures(report) == {site.url + "/": "disallowed by robots.txt"}
        site.routes["/robots.txt"] = Route(b"", 301, {"Location": "/rules.txt"})
        site.routes["/rules.txt"] = Route(b"User-agent: ChatKit\nDisallow: /\n", headers={"Content-Type": "text/plain"})
        report, _ = make_index([site.url + "/"])
        assert failures(report) == {site.url + "/": "disallowed by robots.txt"}
        site.routes["/robots.txt"] = Route(b"", 404)
        report, _ = make_index([site.url + "/"])
    assert report.added == [site.url + "/"]


def test_links_are_followed_max_depth_deep_and_max_pages_in_all(make_index):
    routes = {f"/d{n}.html": html_page(f"Depth {n}", f"<p>Level {n}</p>", links=[f"/d{n + 1}.html"])
              for n in range(6)}
    with Site(routes) as site:
        report, _ = make_index([site.url + "/d0.html"], max_depth=2)
        assert sorted(report.added) == [f"{site.url}/d{n}.html" for n in range(3)]
        report, _ = make_index([site.url + "/d0.html"], max_depth=5, max_pages=4)
    assert report.pages == 4 and report.added == [f"{site.url}/d3.html"]
    assert failures(report) == {f"{site.url}/d4.html": "over max_pages (4)"}


def sitemap(urls: list[str]) -> Route:
    body = "".join(f"<url><loc>{u}</loc></url>" for u in urls)
    return Route(f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{body}</urlset>'
                 .encode(), headers={"Content-Type": "application/xml"})


def test_sitemaps_and_sitemap_indexes_list_the_pages(make_index):
    with Site({}) as site:
        site.routes.update({
            "/sitemap.xml": Route(
                f'<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                f"<sitemap><loc>{site.url}/pages.xml</loc></sitemap><sitemap><loc>{site.url}/more.xml</loc></sitemap>"
                f"<sitemap><loc>http://localhost:1/other.xml</loc></sitemap></sitemapindex>".encode(),
                headers={"Content-Type": "text/xml"}),
            "/pages.xml": sitemap([f"{site.url}/one.html", f"{site.url}/two.html"]),
            "/more.xml": sitemap([f"{site.url}/three.html", "http://localhost:1/four.html"]),
            "/one.html": html_page("One", links=["/unlisted.html"]),
            "/two.html": html_page("Two"),
            "/three.html": html_page("Three"),
        })
        report, _ = make_index([site.url + "/sitemap.xml"])
    assert sorted(report.added) == [f"{site.url}/{n}.html" for n in ("one", "three", "two")]
    assert failures(report) == {"http://localhost:1/other.xml": "off the site's origin",
                                "http://localhost:1/four.html": "off the site's origin"}
    assert "/unlisted.html" not in site.hits  # a sitemap's pages are taken as listed


def test_a_sitemap_of_100000_urls_is_capped_at_max_pages(make_index):
    with Site({}) as site:
        site.routes["/sitemap.xml"] = sitemap([f"{site.url}/p{n}.html" for n in range(100_000)])
        for n in range(5):
            site.routes[f"/p{n}.html"] = html_page(f"Page {n}")
        report, _ = make_index([site.url + "/sitemap.xml"], max_pages=5)
    assert len(report.added) == 5
    assert failures(report) == {site.url + "/sitemap.xml": "the sitemap lists more than 5 URLs; the first 5 were "
                                                           "taken (max_pages)"}
    assert len(site.hits) == 7  # robots.txt, the sitemap, five pages


def test_a_malicious_sitemap_is_refused(make_index):
    bomb = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>'
            "<urlset><url><loc>&lol2;</loc></url></urlset>")
    with Site({"/sitemap.xml": Route(bomb.encode(), headers={"Content-Type": "application/xml"})}) as site:
        report, _ = make_index([site.url + "/sitemap.xml"])
    assert report.added == []
    assert failures(report)[site.url + "/sitemap.xml"].startswith("refused")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_host_is_reported_and_other_sources_still_indexed(make_index):
    dead = f"http://127.0.0.1:{closed_port()}/"
    with Site({"/": html_page("Alive", "<p>Still here</p>")}) as site:
        report, _ = make_index([dead, site.url + "/"])
    assert report.added == [site.url + "/"]
    assert failures(report)[dead].startswith("unreachable:")


def test_a_name_that_resolves_to_a_private_address_is_never_contacted(make_index):
    """The source looked public when it was resolved; at connect time it points at loopback."""
    with Site({"/": html_page("Internal", "<p>Admin panel</p>")}) as site:
        port = int(site.url.rsplit(":", 1)[1])
        answers = iter([["93.184.216.34"]])

        async def rebinding(host: str, port: int) -> list[str]:
            return next(answers, ["127.0.0.1"])

        report, _ = make_index([f"http://bakery.example:{port}/"], resolver=rebinding)
    assert site.hits == []
    assert report.added == []
    assert "bakery.example resolves to the private address 127.0.0.1" in failures(report)[
        f"http://bakery.example:{port}/"]


def test_a_source_on_a_private_address_may_be_crawled(make_index):
    with Site({"/": html_page("Intranet", "<p>Holiday rota</p>")}) as site:
        port = int(site.url.rsplit(":", 1)[1])

        async def intranet(host: str, port: int) -> list[str]:
            return ["127.0.0.1"]

        report, reader = make_index([f"http://bakery.internal:{port}/"], resolver=intranet)
    assert report.added == [f"http://bakery.internal:{port}/"]
    assert reader.search("holiday rota", 1)[0].url == f"http://bakery.internal:{port}/"


def test_crawl_seconds_stops_the_crawl_and_says_which_pages_were_left(make_index):
    routes = {"/": html_page("Home", links=[f"/slow{n}.html" for n in range(6)])}
    routes.update({f"/slow{n}.html": html_page(f"Slow {n}") for n in range(6)})
    for route in list(routes.values())[1:]:
        route.delay = 0.4
    with Site(routes) as site:
        report, _ = make_index([site.url + "/"], crawl_seconds=0.6, concurrency=1)
    left = [f for f in report.failed if f.reason in ("crawl_seconds ran out before this page",
                                                      "crawl_seconds ran out while fetching it")]
    assert left and len(report.added) + len(left) == 7 and all(f.keep for f in left)


def test_a_failing_page_keeps_its_indexed_copy_and_a_gone_page_leaves(make_index):
    routes = {"/": html_page("Home", links=["/flaky.html", "/gone.html"]),
              "/flaky.html": html_page("Flaky", "<p>Rhubarb tart</p>"),
              "/gone.html": html_page("Gone", "<p>Quince jelly</p>")}
    with Site(routes) as site:
        first, _ = make_index([site.url + "/"])
        assert len(first.added) == 3
        site.routes["/flaky.html"] = Route(b"busy", 503)
        site.routes["/gone.html"] = Route(b"", 410)
        second, reader = make_index([site.url + "/"])
    assert second.removed == [site.url + "/gone.html"]
    assert second.unchanged == 1
    assert reader.search("rhubarb tart", 1)[0].url == site.url + "/flaky.html"
    assert reader.search("quince jelly", 1) == []


def test_excluded_paths_noindex_and_nofollow_pages_are_respected(make_index):
    noindex = Route(b'<meta name="robots" content="noindex"><title>Hub</title><a href="/behind-hub.html">x</a>')
    nofollow = Route(b'<meta name="robots" content="nofollow"><title>Leaf</title><p>Leaf page</p>'
                     b'<a href="/never.html">x</a>')
    routes = {"/": html_page("Home", links=["/drafts/plan.html", "/hub.html", "/leaf.html"]),
              "/drafts/plan.html": html_page("Draft"), "/hub.html": noindex, "/leaf.html": nofollow,
              "/behind-hub.html": html_page("Behind the hub"), "/never.html": html_page("Never")}
    with Site(routes) as site:
        report, _ = make_index([site.url + "/"], exclude=["/drafts/*"])
    assert sorted(report.added) == [site.url + p for p in ("/", "/behind-hub.html", "/leaf.html")]
    assert failures(report) == {site.url + "/hub.html": "marked noindex"}  # its links are still followed
    assert "/drafts/plan.html" not in site.hits and "/never.html" not in site.hits
