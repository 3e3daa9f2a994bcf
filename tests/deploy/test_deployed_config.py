"""deploy/chatkit.toml with the environment compose gives the backend, behind the real nginx,
answered by fake Ollama and OpenAI servers on loopback in place of the containers."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.deploy.conftest import ROOT
from tests.deploy.edge import NGINX, running_nginx
from tests.deploy.test_compose import env_example, environment, interpolate
from tests.fakes.ollama import FakeOllama
from tests.fakes.openai import FakeOpenAI
from tests.fakes.server import Script
from tests.support.server import running_server

pytest.importorskip("chatkit_ollama")
pytest.importorskip("chatkit_openai")
pytest.importorskip("chatkit_ratelimit")

DEPLOYED = (ROOT / "deploy/chatkit.toml").read_text()


def backend_env(compose: dict[str, Any], **dotenv: str) -> dict[str, str]:
    """The backend container's environment when .env holds ``dotenv``, by compose's rules.

    nginx runs on 127.0.0.1 here, so that is the edge address the backend trusts.
    """
    dotenv = {"CHATKIT_EDGE_IP": "127.0.0.1", **dotenv}
    env = {}
    for name, value in environment(compose["services"]["backend"]).items():
        if value is not None:
            env[name] = interpolate(value, dotenv)
        elif name in dotenv:  # a bare name passes through only when set
            env[name] = dotenv[name]
    env.pop("CHATKIT_CONFIG")  # the test server gets the file through --config
    return env


@pytest.fixture
def ollama() -> Iterator[FakeOllama]:
    with FakeOllama(models=("llama3.2", "qwen2.5:0.5b")) as fake:
        fake.default = Script(text="Hello from the local model.")
        yield fake


@pytest.fixture
def openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key="sk-deploy-test") as fake:
        fake.default = Script(text="Hello from the cloud model.")
        yield fake


def ask(edge: str, question: str) -> dict[str, Any]:
    with httpx.Client(timeout=20) as client:
        session_id = client.post(f"{edge}/api/create-session").json()["sessionId"]
        response = client.post(f"{edge}/api/chat", json={"sessionId": session_id, "message": question})
    assert response.status_code == 200, response.text
    return response.json()["message"]


def test_config_check_accepts_the_deployed_file(compose):
    env = {**os.environ, **backend_env(compose, OPENAI_API_KEY="sk-deploy-test"), "LOG_LEVEL": "warning"}
    result = subprocess.run([sys.executable, "-m", "chatkit_core", "config", "check", "--config",
                             str(ROOT / "deploy/chatkit.toml")], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1. local (type ollama, model llama3.2 at http://ollama:11434)" in result.stdout
    assert "2. cloud (type openai" in result.stdout
    assert "session store: memory" in result.stdout


def test_the_deployed_file_keeps_conversations_in_postgres_when_env_says_so(compose):
    url = env_example()["DATABASE_URL"]
    dotenv = backend_env(compose, SESSION_STORE="postgres", DATABASE_URL=url, OPENAI_API_KEY="sk-deploy-test")
    result = subprocess.run([sys.executable, "-m", "chatkit_core", "config", "check", "--config",
                             str(ROOT / "deploy/chatkit.toml")], capture_output=True, text=True,
                            env={**os.environ, **dotenv, "LOG_LEVEL": "warning"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "session store: postgres" in result.stdout
    assert env_example()["POSTGRES_PASSWORD"] not in result.stdout + result.stderr


@pytest.mark.nginx
@pytest.mark.skipif(not os.access(NGINX, os.X_OK), reason="nginx is not installed (apt-get install nginx-light)")
def test_the_local_model_answers_with_the_model_from_env(compose, ollama: FakeOllama):
    env = backend_env(compose, OLLAMA_BASE_URL=ollama.url, OLLAMA_MODEL="qwen2.5:0.5b")
    with running_server(DEPLOYED, env=env) as backend, running_nginx(backend.removeprefix("http://")) as edge:
        message = ask(edge, "Who answers?")
        health = httpx.get(f"{edge}/health").json()
    assert message["content"] == "Hello from the local model."
    assert (message["provider"], message["model"]) == ("local", "qwen2.5:0.5b")
    assert ollama.chat_requests()[0].json["model"] == "qwen2.5:0.5b"
    # Without OPENAI_API_KEY the cloud provider stays out of the chain.
    assert [p["name"] for p in health["providers"]] == ["local"]


@pytest.mark.nginx
@pytest.mark.skipif(not os.access(NGINX, os.X_OK), reason="nginx is not installed (apt-get install nginx-light)")
def test_openai_takes_over_when_ollama_fails(compose, ollama: FakeOllama, openai: FakeOpenAI):
    ollama.default = Script(status=503)
    env = backend_env(compose, OLLAMA_BASE_URL=ollama.url, OPENAI_API_KEY="sk-deploy-test",
                      OPENAI_BASE_URL=f"{openai.url}/v1")
    with running_server(DEPLOYED, env=env) as backend, running_nginx(backend.removeprefix("http://")) as edge:
        message = ask(edge, "Who answers now?")
    assert message["content"] == "Hello from the cloud model."
    assert (message["provider"], message["model"]) == ("cloud", "gpt-4o-mini")
    assert ollama.chat_requests(), "the local model was tried first"
