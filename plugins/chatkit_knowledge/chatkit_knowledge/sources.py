"""What loaders produce, and the loader of local folders and files.

A loader yields a :class:`Document` for each page it read, a :class:`Failure` for each one it
could not read, with the reason, and a :class:`Skipped` for each file it left out on purpose;
one bad page never stops the others.

A folder is walked without leaving it: a symlink is followed only when it leads to a place
inside the folder, and dot files and dot folders (``.git/``, ``.env``), which ``chatkit
serve`` never publishes, are left out unless ``include_hidden`` is set. Files are first only
looked at (:class:`LocalFile`: size and modification time), so an unchanged one need not be
read at all.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from chatkit_knowledge.extract import Page
from chatkit_knowledge.options import SqliteOptions
from chatkit_knowledge.parsing import ParseFailed, Parser, Request

KINDS = {".html": "html", ".htm": "html", ".md": "markdown", ".markdown": "markdown", ".mdx": "mdx",
         ".txt": "text"}
_FOLDER_PAGES = {"index.html", "index.htm", "index.md", "index.markdown", "index.mdx", "readme.md", "readme.mdx"}
"""Files that stand for their folder's URL (``docs/index.mdx`` is ``/docs/``)."""


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


@dataclass(frozen=True)
class Skipped:
    """A file left out on purpose."""

    where: str
    reason: str
    counted: bool = False
    """Reported as a count per reason (styles, images...) rather than one line each."""


@dataclass(frozen=True)
class LocalFile:
    path: str
    """Where it was found: the source joined with the path relative to it."""
    url: str
    kind: str
    size: int
    mtime_ns: int


def excluded(path: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path.lstrip("/"), pattern) for pattern in patterns)


def local_url(relative: str, site_url: str) -> str:
    """The public URL of the file at ``relative`` (a POSIX path) under ``site_url``.

    ``menu.html`` -> ``{site_url}/menu.html``; ``cakes/index.html`` -> ``{site_url}/cakes/``;
    Markdown is published without its extension: ``docs/faq.mdx`` -> ``{site_url}/docs/faq``,
    ``docs/index.md`` and ``docs/README.md`` -> ``{site_url}/docs/``.
    """
    path = PurePosixPath(relative.removeprefix("./"))
    if path.name.lower() in _FOLDER_PAGES:
        link = f"{path.parent}/" if path.parent.name else ""
    elif KINDS.get(path.suffix.lower()) in ("markdown", "mdx"):
        link = str(path.with_suffix(""))
    else:
        link = str(path)
    return f"{site_url.rstrip('/')}/{quote(link)}"


def walk_local(source: str, options: SqliteOptions) -> Iterator[LocalFile | Failure | Skipped]:
    """The files of a folder or file source, looked at but not read."""
    root = Path(source)
    site_url = options.site_url_for(source)
    if root.is_file():
        yield from _look(str(root), root.name, site_url)
    elif root.is_dir():
        for found in _walk(root, options.include_hidden):
            if not isinstance(found, tuple):
                yield found
            elif excluded(found[1], options.exclude):
                yield Skipped(found[0], "matched by exclude", counted=True)
            else:
                yield from _look(found[0], found[1], site_url)
    else:
        yield Failure(source, "no such file or folder")


def _look(path: str, relative: str, site_url: str) -> Iterator[LocalFile | Failure | Skipped]:
    suffix = PurePosixPath(relative).suffix.lower()
    kind = KINDS.get(suffix)
    if kind is None:
        yield Skipped(path, f"not a page ({suffix or 'no extension'})", counted=True)
        return
    try:
        info = os.stat(path)
    except OSError as error:
        yield Failure(path, f"cannot be read: {error.strerror or error}")
        return
    yield LocalFile(path, local_url(relative, site_url), kind, info.st_size, info.st_mtime_ns)


def _hidden(relative: str) -> bool:
    return any(part.startswith(".") and part != "." for part in relative.split(os.sep))


def _walk(root: Path, include_hidden: bool) -> Iterator[tuple[str, str] | Failure | Skipped]:
    """(path, path relative to ``root``) of the files under ``root``, sorted by name (symlinks
    last), depth first, each folder entered once, never leaving ``root``."""
    real_root = os.path.realpath(root)
    seen = {_identity(str(root)): str(root)}
    folders: list[Iterator[os.DirEntry[str]]] = []
    prefixes: list[str] = []

    def enter(folder: str, prefix: str) -> Failure | None:
        try:
            with os.scandir(folder) as entries:
                # Real folders before symlinks to them: a folder reached twice keeps its own path.
                folders.append(iter(sorted(entries, key=lambda entry: (entry.is_symlink(), entry.name))))
        except OSError as error:
            return Failure(folder, f"cannot be read: {error.strerror or error}")
        prefixes.append(prefix)
        return None

    if failed := enter(str(root), ""):
        yield failed
    while folders:
        entry = next(folders[-1], None)
        if entry is None:
            folders.pop()
            prefixes.pop()
            continue
        relative = prefixes[-1] + entry.name
        # Where a symlink really leads, relative to the root (the root's own path is followed).
        inside = os.path.relpath(os.path.realpath(entry.path), real_root) if entry.is_symlink() else relative
        if inside.split(os.sep)[0] == "..":
            yield Skipped(entry.path, "a symlink that leads out of the folder")
        elif not include_hidden and (entry.name.startswith(".") or _hidden(inside)):
            yield Skipped(entry.path, "hidden: a dot file or folder, or a symlink to one (include_hidden = true "
                                      "indexes it)")
        elif _is_dir(entry):
            key = _identity(entry.path)
            if key in seen and entry.path.startswith(seen[key] + os.sep):
                yield Failure(entry.path, f"symlink loop: the same folder as {seen[key]}")
            elif key in seen:
                yield Skipped(entry.path, f"the same folder as {seen[key]}, indexed once")
            else:
                seen[key] = entry.path
                if failed := enter(entry.path, relative + "/"):
                    yield failed
        elif _is_file(entry):
            yield entry.path, relative
        else:
            yield Failure(entry.path, "cannot be read: not a regular file, or a broken symlink")


def _identity(path: str) -> tuple[int, int]:
    info = os.stat(path)
    return info.st_dev, info.st_ino


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _is_file(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file()
    except OSError:
        return False


def read_file(file: LocalFile, max_bytes: int) -> bytes | Failure:
    """The bytes of ``file``, or why it is not read."""
    if file.size > max_bytes:
        return Failure(file.path, f"{file.size} bytes, over max_page_bytes ({max_bytes})")
    try:
        with open(file.path, "rb") as handle:
            data = handle.read(max_bytes + 1)  # it may have grown since it was looked at
    except OSError as error:
        return Failure(file.path, f"cannot be read: {error.strerror or error}")
    if len(data) > max_bytes:
        return Failure(file.path, f"over max_page_bytes ({max_bytes})")
    return data


def request(file: LocalFile, data: bytes) -> Request:
    """What the parser needs to read ``file``."""
    return data, None, file.kind, PurePosixPath(file.path).stem


def document(file: LocalFile, parsed: Page | ParseFailed) -> Document | Failure:
    if isinstance(parsed, ParseFailed):
        return Failure(file.path, str(parsed))
    if parsed.noindex:
        return Failure(file.path, "marked noindex")
    return Document(file.url, parsed)


def read_local(file: LocalFile, parser: Parser, max_bytes: int) -> Document | Failure:
    """The page in ``file``, or why it is not indexed."""
    data = read_file(file, max_bytes)
    if isinstance(data, Failure):
        return data
    return document(file, parser.pages([request(file, data)])[0])


def load_local(source: str, options: SqliteOptions, parser: Parser) -> Iterator[Document | Failure | Skipped]:
    """Every page of a folder or file source, read."""
    for found in walk_local(source, options):
        yield read_local(found, parser, options.max_page_bytes) if isinstance(found, LocalFile) else found
