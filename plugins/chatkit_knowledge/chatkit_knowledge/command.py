"""``chatkit index``: build or refresh the index; ``chatkit index --status``: describe it."""

from __future__ import annotations

import argparse
import collections
import datetime
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from chatkit_core.chat.embeddings import EmbedderError
from chatkit_core.platform.commands import Command
from chatkit_core.platform.config import ConfigError, load_config, options
from chatkit_knowledge.index import IndexReader, IndexUnavailable
from chatkit_knowledge.options import SqliteOptions

if TYPE_CHECKING:
    from chatkit_knowledge.build import Report


def load_options(config_path: str | None) -> SqliteOptions:
    config = load_config(config_path)
    table = config.knowledge
    if not table:
        raise ConfigError(f"{config.source} has no [knowledge] table; add one with type = \"sqlite\" and sources")
    if table.get("type") != "sqlite":
        raise ConfigError(f"knowledge.type is {table.get('type')!r}; `chatkit index` builds the index of "
                          "type \"sqlite\"")
    decoded: SqliteOptions = options(config, table, SqliteOptions, "knowledge")  # paths as serve sees them
    if not decoded.sources:
        raise ConfigError("knowledge.sources is empty; list folders, files, page URLs or sitemap URLs to index")
    return decoded


class IndexCommand(Command):
    name = "index"
    help = "build or refresh the knowledge index from [knowledge] sources"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--status", action="store_true", help="describe the index instead of building it")

    def run(self, args: argparse.Namespace) -> int:
        # The crawler and extractors load here, not in every `chatkit serve` worker.
        from chatkit_knowledge.build import build

        loaded = load_options(args.config)
        if args.status:
            return status(loaded, sys.stdout)
        with Progress(sys.stderr) as progress:
            try:
                report = build(loaded, progress.advance)
            except EmbedderError as error:
                raise ConfigError(f"the passages could not be embedded: {error}") from None
        summary(report, sys.stdout)
        return 0 if report.pages else 1


class Progress:
    """A progress bar on a terminal, one plain line per page otherwise."""

    def __init__(self, stream: TextIO) -> None:
        from tqdm import tqdm

        self.stream = stream
        self.bar = tqdm(unit=" pages", file=stream, dynamic_ncols=True, leave=False) if stream.isatty() else None
        self.count = 0

    def advance(self, where: str) -> None:
        self.count += 1
        if self.bar is not None:
            self.bar.set_postfix_str(where[-50:], refresh=False)
            self.bar.update()
        else:
            print(f"[{self.count}] {where}", file=self.stream, flush=True)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()


def shown(where: str) -> str:
    """A local path as the operator would type it: relative to the current folder when inside it
    (the config's paths are resolved from its own folder, so they arrive absolute)."""
    if not os.path.isabs(where) or os.getcwd() == os.sep:  # from /, the absolute path says it best
        return where
    relative = os.path.relpath(where)
    return where if relative.startswith("..") else relative


def summary(report: Report, out: TextIO) -> None:
    print(f"{report.pages} pages, {report.chunks} passages in {report.seconds:.1f}s: {len(report.added)} added, "
          f"{len(report.changed)} changed, {report.unchanged} unchanged, {len(report.removed)} removed, "
          f"{len(report.failed)} failed, {len(report.skipped)} skipped", file=out)
    for title, urls in (("added", report.added), ("changed", report.changed), ("removed", report.removed)):
        for url in urls:
            print(f"  {title}: {url}", file=out)
    for failure in report.failed:
        kept = " (indexed copy kept)" if failure.keep else ""
        print(f"  failed: {shown(failure.where)}: {failure.reason}{kept}", file=out)
    counted = collections.Counter(skip.reason for skip in report.skipped if skip.counted)
    for skip in report.skipped:
        if not skip.counted:
            print(f"  skipped: {shown(skip.where)}: {skip.reason}", file=out)
    for reason, count in sorted(counted.items()):
        print(f"  skipped: {count} {'file' if count == 1 else 'files'}: {reason}", file=out)
    if not report.written:
        print("  nothing changed: the index file was left as it was", file=out)


def status(options: SqliteOptions, out: TextIO) -> int:
    path = Path(options.path)
    try:
        reader = IndexReader(path)
    except IndexUnavailable as error:
        raise ConfigError(str(error).replace(str(path), shown(str(path)))) from None
    try:
        info = reader.status()
    finally:
        reader.close()
    built = datetime.datetime.fromtimestamp(float(info["built_at"]), datetime.UTC)  # type: ignore[arg-type]
    print(f"index:   {path.resolve()} ({path.stat().st_size / 1024:.0f} KiB)", file=out)
    print(f"pages:   {info['pages']}", file=out)
    print(f"chunks:  {info['chunks']}", file=out)
    print(f"built:   {built:%Y-%m-%d %H:%M:%S} UTC", file=out)
    print(f"sources: {', '.join(map(shown, info['sources']))}", file=out)  # type: ignore[call-overload]
    print(f"vectors: {info['embedder'] or 'none (words only)'}", file=out)
    return 0
