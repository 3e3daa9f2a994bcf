from typing import Any, ClassVar

import pytest

from chatkit_core import hookimpl
from chatkit_core.chat.providers import Chunk, Provider, ProviderOptions
from chatkit_core.platform.assembly import build_runtime
from chatkit_core.platform.config import ConfigError, load_config
from chatkit_core.platform.plugins import pm
from tests.conftest import ROOT
from tests.core.conftest import CANNED, config_from


def refused(text: str, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        build_runtime(config_from(text, environ))
    return str(caught.value)


def test_unknown_provider_type_lists_installed_types():
    message = refused('[providers.x]\ntype = "nope"')
    assert "providers.x.type" in message and "'nope'" in message
    assert "canned" in message


def test_chain_names_a_missing_provider_table():
    message = refused('[chain]\norder = ["ghost"]\n[providers.demo]\ntype = "canned"')
    assert "chain.order" in message and "[providers.ghost]" in message and "demo" in message


def test_wrong_type_names_the_key():
    assert refused('[server]\nport = "eighty"\n[providers.d]\ntype="canned"').startswith("server.port:")
    assert "providers.d.delay" in refused('[providers.d]\ntype = "canned"\ndelay = "slow"')


def test_unknown_key_lists_allowed_keys():
    message = refused("[server]\nprot = 1")
    assert "unknown key `prot`" in message and "port" in message and "allowed_origins" in message
    assert "delays" in refused('[providers.d]\ntype = "canned"\ndelays = 1')


def test_bad_url_is_refused_with_its_key():
    message = refused('[providers.d]\ntype = "canned"\nbase_url = "ftp://x"')
    assert "providers.d" in message and "base_url" in message


def test_unknown_section_and_store_are_refused():
    assert "unknown section [servr]" in refused("[servr]\nport = 1")
    message = refused('[providers.d]\ntype = "canned"\n[sessions]\nstore = "mongo"')
    assert "sessions.store" in message and "memory" in message and "sqlite" in message


def test_bad_trusted_proxies_are_refused():
    assert refused('[server]\ntrusted_proxies = ["nginx"]').startswith("server.trusted_proxies: 'nginx'")


def test_bad_durations_and_origins_are_refused():
    assert "sessions" in refused('[providers.d]\ntype="canned"\n[sessions]\nttl = "forever"')
    assert "allowed_origins" in refused('[server]\nallowed_origins = ["example.com"]')


def test_interpolation_and_defaults():
    config = config_from('[providers.d]\ntype = "canned"\nmodel = "${MODEL:-fallback}"\nbase_url = "${URL}"',
                         {"URL": "http://10.0.0.1:1"})
    assert config.providers["d"] == {"type": "canned", "model": "fallback", "base_url": "http://10.0.0.1:1"}


def test_seed_environment_variables_override_the_file():
    text = '[providers.local]\ntype = "ollama"\nmodel = "a"\n[providers.cloud]\ntype = "openai"'
    env = {"PORT": "9100", "ALLOWED_ORIGINS": "https://a.example, https://b.example", "OLLAMA_MODEL": "b",
           "OLLAMA_BASE_URL": "http://10.1.1.1:11434", "OPENAI_API_KEY": "sk-x", "LOG_LEVEL": "DEBUG",
           "RATE_LIMIT_REQUESTS_PER_MINUTE": "5", "REDIS_URL": "redis://127.0.0.1:1/0"}
    config = config_from(text, env)
    assert config.server.port == 9100
    assert config.server.allowed_origins == ["https://a.example", "https://b.example"]
    assert config.providers["local"]["model"] == "b"
    assert config.providers["local"]["base_url"] == "http://10.1.1.1:11434"
    assert config.providers["cloud"]["api_key"] == "sk-x"
    assert config.logging.level == "debug"
    assert config.rate_limit["per_ip"] == ["5/minute", "1000/hour"]
    assert config.rate_limit["storage"] == "redis://127.0.0.1:1/0"


def test_bad_environment_value_is_named():
    with pytest.raises(ConfigError, match="PORT"):
        config_from("", {"PORT": "http"})


def test_defaults_without_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_config(environ={})
    assert config.chain.order == ["ollama"] and config.source == "built-in defaults"
    config = load_config(environ={"OPENAI_API_KEY": "sk"})
    assert config.chain.order == ["ollama", "openai"]


def test_config_file_lookup(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "chatkit.toml").write_text('[chain]\norder = ["here"]\n[providers.here]\ntype = "canned"')
    assert load_config(environ={}).chain.order == ["here"]
    other = tmp_path / "other.toml"
    other.write_text('[providers.there]\ntype = "canned"')
    monkeypatch.setenv("CHATKIT_CONFIG", str(other))
    assert list(load_config().providers) == ["there"]
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml")
    (tmp_path / "broken.toml").write_text("[server\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(tmp_path / "broken.toml")


def test_chain_defaults_to_file_order():
    components = build_runtime(config_from('[providers.b]\ntype = "canned"\n[providers.a]\ntype = "canned"'))
    assert [p.name for p in components.providers] == ["b", "a"]


class DeclaringOptions(ProviderOptions, kw_only=True, forbid_unknown_fields=True):
    env: ClassVar[dict[str, Any]] = {"DECLARED_MODEL": "model", "DECLARED_TIMEOUT": "timeout"}
    default_chain: ClassVar[str] = "DECLARED_MODEL"


class Declaring(Provider):
    Options = DeclaringOptions

    async def stream(self, request):
        yield Chunk(text="hi")


@pytest.fixture
def declaring():
    class Plugin:
        @hookimpl
        def register_providers(self, register):
            register("declared", Declaring)

    pm.register(Plugin(), name="declaring")
    yield
    pm.unregister(name="declaring")


def test_a_plugin_declares_its_own_environment_variables(declaring):
    config = config_from('[providers.d]\ntype = "declared"\nmodel = "file"',
                         {"DECLARED_MODEL": "env", "DECLARED_TIMEOUT": "12.5"})
    assert config.providers["d"] == {"type": "declared", "model": "env", "timeout": 12.5}
    message = refused('[providers.d]\ntype = "declared"', {"DECLARED_TIMEOUT": "soon"})
    assert message.startswith("environment variable DECLARED_TIMEOUT: Expected `float`")
    two = config_from('[providers.a]\ntype = "declared"\n[providers.b]\ntype = "declared"', {"DECLARED_MODEL": "x"})
    assert "model" not in two.providers["a"] and "model" not in two.providers["b"]  # ambiguous: the file decides


def test_a_plugin_joins_the_default_chain_when_its_variable_is_set(declaring, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_config(environ={}).chain.order == ["ollama"]
    assert load_config(environ={"DECLARED_MODEL": "m", "OPENAI_API_KEY": "sk"}).chain.order == [
        "ollama", "declared", "openai"]


def test_core_names_no_plugin():
    for module in ("config.py", "assembly.py", "plugins.py", "runtime.py"):
        source = (ROOT / "chatkit_core" / "platform" / module).read_text()
        for name in ("ollama", "openai", "OPENAI_API_KEY", "REDIS_URL", "RATE_LIMIT_"):
            assert name not in source.replace("chatkit-ollama", ""), (module, name)


def test_paths_in_a_config_file_start_from_its_folder(tmp_path, monkeypatch):
    site = tmp_path / "srv" / "site"
    site.mkdir(parents=True)
    (site / "chatkit.toml").write_text(CANNED + """
[server]
web_root = "public"
[sessions]
store = "sqlite"
url = "sqlite:///data/conversations.sqlite3"
""")
    monkeypatch.chdir(tmp_path)  # run from elsewhere, as `chatkit index --config /srv/site/chatkit.toml` from /
    runtime = build_runtime(load_config(str(site / "chatkit.toml"), environ={}))
    assert runtime.config.folder == str(site)
    assert runtime.config.server.web_root == str(site / "public")
    assert runtime.store.options.url == f"sqlite:///{site}/data/conversations.sqlite3"
    absolute = build_runtime(load_config(str(site / "chatkit.toml"), environ={}))
    assert absolute.store.path == f"{site}/data/conversations.sqlite3"


def test_defaults_follow_the_config_file_and_absolute_paths_stay(tmp_path):
    (tmp_path / "chatkit.toml").write_text(CANNED + '[sessions]\nstore = "sqlite"\n[server]\nweb_root = "/srv/www"\n')
    runtime = build_runtime(load_config(str(tmp_path / "chatkit.toml"), environ={}))
    assert runtime.store.options.url == f"sqlite:///{tmp_path}/chatkit.sqlite3"
    assert runtime.config.server.web_root == "/srv/www"


def test_without_a_config_file_paths_stay_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = config_from(CANNED + '[sessions]\nstore = "sqlite"\nurl = "sqlite:///x.db"\n')
    assert config.folder == "" and build_runtime(config).store.options.url == "sqlite:///x.db"
