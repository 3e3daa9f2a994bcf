"""Plugins register through collector hooks; the config, not discovery, decides order."""

import json
import subprocess
import sys

import pytest

from chatkit_core import hookimpl
from chatkit_core.chat.providers import Chunk, Provider
from chatkit_core.platform.assembly import build_runtime
from chatkit_core.platform.config import ConfigError
from chatkit_core.platform.plugins import PluginError, collect, pm, registry
from tests.core.conftest import config_from, new_session


class EchoProvider(Provider):
    async def stream(self, request):
        yield Chunk(text="echo: " + request.messages[-1].content)


class EchoPlugin:
    @hookimpl
    def register_providers(self, register):
        register("echo", EchoProvider)

    @hookimpl
    def register_middleware(self, register):
        register("tag", lambda config: _tagging)


def _tagging(app):
    async def middleware(scope, receive, send):
        async def tagged(message):
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-tag", b"1")]
            await send(message)

        await app(scope, receive, tagged)

    return middleware


@pytest.fixture
def echo_plugin():
    pm.register(EchoPlugin(), name="echo-plugin")
    yield
    pm.unregister(name="echo-plugin")


async def test_registered_plugin_answers_and_unregistered_is_gone(echo_plugin, make_client):
    async with make_client('[providers.e]\ntype = "echo"\n[rate_limit]\ntype = "none"') as client:
        session = await new_session(client)
        response = await client.post("/api/chat", json={"sessionId": session, "message": "ping"})
        assert response.json()["message"]["content"] == "echo: ping"
        assert response.headers["x-tag"] == "1"
    pm.unregister(name="echo-plugin")
    with pytest.raises(ConfigError, match="unknown provider type 'echo'"):
        build_runtime(config_from('[providers.e]\ntype = "echo"'))
    pm.register(EchoPlugin(), name="echo-plugin")


def test_duplicate_names_are_refused(echo_plugin):
    class Again:
        @hookimpl
        def register_providers(self, register):
            register("echo", EchoProvider)

    pm.register(Again(), name="again")
    try:
        assert "echo" not in collect("register_providers")
        assert registry("register_providers").clashes == {"echo": ["again", "echo-plugin"]}
        with pytest.raises(PluginError, match="provider type 'echo' is registered by both plugin 'again' and "
                                              "plugin 'echo-plugin'"):
            build_runtime(config_from('[providers.e]\ntype = "echo"'))
    finally:
        pm.unregister(name="again")


def test_middleware_order_comes_from_config(echo_plugin):
    default = build_runtime(config_from('[providers.e]\ntype = "echo"'))
    assert [name for name, _ in default.middleware] == ["access_log", "security_headers", "cors", "tag"]
    chosen = build_runtime(config_from('[providers.e]\ntype = "echo"\n[middleware]\norder = ["tag"]\n'
                                       'disabled = ["cors"]'))
    assert [name for name, _ in chosen.middleware] == ["tag", "access_log", "security_headers"]
    with pytest.raises(ConfigError, match=r"middleware\.order: unknown name 'nope'"):
        build_runtime(config_from('[providers.e]\ntype = "echo"\n[middleware]\norder = ["nope"]'))


def test_cli_lists_entry_point_plugins():
    result = subprocess.run([sys.executable, "-m", "chatkit_core", "plugins", "--json"],
                            capture_output=True, text=True, check=True)
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["canned"]["distribution"] == "chatkit-canned"
    assert rows["canned"]["registers"] == {"providers": ["canned"]}
    assert rows["chatkit_core.builtins.stores"]["registers"] == {"session_stores": ["memory", "sqlite"]}


def test_load_plugins_variable_restricts_installed_plugins():
    env = {"CHATKIT_LOAD_PLUGINS": ""}
    result = subprocess.run([sys.executable, "-m", "chatkit_core", "plugins", "--json"],
                            capture_output=True, text=True, check=True, env={**_env(), **env})
    names = {row["name"] for row in json.loads(result.stdout)}
    assert "canned" not in names and "chatkit_core.builtins.sanitizer" in names
    result = subprocess.run([sys.executable, "-m", "chatkit_core", "plugins", "--json"],
                            capture_output=True, text=True, check=True,
                            env={**_env(), "CHATKIT_LOAD_PLUGINS": "chatkit-canned"})
    assert "canned" in {row["name"] for row in json.loads(result.stdout)}


def _env():
    import os

    return dict(os.environ)
