"""Files the core finds beside its own modules, whatever the working directory."""

from __future__ import annotations

from chatkit_core.http.widget_assets import find_bundle
from tests.conftest import ROOT


def test_the_widget_bundle_is_found_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no ./widget here: the installed copy, else the source tree's build
    assert find_bundle("") == ROOT / "widget" / "dist" / "chatkit.js"
    (tmp_path / "widget").mkdir()
    (tmp_path / "widget" / "chatkit.js").write_text("// a local build")
    assert find_bundle("") == tmp_path / "widget" / "chatkit.js"
