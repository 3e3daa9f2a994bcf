"""Sitemaps read as they arrive: ``<loc>`` values collected until enough are found.

The XML goes through defusedxml's parser (no DTDs, no entities) fed piece by piece, with a
target that keeps only the root element's name and the ``<loc>`` texts. Nothing else of the
document is held, and a single token (a tag, a comment) larger than :data:`MAX_TOKEN` is
refused rather than buffered.
"""

from __future__ import annotations

from defusedxml.ElementTree import DefusedXMLParser, ParseError

MAX_LOC = 4096
"""Longest ``<loc>`` kept: sitemap URLs are at most 2,048 characters."""
MAX_TOKEN = 1_000_000
"""Most bytes fed without the parser reporting anything (one huge tag or comment)."""


class NotASitemap(Exception):
    """Not XML, refused XML (a DTD, an entity), or XML of another kind."""


class _Target:
    def __init__(self) -> None:
        self.root = ""
        self.locations: list[str] = []
        self.text: list[str] | None = None
        self.size = 0
        self.events = 0

    def start(self, tag: str, attributes: dict[str, str]) -> None:
        self.events += 1
        name = tag.rsplit("}", 1)[-1]
        if not self.root:
            self.root = name
        if name == "loc":
            self.text, self.size = [], 0

    def data(self, data: str) -> None:
        self.events += 1
        if self.text is not None and self.size < MAX_LOC:
            self.text.append(data[: MAX_LOC - self.size])
            self.size += len(data)

    def end(self, tag: str) -> None:
        self.events += 1
        if self.text is not None and tag.rsplit("}", 1)[-1] == "loc":
            if self.size <= MAX_LOC:
                self.locations.append("".join(self.text).strip())
            self.text = None

    def close(self) -> None:
        pass


class SitemapReader:
    """Feed it a sitemap's bytes; :attr:`locations` grows as ``<loc>`` elements end."""

    def __init__(self) -> None:
        self.target = _Target()
        self.parser = DefusedXMLParser(target=self.target, forbid_dtd=True)
        self.stalled = 0

    @property
    def kind(self) -> str:
        """``urlset``, ``sitemapindex``, or the name of another root element ('' before it)."""
        return self.target.root

    @property
    def locations(self) -> list[str]:
        return self.target.locations

    def feed(self, data: bytes) -> None:
        before = self.target.events
        try:
            self.parser.feed(data)
        except ParseError as error:
            raise NotASitemap(f"not a valid sitemap: {error}") from None
        except ValueError as error:  # defusedxml's DTDForbidden, EntitiesForbidden...
            raise NotASitemap(f"refused: {error}") from None
        self.stalled = 0 if self.target.events != before else self.stalled + len(data)
        if self.stalled > MAX_TOKEN:
            raise NotASitemap(f"refused: a single tag or comment over {MAX_TOKEN} bytes")
        if self.kind and self.kind not in ("urlset", "sitemapindex"):
            raise NotASitemap(f"not a sitemap (its root element is <{self.kind[:40]}>)")

    def close(self) -> None:
        try:
            self.parser.close()
        except ParseError as error:
            raise NotASitemap(f"not a valid sitemap: {error}") from None
