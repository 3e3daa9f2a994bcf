"""How failures show: /health right after one, every attempt in ``fallbacks``, which failures
count toward the circuit, and the hint when a provider speaks the other protocol."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from structlog.testing import capture_logs

from chatkit_core.platform.config import load_config
from chatkit_core.platform.plugins import collect
from tests.fakes.llama import FakeLlama
from tests.fakes.ollama import FakeOllama
from tests.fakes.openai import FakeOpenAI
from tests.fakes.server import Script
from tests.models.conftest import ask, sse_events


def toml(kind: str, url: str, chain: str = "", backup: str = "") -> str:
    text = f"""
[chain]
order = {'["a", "b"]' if backup else '["a"]'}
backoff = 0.05
{chain}
[providers.a]
type = "{kind}"
base_url = "{url}"
timeout = 2
[rate_limit]
type = "none"
"""
    if backup:
        text += f'[providers.b]\ntype = "ollama"\nbase_url = "{backup}"\n'
    return text


def status(health: dict, name: str = "a") -> str:
    return {p["name"]: p["status"] for p in health["providers"]}[name]


async def test_health_reports_a_provider_down_right_after_a_failed_request(make_client) -> None:
    fake = FakeOllama()
    fake.start()
    try:
        async with make_client(toml("ollama", fake.url)) as client:
            assert status((await client.get("/health")).json()) == "up"
            fake.default = Script(text="one two three four", fault="cut", after=2)
            fake.stop()  # the server dies: /health would repeat its cached "up" for 5 s
            assert (await ask(client)).status_code == 503
            health = (await client.get("/health")).json()
    finally:
        fake.stop()
    assert status(health) == "down" and health["status"] == "degraded"


async def test_fallbacks_name_every_attempt(make_client) -> None:
    with FakeOllama() as first, FakeOllama() as backup:
        first.script(Script(fault="malformed", after=0), Script(status=503))
        backup.default = Script(text="From the backup")
        async with make_client(toml("ollama", first.url, backup=backup.url)) as client:
            reply = (await ask(client)).json()["message"]
    assert reply["provider"] == "b" and reply["fallbacks"] == ["a:bad_response", "a:server"]


async def test_refused_messages_never_open_the_circuit(make_client) -> None:
    """A visitor whose messages the provider refuses cannot switch it off for everyone."""
    with FakeOllama() as first, FakeOllama() as backup:
        first.default = Script(status=400)
        chain = "retries = 0\nbreaker_failures = 2"
        async with make_client(toml("ollama", first.url, chain, backup=backup.url)) as client:
            for _ in range(4):
                assert (await ask(client)).json()["message"]["fallbacks"] == ["a:bad_request"]
            first.default = Script(text="Fine again")
            reply = (await ask(client)).json()["message"]
            health = (await client.get("/health")).json()
    assert len(first.chat_requests()) == 5 and reply["provider"] == "a"
    assert status(health) == "up"


async def test_provider_wide_failures_still_open_the_circuit(make_client) -> None:
    with FakeOllama() as first, FakeOllama() as backup:
        first.default = Script(status=500)
        chain = "retries = 0\nbreaker_failures = 2"
        async with make_client(toml("ollama", first.url, chain, backup=backup.url)) as client:
            for _ in range(3):
                await ask(client)
    assert len(first.chat_requests()) == 2


async def test_an_ollama_provider_pointed_at_an_openai_compatible_server_says_so(make_client) -> None:
    with FakeLlama() as llama:
        async with make_client(toml("ollama", llama.url, "retries = 0")) as client:
            with capture_logs() as logs:
                response = await ask(client, stream=True)
    assert sse_events(response.text)[-1][1]["error"]["code"] == "providers_unavailable"
    failure = next(e for e in logs if e["event"] == "provider_failed")
    assert failure["kind"] == "not_found"
    assert "OpenAI-compatible server, not Ollama" in failure["error"]
    assert f'type = "openai" with base_url = "{llama.url}/v1"' in failure["error"]


async def test_an_openai_provider_pointed_at_ollamas_root_says_so(make_client) -> None:
    with FakeOllama() as ollama:
        async with make_client(toml("openai", ollama.url, "retries = 0")) as client:
            with capture_logs() as logs:
                await ask(client)
            health = (await client.get("/health")).json()
    failure = next(e for e in logs if e["event"] == "provider_failed")
    assert "looks like Ollama's native API" in failure["error"]
    assert f'base_url = "{ollama.url}/v1"' in failure["error"] and 'type = "ollama"' in failure["error"]
    assert status(health) == "down"


def check(path, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "chatkit_core", "config", "check", "--config", str(path), *flags],
                          capture_output=True, text=True, timeout=60)


def test_config_check_probe_names_the_other_protocol(tmp_path) -> None:
    with FakeOpenAI() as server:
        path = tmp_path / "chatkit.toml"
        path.write_text(toml("ollama", server.url))
        offline = check(path)
        assert not server.requests  # without --probe, config check stays off the network
        probed = check(path, "--probe")
    assert offline.returncode == 0 and "probes:" not in offline.stdout
    assert probed.returncode == 0, probed.stderr
    assert "a: down" in probed.stdout and "OpenAI-compatible server, not Ollama" in probed.stdout


def test_config_check_shows_caps_and_queue(tmp_path) -> None:
    path = tmp_path / "chatkit.toml"
    text = toml("ollama", "http://127.0.0.1:9").replace("timeout = 2", "timeout = 2\nmax_concurrency = 4")
    path.write_text(text)
    result = check(path)
    assert "max_tokens 512; 4 at once, queue 100 for 120s" in result.stdout, result.stdout


def test_config_check_warns_about_the_example_provider(tmp_path) -> None:
    path = tmp_path / "chatkit.toml"
    path.write_text('[providers.demo]\ntype = "canned"\n[rate_limit]\ntype = "none"\n')
    result = check(path)
    assert result.returncode == 0
    assert "warning: providers.demo: example provider (type canned): not for a deployed site" in result.stdout


def test_the_deployed_config_uses_no_example_provider() -> None:
    root = Path(__file__).resolve().parents[2]
    config = load_config(root / "deploy" / "chatkit.toml", {"OPENAI_API_KEY": "sk-test"})
    types = collect("register_providers")
    chosen = {name: types[table["type"]][0] for name, table in config.providers.items()}
    assert chosen and not [name for name, kind in chosen.items() if kind.example]
    assert "canned" not in (root / ".env.example").read_text()
