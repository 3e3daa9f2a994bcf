"""Fixtures for the knowledge plugin: options for a temporary index, and building it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
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

