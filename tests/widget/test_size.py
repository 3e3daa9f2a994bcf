"""The shipped widget file: small, dependency-free, and free of risky DOM APIs."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

WIDGET = Path(__file__).resolve().parents[2] / "widget" / "chatkit.js"
SOURCE = WIDGET.read_text()


def test_gzipped_size_is_under_15_kb() -> None:
    assert len(gzip.compress(WIDGET.read_bytes(), compresslevel=9)) < 15 * 1024


def test_no_html_parsing_or_code_evaluation() -> None:
    risky = re.compile(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|"
                       r"setAttribute\(['\"]style|createContextualFragment|DOMParser")
    assert risky.findall(SOURCE) == []


def test_no_imports_and_one_global() -> None:
    assert not re.search(r"^\s*(import|export)\b|\brequire\(", SOURCE, re.M)
    assert re.findall(r"window\.(\w+)\s*=", SOURCE) == ["ChatKit"]
