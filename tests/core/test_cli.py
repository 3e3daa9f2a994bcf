"""The ``chatkit`` command as an operator uses it, and the example plugin as a user installs it."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

from tests.conftest import ROOT
from tests.support.server import running_server, with_site

CANNED = '[chain]\norder = ["demo"]\n[providers.demo]\ntype = "canned"\ndelay = 0\n[rate_limit]\ntype = "none"\n'


def chatkit(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "chatkit_core", *args], capture_output=True, text=True,
                          timeout=60, env=env)


def test_config_check_prints_the_resolved_setup(tmp_path):
    path = tmp_path / "chatkit.toml"
    path.write_text(CANNED + '[providers.spare]\ntype = "canned"\n')
    result = chatkit("config", "check", "--config", str(path))
    assert result.returncode == 0, result.stderr
    assert "1. demo (type canned, model canned)" in result.stdout
    assert "middleware (outermost first): access_log, security_headers, cors" in result.stdout
    assert "session store: memory" in result.stdout and "rate limiter: none" in result.stdout
    assert "warning: providers.spare is not in chain.order" in result.stdout


def test_config_check_refuses_with_the_key(tmp_path):
    path = tmp_path / "chatkit.toml"
    path.write_text(CANNED.replace("delay = 0", "delay = -1"))
    result = chatkit("config", "check", "--config", str(path))
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("error: providers.demo") and "delay" in result.stderr
    missing = chatkit("config", "check", "--config", str(tmp_path / "nope.toml"))
    assert missing.returncode == 1 and "does not exist" in missing.stderr


def test_chat_streams_an_answer_to_the_terminal(tmp_path):
    path = tmp_path / "chatkit.toml"
    path.write_text(CANNED)
    result = chatkit("chat", "--config", str(path), "What time is it?")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith('You said: "What time is it?"') and "[demo / canned]" in result.stderr


def test_chat_runs_the_api_conversation_path(tmp_path):
    """Sanitizers, the system prompt and the API's checks apply from the terminal too."""
    path = tmp_path / "chatkit.toml"
    path.write_text(CANNED)
    cleaned = chatkit("chat", "--config", str(path), "<b>Hi</b><script>alert(1)</script> a < b \u200b<|im_start|>")
    assert cleaned.returncode == 0, cleaned.stderr
    assert "<b>" not in cleaned.stdout and "alert" not in cleaned.stdout and "\u200b" not in cleaned.stdout
    assert "<|im_start|>" not in cleaned.stdout and 'You said: "Hi a < b' in cleaned.stdout
    empty = chatkit("chat", "--config", str(path), "   ")
    assert empty.returncode == 1 and empty.stderr.strip().endswith("error: Please type a message first.")
    too_long = chatkit("chat", "--config", str(path), "x" * 5000)
    assert too_long.returncode == 1 and "Your message is too long" in too_long.stderr


def test_chat_reports_when_no_provider_answers(tmp_path):
    path = tmp_path / "chatkit.toml"
    path.write_text('[providers.local]\ntype = "ollama"\nbase_url = "http://127.0.0.1:9"\n[chain]\nretries = 0\n')
    result = chatkit("chat", "--config", str(path), "hello")
    assert result.returncode == 1 and "no provider answered (local:connect)" in result.stderr


def test_serve_answers_health_and_serves_a_site_only_when_told():
    with running_server(CANNED) as url:
        health = httpx.get(url + "/health").json()
        assert health["status"] == "ok" and health["providers"][0]["name"] == "demo"
        widget = httpx.get(url + "/widget/chatkit.js")
        assert widget.status_code == 200 and "javascript" in widget.headers["content-type"]
        for path in ("/", "/index.html", "/examples/"):  # a deployment's own site is not the demo bakery
            assert httpx.get(url + path).status_code == 404
    with running_server(with_site(CANNED)) as url:
        page = httpx.get(url + "/")
        assert page.status_code == 200 and "/widget/chatkit.js" in page.text


def test_example_plugin_installs_answers_and_uninstalls(fresh_venv, tmp_path):
    """pip install the example plugin, name it in a chain, chat; uninstall it, and the type is gone."""
    config = tmp_path / "chatkit.toml"
    config.write_text(CANNED)
    fresh_venv.pip("install", str(ROOT / "examples" / "chatkit_canned"))
    try:
        names = {row["name"] for row in json.loads(fresh_venv.run("chatkit", "plugins", "--json", check=True).stdout)}
        assert "canned" in names
        answer = fresh_venv.run("chatkit", "chat", "--config", str(config), "ping", check=True)
        assert answer.stdout.startswith('You said: "ping"')
    finally:
        fresh_venv.pip("uninstall", "--yes", "chatkit-canned")
    names = {row["name"] for row in json.loads(fresh_venv.run("chatkit", "plugins", "--json", check=True).stdout)}
    assert "canned" not in names
    check = fresh_venv.run("chatkit", "config", "check", "--config", str(config))
    assert check.returncode == 1
    assert "providers.demo.type: unknown provider type 'canned'; installed provider types: none" in check.stderr


def test_serve_refuses_several_workers_with_the_memory_store(tmp_path):
    path = tmp_path / "chatkit.toml"
    path.write_text(CANNED)
    result = chatkit("serve", "--config", str(path), "--workers", "2", "--port", "9")
    assert result.returncode == 1 and 'sessions.store = "memory"' in result.stderr and "sqlite" in result.stderr


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_two_workers_share_conversations(tmp_path, store, request):
    url = f"sqlite:///{tmp_path}/chat.sqlite3" if store == "sqlite" else request.getfixturevalue("postgres_url")
    config = CANNED + f'[sessions]\nstore = "{store}"\nurl = "{url}"\n'
    with running_server(config, workers=2) as url, httpx.Client(base_url=url, timeout=10) as http:
        session = http.post("/api/create-session").json()["sessionId"]
        for index in range(12):  # a new connection each time, so both workers take turns
            reply = http.post("/api/chat", json={"sessionId": session, "message": f"q{index}"},
                              headers={"Connection": "close"})
            assert reply.status_code == 200, reply.text
        messages = http.get(f"/api/session/{session}/messages").json()["messages"]
    assert [m["content"] for m in messages[::2]] == [f"q{i}" for i in range(12)]
    assert all(m["role"] == "assistant" for m in messages[1::2])

