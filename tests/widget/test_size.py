"""The widget's sources and the bundle built from them: small, dependency-free, free of risky DOM
APIs, one global, and the version of the core it ships with."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.widget.helpers import ROOT

SOURCES = sorted((ROOT / "widget" / "src").glob("*.js"))
VERSION = (ROOT / "chatkit_core" / "VERSION").read_text().strip()


def test_the_bundle_stays_within_its_budget(bundle: Path) -> None:
    # One hand-written, unminified file before the build step: 17,100 bytes gzipped. Bundled and minified by
    # esbuild: 14,720 bytes; with voice and attachments in six languages, 17,800; with talking to a person,
    # 19,900; with files sent alone and the microphone's errors, 20,477 (docs/widget.md, "Building the
    # widget"). A feature that needs more raises the budget on purpose, saying why.
    assert len(gzip.compress(bundle.read_bytes(), compresslevel=9)) < 21 * 1024


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: path.name)
def test_no_html_parsing_or_code_evaluation(path: Path) -> None:
    risky = re.compile(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|"
                       r"setAttribute\(['\"]style|createContextualFragment|DOMParser")
    assert risky.findall(path.read_text()) == []


def test_the_sources_import_only_each_other_and_define_one_global() -> None:
    imports = [m[1] for path in SOURCES for m in re.finditer(r"^import .* from '([^']+)';$", path.read_text(), re.M)]
    names = {path.name for path in SOURCES}
    assert imports and all(i.startswith("./") and i[2:] in names for i in imports), imports
    assert not any(re.search(r"\brequire\(", path.read_text()) for path in SOURCES)
    globals_set = [m for path in SOURCES for m in re.findall(r"window\.(\w+)\s*=", path.read_text())]
    assert globals_set == ["ChatKit"]


def test_the_bundle_is_one_classic_script_carrying_the_version(bundle: Path) -> None:
    text = bundle.read_text()
    assert text.startswith(f"/*! ChatKit widget {VERSION} | MIT License */\n\"use strict\";\n(()=>" + "{")
    assert not re.search(r"^\s*(import|export)\b|\brequire\(", text, re.M)
    assert "//# sourceMappingURL" not in text


def test_the_page_sees_one_global_with_the_version(page: Page) -> None:
    page.goto("/examples/")
    before = set(page.evaluate("Object.keys(window)"))
    page.add_script_tag(url="/widget/chatkit.js")
    assert set(page.evaluate("Object.keys(window)")) - before == {"ChatKit"}
    assert page.evaluate("ChatKit.version") == VERSION
    assert page.evaluate("Object.isFrozen(ChatKit)")
