"""What the cache keeps and for how long: TTL, the size bound, the knowledge index version."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec
from chatkit_knowledge.build import build
from chatkit_knowledge.options import SqliteOptions

from chatkit_core.builtins.answer_cache import MemoryCache
from chatkit_core.chat.answer_cache import CacheOptions, normalise
from chatkit_core.http.testing import app_client
from tests.cache.conftest import cache_config
from tests.cache.test_answers import chat
from tests.fakes.server import Script


def test_normalise():
    assert normalise("  What\u00a0ARE  your\thours ?!. ") == "what are your hours"
    assert normalise("\uff28\uff49\uff01") == "hi"  # full-width letters and "!"
    assert normalise("Straße?") == normalise("STRASSE") == "strasse"
    assert normalise("¿Qué?") == "¿qué"
    assert normalise("?!") == ""


async def test_memory_entries_expire_after_the_ttl():
    cache = MemoryCache(CacheOptions(enabled=True, ttl=0.2))
    await cache.set("a", b"1")
    assert await cache.get("a") == b"1"
    await asyncio.sleep(0.25)
    assert await cache.get("a") is None and not cache.entries


async def test_memory_keeps_the_most_recently_used_entries():
    cache = MemoryCache(CacheOptions(enabled=True, max_entries=2))
    await cache.set("a", b"1")
    await cache.set("b", b"2")
    assert await cache.get("a") == b"1"  # now b is the least recently used
    await cache.set("c", b"3")
    assert [await cache.get(key) for key in "abc"] == [b"1", None, b"3"]
    await cache.clear()
    assert await cache.get("a") is None


async def test_a_cached_answer_expires_after_the_ttl(fake_ollama):
    fake_ollama.script(Script(text="One."), Script(text="Two."))
    async with app_client(cache_config(fake_ollama.url, "enabled = true\nttl = 0.3")) as client:
        assert (await chat(client))["content"] == "One."
        assert (await chat(client))["cached"] is True
        await asyncio.sleep(0.35)
        later = await chat(client)
    assert later == {**later, "content": "Two.", "cached": False}
    assert len(fake_ollama.chat_requests()) == 2


def write_site(web: Path, hours: str) -> None:
    web.mkdir(exist_ok=True)
    (web / "hours.html").write_text(f"<title>Opening hours</title><main><p>Our opening hours are {hours}.</p></main>")


async def test_re_indexing_the_site_makes_old_answers_miss(fake_ollama, tmp_path):
    web, index = tmp_path / "web", tmp_path / "index.sqlite3"
    knowledge = {"type": "sqlite", "sources": [str(web)], "path": str(index)}
    write_site(web, "nine to five")
    build(msgspec.convert(knowledge, SqliteOptions))
    fake_ollama.script(Script(text="Nine to five [1]."), Script(text="Ten to four [1]."), Script(text="Hi."))
    extra = f'[knowledge]\ntype = "sqlite"\nsources = ["{web}"]\npath = "{index}"\n'
    async with app_client(cache_config(fake_ollama.url, extra=extra)) as client:
        first = await chat(client)
        again = await chat(client)
        write_site(web, "ten to four")
        build(msgspec.convert(knowledge, SqliteOptions))
        after = await chat(client)
        cached = client.app.state.runtime.cache.cache.entries
        ungrounded = await chat(client, "Tell me a joke")  # no passage found: not cached
        assert (await chat(client, "Tell me a joke"))["cached"] is False
    assert again["cached"] is True and again["sources"] == first["sources"] == [{"title": "Opening hours",
                                                                                 "url": "/hours.html"}]
    assert after["cached"] is False and after["content"] == "Ten to four [1]."
    assert len(cached) == 1  # the answer for the old index was cleared
    assert ungrounded["sources"] == []
    assert len(fake_ollama.chat_requests()) == 4


async def test_a_broken_retriever_means_no_caching(fake_ollama, tmp_path):
    extra = f'[knowledge]\ntype = "sqlite"\nsources = ["{tmp_path}"]\npath = "{tmp_path / "missing.sqlite3"}"\n'
    async with app_client(cache_config(fake_ollama.url, extra=extra)) as client:
        answers = [await chat(client), await chat(client)]
    assert not any(answer["cached"] for answer in answers)
    assert len(fake_ollama.chat_requests()) == 2

