"""``[uploads]`` and a provider's ``inputs`` in the config: mistakes are refused at start-up with a
line naming the key, and a store that keeps no attachments needs a folder."""

from __future__ import annotations

import tomllib

import pytest

from chatkit_core import hookimpl
from chatkit_core.builtins.memory_store import MemoryStore
from chatkit_core.chat.attachment_folder import FolderAttachments
from chatkit_core.chat.sessions import SessionStore
from chatkit_core.platform import assembly
from chatkit_core.platform.assembly import build_runtime
from chatkit_core.platform.config import ConfigError, decode
from chatkit_core.platform.plugins import pm
from tests.uploads.conftest import CANNED


def refused(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        build_runtime(decode(tomllib.loads(text)))
    return str(caught.value)


@pytest.mark.parametrize(("line", "says"), [
    ('types = ["png", "gif"]', "uploads.types: unknown type 'gif'; accepted types: png, jpeg, webp, pdf, text, "
                               "markdown"),
    ("types = []", "uploads.types: name at least one type"),
    ("max_bytes = 10", "uploads.max_bytes: must be between 1024"),
    ("max_per_message = 5\nmax_per_session = 2", "max_per_session at least max_per_message"),
    ("max_memory = 1000", "max_memory at least 268435456"),
    ("colour = 1", "uploads: unknown key `colour`"),
])
def test_mistakes_name_their_key(line: str, says: str) -> None:
    assert says in refused(CANNED.replace("enabled = true", f"enabled = true\n{line}"))


def test_a_provider_declares_what_its_model_reads() -> None:
    config = CANNED.replace('type = "canned"', 'type = "canned"\ninputs = ["text", "image"]')
    assert build_runtime(decode(tomllib.loads(config))).providers[0].takes_images
    message = refused(CANNED.replace('type = "canned"', 'type = "canned"\ninputs = ["image"]'))
    assert message.startswith('providers.demo.inputs: inputs must be ["text"] or ["text", "image"]')


def test_missing_readers_are_named_with_the_extra_to_install(monkeypatch) -> None:
    found = assembly.importlib.util.find_spec
    monkeypatch.setattr(assembly.importlib.util, "find_spec", lambda name: None if name == "pypdf" else found(name))
    message = refused(CANNED)
    assert "needs pypdf: pip install 'chatkit-core[uploads]'" in message
    without_pdf = CANNED.replace("enabled = true", 'enabled = true\ntypes = ["png", "text"]')
    assert build_runtime(decode(tomllib.loads(without_pdf))).uploads is not None


class Plain(SessionStore):
    """A store with the required methods only: no attachments of its own."""

    def __init__(self, options) -> None:
        super().__init__(options)
        self.inner = MemoryStore(MemoryStore.Options())

    def __getattr__(self, name):
        return getattr(self.inner, name)


@pytest.fixture
def plain_store():
    class Plugin:
        @hookimpl
        def register_session_stores(self, register):
            register("plain", Plain)

    pm.register(Plugin(), name="plain-store")
    yield
    pm.unregister(name="plain-store")


def test_a_store_without_attachments_needs_a_folder(plain_store, tmp_path) -> None:
    config = CANNED + '[sessions]\nstore = "plain"\n'
    assert refused(config) == ("uploads: the plain session store keeps no attachments; set uploads.folder to a "
                               "folder to keep them in")
    folder = tmp_path / "files"
    with_folder = config.replace("enabled = true", f'enabled = true\nfolder = "{folder}"')
    runtime = build_runtime(decode(tomllib.loads(with_folder)))
    assert isinstance(runtime.uploads.store, FolderAttachments) and runtime.uploads.store.folder == folder


def test_uploads_are_off_unless_enabled() -> None:
    assert build_runtime(decode(tomllib.loads(CANNED.replace("enabled = true", "")))).uploads is None
