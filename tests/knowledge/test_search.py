"""Searching the index: the score scale, languages, misspellings, and a file swapped underneath."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from chatkit_knowledge.build import build
from chatkit_knowledge.options import SqliteOptions
from chatkit_knowledge.retriever import SqliteRetriever

PAGES = {
    "hours.html": "<title>Opening hours</title><main><h2 id='week'>Weekdays</h2><p>Monday to Friday 7:00 to 18:00.</p>"
                  "<h2 id='sunday'>Sunday</h2><p>Sunday 8:00 to 13:00.</p>"
                  "<h2 id='zh'>中文</h2><p>营业时间：周一至周五 7:00–18:00，周日 8:00–13:00。</p>"  # noqa: RUF001
                  "<h2 id='de'>Deutsch</h2><p>Sonntag 8 bis 13 Uhr, werktags elf Stunden.</p>"
                  "<h2 id='ar'>العربية</h2><p>نفتح يوم الأحد من الساعة 8:00 حتى 13:00.</p></main>",
    "menu.html": "<title>Menu</title><main><h2 id='pastries'>Pastries</h2><p>Croissant €1.60. Pain au chocolat "
                 "€1.90.</p><h2 id='cakes'>Cakes</h2><p>Crème brûlée tart €4.20, contains milk and eggs.</p></main>",
    "delivery.html": "<title>Delivery</title><main><p>We deliver cakes within 10 km for €5.</p></main>",
}


def options(tmp_path: Path, **keys) -> SqliteOptions:
    return msgspec.convert({"type": "sqlite", "sources": [str(tmp_path / "web")],
                            "path": str(tmp_path / "index.sqlite3"), **keys}, SqliteOptions)


def built(tmp_path: Path, pages: dict[str, str], **keys) -> SqliteOptions:
    """An index of ``pages`` (file name: text), built with ``keys`` set."""
    (tmp_path / "web").mkdir()
    for name, text in pages.items():
        (tmp_path / "web" / name).write_text(text)
    chosen = options(tmp_path, **keys)
    build(chosen)
    return chosen


@pytest.fixture
def site(tmp_path: Path) -> SqliteOptions:
    return built(tmp_path, PAGES)


async def search(chosen: SqliteOptions, query: str, limit: int = 3):
    retriever = SqliteRetriever(chosen)
    await retriever.start()
    return await retriever.search(query, limit)


async def test_scores_are_the_share_of_the_question_found(site):
    full = await search(site, "Are you open on Sunday?")
    assert full[0].url == "/hours.html#sunday" and full[0].score == 1.0
    half = await search(site, "Do you sell wedding cakes?")  # "wedding" is nowhere on the site
    assert 0 < half[0].score < site.min_score
    assert all(p.score < site.min_score for p in await search(site, "What are your job openings?"))
    assert await search(site, "what is it?") == []  # only stopwords: nothing to look for


async def test_accents_case_and_misspellings_do_not_matter(site):
    assert (await search(site, "CREME BRULEE"))[0].url == "/menu.html#cakes"
    assert (await search(site, "croisant price"))[0].url == "/menu.html#pastries"
    assert (await search(site, "open on sundya"))[0].url == "/hours.html#sunday"
    assert (await search(site, "a crossiant"))[0].url == "/menu.html#pastries"  # long words: two edits
    assert await search(site, "student") == []  # short words: one edit, and "stunden" is two away
    assert (await search(site, "shokolad"))[0].url == "/menu.html#pastries"  # written as it sounds
    assert (await search(site, "kroysant"))[0].url == "/menu.html#pastries"


async def test_chinese_and_arabic_questions_find_their_passages(site):
    chinese = await search(site, "周日营业时间是几点？")  # noqa: RUF001
    assert chinese[0].url == "/hours.html#zh" and chinese[0].score >= site.min_score
    arabic = await search(site, "هل تفتحون يوم الأحد؟")
    assert arabic[0].url == "/hours.html#ar" and arabic[0].score >= site.min_score


async def test_a_rebuilt_index_is_picked_up_by_a_running_retriever(site, tmp_path):
    retriever = SqliteRetriever(site)
    await retriever.start()
    assert (await retriever.search("croissant", 1))[0].text.startswith("Croissant €1.60")
    before = retriever.version()
    (tmp_path / "web" / "menu.html").write_text(PAGES["menu.html"].replace("€1.60", "€1.70"))
    build(site)
    assert (await retriever.search("croissant", 1))[0].text.startswith("Croissant €1.70")
    assert retriever.version() != before
    assert (await retriever.health()).status == "up"


async def test_a_missing_or_corrupt_index_fails_the_search_and_health(tmp_path):
    chosen = options(tmp_path)
    retriever = SqliteRetriever(chosen)
    await retriever.start()  # a missing index is not an error at start-up
    health = await retriever.health()
    assert health.status == "down" and "run `chatkit index`" in health.detail
    with pytest.raises(Exception, match="no index at"):
        await retriever.search("hours", 3)
    Path(chosen.path).write_bytes(b"this is not a database" * 100)
    with pytest.raises(Exception, match="cannot be read"):
        await retriever.search("hours", 3)


async def test_a_section_named_by_the_question_comes_before_one_mentioning_its_words(tmp_path):
    chosen = built(tmp_path, {
        "cloud.html": "<title>Hosting</title><main><h2 id='run'>Cloud Run</h2><p>Unlike AWS Lambda, Cloud Run runs "
                      "a container: deploy the image with one command and it answers on its own address.</p></main>",
        "lambda.html": "<title>Hosting</title><main><h2 id='lambda'>AWS Lambda</h2><p>Wrap the app in the adapter, "
                       "then deploy the function with one command; it answers through an API gateway.</p></main>"})
    found = await search(chosen, "How do I deploy on AWS Lambda?")
    assert [p.url for p in found] == ["/lambda.html#lambda", "/cloud.html#run"]


async def test_one_page_does_not_fill_every_place(tmp_path):
    (tmp_path / "web").mkdir()
    sections = "".join(f"<h2 id='s{n}'>Croissants {n}</h2><p>Our croissants, batch {n}, are baked with butter "
                       f"at dawn.</p>" for n in range(6))
    (tmp_path / "web" / "croissants.html").write_text(f"<title>Croissants</title><main>{sections}</main>")
    (tmp_path / "web" / "menu.html").write_text(
        "<title>Menu</title><main><p>Croissants are baked every morning, €1.60 each.</p></main>")
    chosen = options(tmp_path)
    build(chosen)
    pages = [p.url.split("#")[0] for p in await search(chosen, "When are croissants baked?", limit=2)]
    assert pages == ["/croissants.html", "/menu.html"]
    pages = [p.url.split("#")[0] for p in await search(chosen, "When are croissants baked?", limit=5)]
    assert sorted(pages) == ["/croissants.html"] * 4 + ["/menu.html"]  # no other page: the first fills the rest


async def test_a_question_naming_what_the_site_never_mentions_finds_nothing(tmp_path):
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "deploy.html").write_text(
        "<title>Deploying</title><main><h2 id='image'>Deploy an image</h2><p>Deploy the app as a container image "
        "with one command; our hero example connects to PostgreSQL.</p></main>")
    chosen = options(tmp_path)
    build(chosen)
    assert [p.url for p in await search(chosen, "How do I deploy my app to Heroku?")] == []  # "hero" is not it
    assert [p.url for p in await search(chosen, "Can I deploy the image with an ORM?")] == []
    for found_anyway in ("How do I deploy my app with Postgres?",  # the start of a name the site uses
                         "How do I Deploy my App as an Image?",  # names the site uses
                         "HOW DO I DEPLOY TO HEROKU",  # capitals throughout say nothing
                         "Wie deploye ich die App als Image?",  # German capitalises every noun
                         "Can I deploy the image at 6 PM?",  # short capitals are often common words
                         "Is it OK to deploy the image twice?",
                         "heroku deploy image"):  # written in lower case, it is a word like any other
        assert (await search(chosen, found_anyway))[0].url == "/deploy.html#image", found_anyway


def test_names_are_capitalised_inside_a_sentence_or_acronyms():
    from chatkit_knowledge.text import names

    assert names("Which Java ORM works best with SQLite?") == {"java", "orm", "sqlite"}
    assert names('How do I deploy to "Heroku"? Deploy works on Vercel too') == {"heroku", "vercel"}
    assert names("Heroku deploys fail. Deno works?") == set()  # each starts a sentence
    assert names("Are you open until 6 PM, is it OK?") == set()  # short or real words in capitals
    assert names("What Is The Best Way To Cache?") == names("HOW DO I RESET MY PASSWORD") == set()
    assert names("Wie importiere ich eine CSV-Datei?") == set()  # German capitalises its nouns
    assert names("¿Puedo usar Heroku?") == names("Comment configurer Heroku ?") == set()
    # one capitalised word that is also French ("starlette": a starlet) is a name, not a French question
    assert names("Can I write Starlette apps in Rust?") == {"starlette", "rust"}
    assert names("deploy Heroku " * 20_000) == {"heroku"}  # long input: one pass


async def test_huge_words_and_names_in_a_question_are_searched_without_error(site):
    for question in ("are you open on " + "Sunday" * 8000 + "?", "croissant " + "abcdefghij" * 4000):
        assert isinstance(await search(site, question), list)
    assert [p.url for p in await search(site, "Are cakes delivered to " + "Hero" * 10_000 + "?")] == []


async def test_a_number_written_onto_letters_is_found_by_the_number(tmp_path):
    (tmp_path / "web").mkdir()
    for version in (4, 5):
        (tmp_path / "web" / f"Migration-Guide-V{version}.md").write_text(
            f"# Migration guide V{version}\n\nWhat changed in V{version}: the plugin API and the logger options.\n")
    chosen = options(tmp_path, embedder={"type": "none"})  # words alone
    build(chosen)
    found = await search(chosen, "migration guide to version 5", limit=2)
    assert found[0].url == "/Migration-Guide-V5" and all(p.score < found[0].score for p in found[1:])
    assert (await search(chosen, "What changed in v4?"))[0].url == "/Migration-Guide-V4"


async def test_two_words_the_site_writes_as_one_find_it(tmp_path):
    chosen = built(tmp_path, {
        "server.md": "# Server options\n\n## pluginTimeout\n\nDefault: 10000. The most milliseconds a plugin may "
                     "take to load.\n\n## Accounts\n\nThe login page is at /account. Sessions last a week.\n",
        "guide.md": "# Getting started\n\nLoad the plugin out of the box; it needs no time.\n"},
        embedder={"type": "none"})  # words alone
    found = await search(chosen, "How long can a plugin take to load before it times out?", limit=2)
    assert found[0].url == "/server#plugintimeout"
    assert (await search(chosen, "where do I log in", limit=1))[0].url == "/server#accounts"


async def test_a_misspelling_that_is_a_word_of_another_language_is_corrected_in_an_english_question(tmp_path):
    chosen = built(tmp_path, {
        "logging.md": "# Logging\n\n## Options\n\nSet logger to false to turn the logger off.\n",
        "server.md": "# Server\n\n## Turn on HTTP2\n\nTurn it on with the http2 option.\n"},
        embedder={"type": "none"})  # words alone
    found = await search(chosen, "how do I turn off the loger?", limit=1)  # "loger" is French for "lodge"
    assert found[0].url == "/logging#options"
    assert await search(chosen, "¿Cómo activo el loger?") == []  # asked in Spanish: a Spanish word, not a typo


async def test_a_long_word_two_letters_too_many_or_one_more_and_one_changed_is_corrected(tmp_path):
    chosen = built(tmp_path, {
        "security.md": "# Security\n\n## Authentication\n\nSign requests with a bearer token.\n",
        "server.md": "# Server\n\n## Listening\n\nThe server listens on port 3000.\n"},
        embedder={"type": "none"})  # words alone
    for question in ("how does authentification work?", "autthenticasion"):
        assert (await search(chosen, question, limit=1))[0].url == "/security#authentication"


async def test_a_changelog_ranks_after_the_page_that_explains_what_it_names(tmp_path):
    chosen = built(tmp_path, {
        "middleware.md": "# Middleware\n\n## CORS\n\nCORSMiddleware adds the headers that let browsers call your "
                         "API from the origins you list in allow_origins, with credentials and methods.\n",
        "release-notes.md": "# Release notes\n\n## 2.1.0\n\nCORS: allow_origins accepts other origins, with "
                            "credentials and methods, for browsers calling your API.\n\n"
                            "## 2.0.0\n\nDropped support for Python 3.8.\n",
        "guide.md": "# Guide\n\nOther pages: routing, templates and the other options.\n"},
        embedder={"type": "none"})  # words alone
    found = await search(chosen, "How do browsers call my API from other origins with CORS credentials?", limit=2)
    assert [p.url for p in found] == ["/middleware#cors", "/release-notes#210"]
    assert found[1].score > found[0].score  # it holds more of the words: the ranking, not the score, moved
    assert (await search(chosen, "Which Python version was dropped?", limit=1))[0].url == "/release-notes#200"


TOPICS = {
    "install": "Install the package with pip. It needs Python 3.11 or newer and no compiler.",
    "proxy": "Send requests through a proxy by setting the proxy option to its URL.",
    "timeouts": "Requests time out after five seconds. Raise the timeout for slow servers.",
    "cookies": "Cookies set by the server are kept in the client's cookie jar between requests.",
    "uploads": "Upload a file by passing it in the files mapping; large files are streamed.",
    "streaming": "Stream a response to read its body in chunks instead of loading it into memory.",
    "auth": "Basic and digest authentication are built in; pass a username and a password.",
    "retries": "Failed connections are retried three times with a growing pause between tries.",
    "logging": "Turn on debug logging to see each request and response in the console.",
    "testing": "Mount your application on a transport to test it without a network.",
}


async def test_a_large_index_scans_leading_dimensions_first_and_finds_what_a_full_scan_finds(tmp_path, monkeypatch):
    from chatkit_knowledge import index

    pages = {f"{name}-{n}.md": f"# {name.title()} {n}\n\n{text} See part {n} for the details of {name}.\n"
             for n in range(8) for name, text in TOPICS.items()}
    chosen = built(tmp_path, pages)
    asked = ["How do I set a proxy?", "my upload is too big", "can it retry when the connection drops?",
             "show me what is sent", "how long before a request gives up", "where are cookies stored"]
    full = [await search(chosen, question) for question in asked]
    monkeypatch.setattr(index, "_SCAN_ALL", 20)  # 80 passages: a "large" index here
    monkeypatch.setattr(index, "_SHORTLIST", 30)
    retriever = SqliteRetriever(chosen)
    await retriever.start()
    assert retriever._current().leading is not None
    assert [await retriever.search(question, 3) for question in asked] == full


async def test_the_page_a_question_names_ranks_before_a_section_elsewhere_that_names_it(tmp_path):
    chosen = built(tmp_path, {
        "HTTP2.md": "# Fastify\n\n## HTTP2\n\n### Plain or insecure\n\nFastify supports HTTP2 over plain text; "
                    "enable it with the http2 option.\n",
        "TypeScript.md": "# Fastify\n\n## Example: HTTP2 server\n\nEnable HTTP2 in a typed server with the http2 "
                         "option and the right generic types.\n"},
        embedder={"type": "none"})  # words alone
    found = await search(chosen, "How do I enable HTTP2?", limit=2)
    assert [p.url for p in found] == ["/HTTP2#plain-or-insecure", "/TypeScript#example-http2-server"]
