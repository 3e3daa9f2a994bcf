"""What loaders produce, and the loader of local folders and files.

A loader yields a :class:`Document` for each page it read and a :class:`Failure` for each
one it could not, with the reason; one bad page never stops the others.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from chatkit_knowledge.decode import NotText, decode
from chatkit_knowledge.extract import Page, parse_html, parse_markdown, parse_text

KINDS = {".html": "html", ".htm": "html", ".md": "markdown", ".markdown": "markdown", ".txt": "text"}


@dataclass(frozen=True)
class Document:
    url: str
    page: Page


@dataclass(frozen=True)
class Failure:
    where: str
    reason: str
    keep: bool = False
    """The page may still exist (a timeout, a 5xx): its indexed copy stays."""


def parse(text: str, kind: str, name: str) -> Page:
    if kind == "html":
        return parse_html(text, name)
    if kind == "markdown":
        return parse_markdown(text, name)
    return parse_text(text, name)


def excluded(path: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path.lstrip("/"), pattern) for pattern in patterns)


def is_local(source: str) -> bool:
    return not source.startswith(("http://", "https://"))


def local_url(relative: str, site_url: str) -> str:
    """``menu.html`` -> ``{site_url}/menu.html``; ``cakes/index.html`` -> ``{site_url}/cakes/``."""
    path = PurePosixPath(relative)
    link = (str(path.parent) + "/" if path.parent.name else "") if path.name == "index.html" else str(path)
    link = quote(link.removeprefix("./"))
    return f"{site_url.rstrip('/')}/{link}"


def load_local(source: str, site_url: str, exclude: list[str], max_bytes: int) -> Iterator[Document | Failure]:
    root = Path(source)
    if root.is_file():
        yield from _file(root, root.name, site_url, max_bytes)
    elif root.is_dir():
        for path, relative in _walk(root):
            if isinstance(path, Failure):
                yield path
            elif not excluded(relative, exclude):
                yield from _file(path, relative, site_url, max_bytes)
    else:
        yield Failure(source, "no such file or folder")


def _walk(root: Path) -> Iterator[tuple[Path | Failure, str]]:
    """Files under ``root`` in a stable order, following symlinks, each folder entered once."""
    seen: dict[tuple[int, int], str] = {}
    for folder, folders, files in os.walk(root, followlinks=True):
        folders.sort()
        try:
            info = os.stat(folder)
        except OSError as error:
            yield Failure(folder, f"cannot be read: {error.strerror}"), ""
            folders.clear()
            continue
        key = (info.st_dev, info.st_ino)
        if key in seen:
            yield Failure(folder, f"symlink loop: the same folder as {seen[key]}"), ""
            folders.clear()
            continue
        seen[key] = folder
        for name in sorted(files):
            path = Path(folder, name)
            if path.suffix.lower() in KINDS:
                yield path, path.relative_to(root).as_posix()


def _file(path: Path, relative: str, site_url: str, max_bytes: int) -> Iterator[Document | Failure]:
    kind = KINDS.get(path.suffix.lower())
    if kind is None:
        yield Failure(str(path), "not a page (only .html, .htm, .md, .markdown and .txt files are indexed)")
        return
    try:
        size = path.stat().st_size
        if size > max_bytes:
            yield Failure(str(path), f"{size} bytes, over max_page_bytes ({max_bytes})")
            return
        text = decode(path.read_bytes())
    except OSError as error:
        yield Failure(str(path), f"cannot be read: {error.strerror or error}")
        return
    except NotText as error:
        yield Failure(str(path), f"not text: {error}")
        return
    page = parse(text, kind, path.stem)
    if page.noindex:
        yield Failure(str(path), "marked noindex")
        return
    yield Document(local_url(relative, site_url), page)
