"""``pip install ./plugins/chatkit_ollama`` into a fresh virtualenv makes type ``ollama`` exist.

The virtualenv (tests/conftest.py) holds the core alone, installed from the source tree; pip
fetches build tools from the package index, so the test is skipped when it is unreachable.
"""

from __future__ import annotations

import json

from tests.conftest import ROOT
from tests.fakes.ollama import FakeOllama
from tests.fakes.server import Script


def provider_types(venv) -> set[str]:
    rows = json.loads(venv.run("chatkit", "plugins", "--json", check=True).stdout)
    return {name for row in rows for name in row["registers"].get("providers", [])}


def test_ollama_plugin_installs_answers_and_uninstalls(fresh_venv, tmp_path) -> None:
    with FakeOllama() as fake:
        fake.default = Script(text="Installed and answering.")
        config = tmp_path / "chatkit.toml"
        config.write_text(
            '[chain]\norder = ["local"]\nretries = 0\n[rate_limit]\ntype = "none"\n'
            f'[providers.local]\ntype = "ollama"\nbase_url = "{fake.url}"\n'
        )
        assert "ollama" not in provider_types(fresh_venv)
        fresh_venv.pip("install", str(ROOT / "plugins" / "chatkit_ollama"))
        try:
            assert "ollama" in provider_types(fresh_venv)
            answer = fresh_venv.run("chatkit", "chat", "--config", str(config), "ping", check=True)
            assert answer.stdout.startswith("Installed and answering.")
            assert fake.chat_requests()[0].json["messages"][-1] == {"role": "user", "content": "ping"}
        finally:
            fresh_venv.pip("uninstall", "--yes", "chatkit-ollama")
    assert "ollama" not in provider_types(fresh_venv)
    check = fresh_venv.run("chatkit", "config", "check", "--config", str(config))
    assert check.returncode == 1 and "unknown provider type 'ollama'" in check.stderr
