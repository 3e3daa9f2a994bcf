"""Fixtures for the knowledge plugin: options for a temporary index, and building it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import structlog
from chatkit_knowledge.build import Report, build
from chatkit_knowledge.index import IndexReader
from chatkit_knowledge.options import SqliteOptions


@pytest.fixture
def index_path(tmp_path: Path) -> Path:
    return tmp_path / "index" / "knowledge.sqlite3"


@pytest.fixture
def make_index(index_path: Path):
    """``report, reader = make_index(sources, **keys)``: build the index and open it."""

    def make(sources: list[str], resolver: Any = None, **keys: Any) -> tuple[Report, IndexReader]:
        options = msgspec.convert({"type": "sqlite", "sources": sources, "path": str(index_path), **keys},
                                  SqliteOptions)
        report = build(options, resolver=resolver) if resolver else build(options)
        return report, IndexReader(index_path)

    return make


def failures(report: Report) -> dict[str, str]:
    return {failure.where: failure.reason for failure in report.failed}


@pytest.fixture(autouse=True)
def _keep_test_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``chatkit_core.cli.main`` called in-process configures structlog to cache its loggers on
    first use, after which no later test could capture their events: here it configures them
    uncached, and the defaults come back after the test."""
    from chatkit_core.platform import logs

    configure = logs.configure_logging

    def uncached(*args: Any, **kwargs: Any) -> None:
        configure(*args, **kwargs)
        structlog.configure(cache_logger_on_first_use=False)

    monkeypatch.setattr(logs, "configure_logging", uncached)
    yield
    structlog.reset_defaults()
