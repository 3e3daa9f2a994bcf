"""Every registration is checked when it is made; a bad one is refused where the config uses it,
with a message naming the plugin and what is wrong."""

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from chatkit_core import hookimpl
from chatkit_core.chat.providers import Chunk, Provider
from chatkit_core.chat.sessions import SessionStore
from chatkit_core.platform.assembly import build_runtime
from chatkit_core.platform.config import ConfigError
from chatkit_core.platform.plugins import pm, problems, registry
from tests.core.conftest import config_from

CANNED = '[providers.demo]\ntype = "canned"\ndelay = 0\n[rate_limit]\ntype = "none"\n'


class NoStream(Provider):
    pass


class Echo(Provider):
    async def stream(self, request):
        yield Chunk(text="echo")


class NotAStore:
    Options = SessionStore.Options


def plain_sanitizer(text: str) -> str:
    return text


class TagOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    value: str = "1"


def tag(config, options: TagOptions):
    def wrap(app):
        async def middleware(scope, receive, send):
            async def tagged(message):
                if message["type"] == "http.response.start":
                    message["headers"] = [*message.get("headers", []), (b"x-tag", options.value.encode())]
                await send(message)

            await app(scope, receive, tagged)

        return middleware

    return wrap


class Sloppy:
    """Everything a careless plugin author might register."""

    @hookimpl
    def register_providers(self, register):
        register("nostream", NoStream)
        register("notclass", print)
        register("echo", Echo)

    @hookimpl
    def register_sanitizers(self, register):
        register("plain", plain_sanitizer)

    @hookimpl
    def register_session_stores(self, register):
        register("fake", NotAStore)

    @hookimpl
    def register_middleware(self, register):
        register("three_args", lambda config, app, extra: None)
        register("wrong_product", lambda config: (lambda app, required_too: app))
        register("tag", tag)


@pytest.fixture
def sloppy() -> Iterator[None]:
    pm.register(Sloppy(), name="sloppy")
    yield
    pm.unregister(name="sloppy")


def refused(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        build_runtime(config_from(text))
    return str(caught.value)


OFF = '[sanitizers]\ndisabled = ["plain"]\n[middleware]\ndisabled = ["three_args", "wrong_product"]\n'


def test_provider_classes_are_checked(sloppy):
    assert set(registry("register_providers").invalid) == {"nostream", "notclass"}
    message = refused(OFF + '[providers.p]\ntype = "nostream"')
    assert message == ("providers.p.type: plugin 'sloppy' registers provider type 'nostream', "
                       "but NoStream does not implement stream(request)")
    message = refused(OFF + '[providers.p]\ntype = "notclass"')
    assert "is not a subclass of chatkit_core.chat.providers.Provider" in message and "'sloppy'" in message
    assert build_runtime(config_from(OFF + '[providers.p]\ntype = "echo"')).providers[0].name == "p"


def test_a_plain_function_sanitizer_is_refused_unless_disabled(sloppy):
    message = refused('[middleware]\ndisabled = ["three_args", "wrong_product"]\n' + CANNED)
    assert message.startswith("sanitizers: plugin 'sloppy' registers sanitizer 'plain', but plain_sanitizer has no "
                              "clean_input or clean_output(text) method")
    assert "sanitizers.disabled = ['plain']" in message


def test_store_classes_are_checked(sloppy):
    message = refused(OFF + CANNED + '[sessions]\nstore = "fake"')
    assert ("registers session store type 'fake', but NotAStore is not a subclass of "
            "chatkit_core.chat.sessions") in message


def test_middleware_factories_are_checked_by_name_and_plugin(sloppy):
    message = refused('[sanitizers]\ndisabled = ["plain"]\n[middleware]\ndisabled = ["wrong_product"]\n' + CANNED)
    assert "registers middleware 'three_args', but " in message
    assert "<lambda> must take (config) or (config, options), not (config, app, extra)" in message
    message = refused('[sanitizers]\ndisabled = ["plain"]\n[middleware]\ndisabled = ["three_args"]\n' + CANNED)
    assert message.startswith("middleware 'wrong_product' from plugin 'sloppy' failed to build: TypeError")


def test_problems_lists_every_bad_registration(sloppy):
    found = "\n".join(problems())
    for name in ("nostream", "notclass", "plain", "fake", "three_args"):
        assert f"'{name}'" in found


async def test_middleware_gets_its_own_table_as_options(sloppy, make_client):
    text = OFF + '[middleware.tag]\nvalue = "seven"\n' + CANNED
    async with make_client(text) as client:
        assert (await client.get("/health")).headers["x-tag"] == "seven"
    assert "middleware.tag: unknown key `colour`; allowed keys: value" in refused(
        OFF + "[middleware.tag]\ncolour = 1\n" + CANNED)
    assert "middleware.cors: middleware 'cors' (chatkit (built-in chatkit_core.http.middleware)) takes no options" \
        in refused(OFF + "[middleware.cors]\nmax_age = 1\n" + CANNED)
    assert "middleware.nope: no middleware 'nope' is registered" in refused(OFF + "[middleware.nope]\nx = 1\n" + CANNED)


def test_a_hook_that_raises_is_reported_and_the_rest_still_register():
    class Raising:
        @hookimpl
        def register_providers(self, register: Any) -> None:
            raise RuntimeError("boom")

    pm.register(Raising(), name="raising")
    try:
        assert "canned" in registry("register_providers").entries
        assert "plugin 'raising': its register_providers raised RuntimeError: boom" in problems()
    finally:
        pm.unregister(name="raising")


@pytest.mark.parametrize(("hook_name", "thing", "problem"), [
    ("register_rate_limiters", object, "object is not a subclass of chatkit_core.chat.ratelimit.RateLimiter"),
    ("register_retrievers", NoStream, "NoStream is not a subclass of chatkit_core.chat.knowledge.Retriever"),
    ("register_session_stores", NotAStore, "NotAStore is not a subclass of chatkit_core.chat.sessions.SessionStore"),
    ("register_sanitizers", Echo, "Echo is a class: register an instance"),
    ("register_middleware", "not callable", "str object is not a factory: register a callable taking the config"),
])
def test_each_kind_is_checked(hook_name, thing, problem):
    def hook(register):
        register("thing", thing)

    pm.register(types.SimpleNamespace(**{hook_name: hookimpl(hook)}), name="checked")
    try:
        assert registry(hook_name).invalid["thing"].endswith(problem)
    finally:
        pm.unregister(name="checked")
