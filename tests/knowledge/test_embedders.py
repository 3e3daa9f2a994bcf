"""Embedders: the built-in static one, Ollama's /api/embed and OpenAI's /v1/embeddings (against
the fake servers, which embed by hashed words), the register_embedders hook, and an index that
re-embeds when its embedder changes."""

from __future__ import annotations

import types
from pathlib import Path

import msgspec
import numpy as np
import pytest
from chatkit_knowledge.build import build
from chatkit_knowledge.embedders import StaticEmbedder, StaticOptions
from chatkit_knowledge.index import IndexReader
from chatkit_knowledge.options import SqliteOptions
from chatkit_knowledge.retriever import SqliteRetriever
from chatkit_ollama.embedder import OllamaEmbedder, OllamaEmbedderOptions
from chatkit_openai.embedder import OpenAIEmbedder, OpenAIEmbedderOptions

from chatkit_core import hookimpl
from chatkit_core.chat.embeddings import Embedder, EmbedderError, EmbedderOptions
from chatkit_core.cli import main
from chatkit_core.platform.assembly import build_embedder
from chatkit_core.platform.config import ConfigError
from chatkit_core.platform.plugins import pm, registry
from tests.fakes.ollama import FakeOllama
from tests.fakes.openai import FakeOpenAI
from tests.fakes.server import Script, closed_port_url
from tests.fakes.vectors import embed

PAGES = {
    "hours.html": "<title>Hours</title><main><h2>Sunday</h2><p>On Sunday we open from eight until one.</p></main>",
    "invoices.html": "<title>Invoices</title><main><p>Invoices are due within thirty days of delivery.</p></main>",
    "cakes.html": "<title>Cakes</title><main><p>Birthday cakes need two days notice.</p></main>",
}


@pytest.fixture
def site(tmp_path: Path) -> Path:
    web = tmp_path / "web"
    web.mkdir()
    for name, html in PAGES.items():
        (web / name).write_text(html)
    return web


def options(site: Path, tmp_path: Path, embedder: dict) -> SqliteOptions:
    return msgspec.convert({"type": "sqlite", "sources": [str(site)], "path": str(tmp_path / "k.sqlite3"),
                            "embedder": embedder}, SqliteOptions)


def embedded(fake: FakeOllama | FakeOpenAI, path: str) -> list[str]:
    return [text for r in fake.requests if r.path == path for text in r.json["input"]]


def test_the_static_embedder_needs_no_download_and_puts_paraphrases_near(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    embedder = StaticEmbedder(StaticOptions(type="static"))
    vectors = np.asarray(embedder.embed(["are you open on sunday", "On Sunday we open from 8:00 to 13:00.",
                                         "Invoices are due within 30 days."]))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    assert vectors.shape == (3, 256) and embedder.identity() == "static:wordllama-l2_supercat-256"
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
    assert np.asarray(StaticEmbedder(StaticOptions(type="static", dimensions=64)).embed([""])).shape == (1, 64)
    # another script: no meaning known (a zero vector), so words alone decide
    assert not np.asarray(embedder.embed(["هل لديكم بطاقات هدايا؟", "你们有礼品卡吗"])).any()
    with pytest.raises(msgspec.ValidationError, match="dimensions must be 64, 128 or 256"):
        msgspec.convert({"type": "static", "dimensions": 100}, StaticOptions)


@pytest.mark.parametrize("batch", [1, 8])  # one text: the table keeps its most met half; eight: it starts again
def test_static_vectors_are_the_mean_of_the_words_token_vectors_however_full_the_word_table(monkeypatch, batch):
    from chatkit_knowledge import embedders
    from threadpoolctl import threadpool_info

    monkeypatch.setattr(embedders, "_CACHED_WORDS", 50)  # full many times below
    monkeypatch.setattr(embedders, "_TEXTS_AT_ONCE", 3)
    monkeypatch.setattr(embedders, "_NEW_AT_ONCE", 7)
    embedder = StaticEmbedder(StaticOptions(type="static"))
    matrix, tokenizer = embedder._loaded()
    rng = np.random.default_rng(7)
    vocabulary = ["bake", "bread,", "sourdough", "rye.", "Sunday", "the", "invoices", "(due)", "x", "naïve", "42"]
    vocabulary += [f"word{n}" for n in range(60)]
    texts = [" ".join(rng.choice(vocabulary, size=rng.integers(0, 30))) for _ in range(40)] + ["", "   "]
    kept = embedder._words._keep
    halves = []
    monkeypatch.setattr(embedder._words, "_keep", lambda count, needed: (halves.append(count), kept(count, needed)))
    for start in range(0, len(texts), batch):
        part = texts[start : start + batch]
        got = np.asarray(embedder.embed(part))
        for text, vector in zip(part, got, strict=True):
            ids = [i for word in text.split() for i in tokenizer.encode(word, add_special_tokens=False).ids]
            expected = matrix[ids].astype(np.float64).mean(axis=0) if ids else np.zeros(matrix.shape[1])
            assert np.allclose(vector, expected, atol=1e-3), text
    assert (25 in halves) == (batch == 1) and (0 in halves) == (batch == 8)
    assert all(pool["num_threads"] == 1 for pool in threadpool_info() if pool["user_api"] == "blas")


def test_an_ollama_embedder_builds_the_vectors_and_a_new_embedder_re_embeds(site, tmp_path):
    with FakeOllama(models=["nomic-embed-text"]) as ollama:
        table = {"type": "ollama", "base_url": ollama.url, "model": "nomic-embed-text"}
        build(options(site, tmp_path, {"type": "static"}))
        assert IndexReader(tmp_path / "k.sqlite3").embedder == "static:wordllama-l2_supercat-256"
        report = build(options(site, tmp_path, table))
        assert len(report.added) == 3  # another embedder: the index starts afresh
        assert len(embedded(ollama, "/api/embed")) == 3
        assert all(r.json["model"] == "nomic-embed-text" for r in ollama.requests if r.path == "/api/embed")
        reader = IndexReader(tmp_path / "k.sqlite3")
        assert reader.embedder == "ollama:nomic-embed-text" and reader.vectors is not None
        # by meaning alone (no word of the question is on the site), the nearest vector wins
        found = reader.search("zzyzx", 2, 0.0, np.asarray(embed("Birthday cakes notice")))
        assert found[0].url == "/cakes.html"
        assert build(options(site, tmp_path, table)).unchanged == 3
        assert len(embedded(ollama, "/api/embed")) == 3  # unchanged pages are not embedded again


async def test_the_retriever_embeds_the_question_and_goes_on_with_words_when_the_server_fails(site, tmp_path):
    with FakeOllama(models=["nomic-embed-text"]) as ollama:
        settings = options(site, tmp_path, {"type": "ollama", "base_url": ollama.url, "model": "nomic-embed-text"})
        build(settings)
        retriever = SqliteRetriever(settings)
        await retriever.start()
        found = await retriever.search("When do you open on Sunday?", 2)
        assert found[0].url == "/hours.html" and embedded(ollama, "/api/embed")[-1] == "When do you open on Sunday?"
        ollama.script(Script(status=500), path="/api/embed")
        assert (await retriever.search("When do you open on Sunday?", 2))[0].url == "/hours.html"
        assert "passages" in (await retriever.health()).detail
        await retriever.close()


def test_ollama_errors_say_what_to_do(site, tmp_path, capsys):
    with FakeOllama(models=["llama3.2"]) as ollama:
        embedder = OllamaEmbedder(OllamaEmbedderOptions(type="ollama", base_url=ollama.url))
        with pytest.raises(EmbedderError, match=r"has no model 'nomic-embed-text': run `ollama pull nomic-embed-text`"):
            embedder.embed(["hello"])
        config = tmp_path / "chatkit.toml"
        config.write_text(f'[knowledge]\ntype = "sqlite"\nsources = ["{site}"]\npath = "{tmp_path / "k.sqlite3"}"\n'
                          f'[knowledge.embedder]\ntype = "ollama"\nbase_url = "{ollama.url}"\n')
        assert main(["index", "--config", str(config)]) == 1
        assert "error: the passages could not be embedded: Ollama at" in capsys.readouterr().err
    down = OllamaEmbedder(OllamaEmbedderOptions(type="ollama", base_url=closed_port_url()))
    with pytest.raises(EmbedderError, match="cannot reach Ollama at"):
        down.embed(["hello"])


def test_the_openai_embedder_reads_the_sdks_base64_vectors(site, tmp_path):
    with FakeOpenAI(api_key="sk-test", models=["text-embedding-3-small"]) as fake:
        table = {"type": "openai", "base_url": f"{fake.url}/v1", "model": "text-embedding-3-small",
                 "api_key": "sk-test", "dimensions": 32}
        embedder = build_embedder(table)
        assert isinstance(embedder, OpenAIEmbedder)
        vectors = embedder.embed(["Birthday cakes", "Invoices due"])
        assert np.allclose(vectors[0], embed("Birthday cakes", 32), atol=1e-6) and len(vectors[1]) == 32
        request = next(r for r in fake.requests if r.path == "/v1/embeddings")
        assert request.json["encoding_format"] == "base64" and request.json["dimensions"] == 32
        build(options(site, tmp_path, table))
        assert IndexReader(tmp_path / "k.sqlite3").embedder == "openai:127.0.0.1:text-embedding-3-small:32"
        wrong = OpenAIEmbedder(OpenAIEmbedderOptions(type="openai", base_url=f"{fake.url}/v1", api_key="sk-wrong"))
        with pytest.raises(EmbedderError, match="refused the API key") as refused:
            wrong.embed(["x"])
        assert "sk-wrong" not in str(refused.value) and "sk-wrong" not in repr(wrong.options)


class Letters(Embedder):
    """A throwaway embedder: how often each of a few letters occurs."""

    def identity(self) -> str:
        return "letters:v1"

    def embed(self, texts):
        return [[text.lower().count(letter) + 0.01 for letter in "aeiost"] for text in texts]


class NoEmbed(Embedder):
    def identity(self) -> str:
        return "nothing"


def test_a_plugin_registers_an_embedder_the_index_then_uses(site, tmp_path):
    class Plugin:
        @hookimpl
        def register_embedders(self, register):
            register("letters", Letters)
            register("noembed", NoEmbed)
            register("notclass", print)

    pm.register(Plugin(), name="letters-plugin")
    try:
        found = registry("register_embedders")
        assert found.invalid["noembed"].endswith("NoEmbed does not implement embed")
        assert found.invalid["notclass"].endswith("is not a subclass of chatkit_core.chat.embeddings.Embedder")
        build(options(site, tmp_path, {"type": "letters"}))
        assert IndexReader(tmp_path / "k.sqlite3").embedder == "letters:v1"
        with pytest.raises(ConfigError, match=r"knowledge.embedder.type is 'noembed'; embedder types: .*letters"):
            build_embedder({"type": "noembed"})
        with pytest.raises(ConfigError, match=r"knowledge\.embedder: unknown key `colour`; allowed keys: type, batch"):
            build_embedder({"type": "letters", "colour": "red"})
    finally:
        pm.unregister(name="letters-plugin")


def test_words_only_when_the_embedder_is_none(site, tmp_path):
    build(options(site, tmp_path, {"type": "none"}))
    reader = IndexReader(tmp_path / "k.sqlite3")
    assert reader.embedder == "" and reader.vectors is None
    assert reader.search("Sunday opening", 1)[0].url == "/hours.html"
    with pytest.raises(msgspec.ValidationError, match="embedder needs a type"):
        msgspec.convert({"type": "sqlite", "embedder": {"model": "x"}}, SqliteOptions)


def test_embedder_options_are_checked():
    assert types.SimpleNamespace(batch_size=EmbedderOptions(type="x").batch_size).batch_size == 256
    with pytest.raises(msgspec.ValidationError, match="base_url must be an http"):
        msgspec.convert({"type": "ollama", "base_url": "ftp://x"}, OllamaEmbedderOptions)
