"""``pip install ./plugins/chatkit_knowledge`` into a fresh virtualenv works on its own.

The virtualenv (tests/conftest.py) holds the core alone; the test is skipped when the
package index is unreachable.
"""

from __future__ import annotations

import json

from tests.conftest import ROOT


def registered(venv) -> dict[str, list[str]]:
    rows = json.loads(venv.run("chatkit", "plugins", "--json", check=True).stdout)
    return next((row["registers"] for row in rows if row["distribution"] == "chatkit-knowledge"), {})


def test_the_knowledge_plugin_installs_indexes_and_answers(fresh_venv, tmp_path):
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "hours.html").write_text("<title>Hours</title><main><p>On Sunday we open at 8:00.</p></main>")
    config = tmp_path / "chatkit.toml"
    config.write_text('[chain]\norder = ["site"]\n[providers.site]\ntype = "extractive"\n[rate_limit]\ntype = "none"\n'
                      f'[knowledge]\ntype = "sqlite"\nsources = ["{tmp_path / "web"}"]\n'
                      f'path = "{tmp_path / "index.sqlite3"}"\n')
    fresh_venv.pip("install", str(ROOT / "plugins" / "chatkit_knowledge"))
    try:
        assert registered(fresh_venv) == {"retrievers": ["sqlite"], "providers": ["extractive"],
                                          "commands": ["eval", "index"], "embedders": ["static"]}
        built = fresh_venv.run("chatkit", "index", "--config", str(config), check=True)
        assert "1 added" in built.stdout
        answer = fresh_venv.run("chatkit", "chat", "--config", str(config), "open on sunday?", check=True)
        assert answer.stdout.startswith("On Sunday we open at 8:00.\n\nSource: [Hours](/hours.html) [1]")
    finally:
        fresh_venv.pip("uninstall", "--yes", "chatkit-knowledge")
    check = fresh_venv.run("chatkit", "config", "check", "--config", str(config))
    assert check.returncode == 1 and "unknown provider type 'extractive'" in check.stderr
