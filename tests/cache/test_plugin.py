"""Answer cache types from plugins: checked when registered, refused by name when broken."""

from __future__ import annotations

import pytest

from chatkit_core import hookimpl
from chatkit_core.chat.answer_cache import AnswerCache
from chatkit_core.platform.assembly import build_runtime
from chatkit_core.platform.config import ConfigError
from chatkit_core.testing.app import config_from, registered

CANNED = '[chain]\norder = ["demo"]\n[providers.demo]\ntype = "canned"\n[rate_limit]\ntype = "none"\n'


class Forgetful(AnswerCache):
    async def set(self, key: str, value: bytes) -> None:
        pass


class Broken:
    @hookimpl
    def register_answer_caches(self, register):
        register("forgetful", Forgetful)
        register("notacache", dict)


def test_a_cache_type_missing_a_method_is_refused_where_it_is_used():
    with registered([Broken()]):
        with pytest.raises(ConfigError, match=r"cache.type: .*Forgetful does not implement get, clear"):
            build_runtime(config_from(CANNED + '[cache]\nenabled = true\ntype = "forgetful"\n'))
        with pytest.raises(ConfigError, match=r"cache.type: .*not a subclass of chatkit_core.chat.answer_cache"):
            build_runtime(config_from(CANNED + '[cache]\nenabled = true\ntype = "notacache"\n'))
        assert build_runtime(config_from(CANNED + '[cache]\ntype = "forgetful"\n')).cache is None  # off: never built


def test_the_built_in_memory_type_is_the_default():
    components = build_runtime(config_from(CANNED + "[cache]\nenabled = true\n"))
    assert components.cache is not None and components.cache.type_name == "memory"
    assert build_runtime(config_from(CANNED)).cache is None
