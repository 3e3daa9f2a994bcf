"""``[chain] concurrency_store``: how a store type is chosen, checked and given to the chain, with
throwaway store types registered for the test (no Redis)."""

from __future__ import annotations

import asyncio
import types
from collections.abc import Iterator

import pytest

from chatkit_core import hookimpl
from chatkit_core.chat.shared_slots import SlotStore
from chatkit_core.chat.slots import Gate, Slots
from chatkit_core.platform.assembly import build_runtime
from chatkit_core.platform.config import ConfigError
from chatkit_core.platform.plugins import PluginError, pm, registry
from tests.core.conftest import config_from
from tests.models.conftest import ask_many, make_client

__all__ = ["make_client"]


class InProcess(SlotStore):
    """Shared slots for runtimes built in one process: the same Slots for the same provider name."""

    shared: dict[str, Slots] = {}
    built: list[InProcess] = []

    def __init__(self, url: str, lease: float) -> None:
        super().__init__(url, lease)
        self.started = self.closed = False
        InProcess.built.append(self)

    def gate(self, provider: str, limit: int, max_queue: int) -> Gate:
        return InProcess.shared.setdefault(provider, Slots(limit, max_queue))

    async def start(self) -> None:
        self.started = True

    async def close(self) -> None:
        self.closed = True


class NoGate(SlotStore):
    pass


class Stores:
    @hookimpl
    def register_concurrency_stores(self, register):
        register("inproc", InProcess)
        register("nogate", NoGate)
        register("notastore", dict)


@pytest.fixture
def stores() -> Iterator[None]:
    InProcess.shared.clear()
    InProcess.built.clear()
    pm.register(Stores(), name="test-stores")
    yield
    pm.unregister(name="test-stores")


def toml(store: str = "inproc://shared", lease: str = "", delay: float = 0.1) -> str:
    return f"""
[chain]
order = ["limited", "open"]
concurrency_store = "{store}"
{lease}
[providers.limited]
type = "canned"
delay = {delay}
max_concurrency = 1
[providers.open]
type = "canned"
[rate_limit]
type = "none"
"""


def refused(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        build_runtime(config_from(text))
    return str(caught.value)


def test_providers_with_a_limit_take_their_slots_from_the_store(stores) -> None:
    runtime = build_runtime(config_from(toml(lease="concurrency_lease = 3")))
    store = runtime.chain.slot_store
    assert isinstance(store, InProcess) and (store.url, store.lease) == ("inproc://shared", 3.0)
    assert runtime.chain.slots["limited"] is InProcess.shared["limited"]
    assert "open" not in InProcess.shared  # no limit, nothing to share
    asyncio.run(runtime.start())
    asyncio.run(runtime.close())
    assert store.started and store.closed


async def test_two_runtimes_on_one_store_share_the_limit(stores, make_client) -> None:
    text = toml(delay=0.05)
    async with make_client(text) as first, make_client(text) as second:
        chats = await asyncio.gather(ask_many(first, 3), ask_many(second, 3))
    every = [events for instance in chats for events in instance]
    assert all(events[-1][0] == "done" for events in every)
    positions = [data["position"] for events in every for name, data in events if name == "queued"]
    assert max(positions) >= 4  # six visitors, one slot, one line across both


def test_an_unknown_scheme_names_the_key_and_what_is_installed(stores) -> None:
    message = refused(toml("memcached://10.0.0.1:11211"))
    assert message.startswith("chain.concurrency_store: unknown concurrency store type 'memcached'; "
                              "installed concurrency store types: ")
    assert "inproc" in message and "10.0.0.1" not in message


def test_a_value_that_is_no_url_is_refused(stores) -> None:
    for value in ("127.0.0.1:6379", "redis"):
        assert refused(toml(value)).startswith('chain.concurrency_store: not a URL; use e.g. "redis://')


def test_the_lease_is_at_least_a_second(stores) -> None:
    assert "concurrency_lease must be at least 1" in refused(toml(lease="concurrency_lease = 0.5"))


def test_store_classes_are_checked(stores) -> None:
    found = registry("register_concurrency_stores")
    assert found.invalid["nogate"].endswith("NoGate does not implement gate(provider, limit, max_queue)")
    assert found.invalid["notastore"].endswith("dict is not a subclass of chatkit_core.chat.shared_slots.SlotStore")
    assert "NoGate does not implement gate" in refused(toml("nogate://x"))


def test_without_a_store_each_runtime_counts_its_own(stores) -> None:
    runtime = build_runtime(config_from(toml(store="")))
    assert runtime.chain.slot_store is None and isinstance(runtime.chain.slots["limited"], Slots)
    assert InProcess.built == []


def test_a_clash_between_two_plugins_is_refused(stores) -> None:
    pm.register(types.SimpleNamespace(register_concurrency_stores=hookimpl(lambda register: register(
        "inproc", InProcess))), name="test-stores-again")
    try:
        with pytest.raises(PluginError, match="concurrency store type 'inproc' is registered by both"):
            build_runtime(config_from(toml()))
    finally:
        pm.unregister(name="test-stores-again")
