"""Indexing local folders and files: URLs, formats, bad files, symlink loops, re-indexing."""

from __future__ import annotations

import os
from pathlib import Path

from tests.knowledge.conftest import failures

HOURS = """<!doctype html><html><head><title>Opening hours</title></head><body>
<header><nav><a href="/menu.html">Menu</a> Navigation words zebra</nav></header>
<main><h1 id="top">Opening hours</h1><p>We bake every day.</p>
<section id="sunday"><h2>Sunday</h2><p>On Sunday we are <strong>open</strong>
  from 8:00 to 13:00.</p></section>
<h2 id="holidays">Public holidays</h2><p>Closed on Christmas Day and New Year's Day.</p></main>
<footer>Footer words giraffe</footer><script>var secretScript = 1;</script></body></html>"""


def write_site(root: Path) -> None:
    (root / "cakes").mkdir(parents=True)
    (root / "hours.html").write_text(HOURS)
    (root / "index.html").write_text("<title>Home</title><main><p>Welcome to the bakery.</p></main>")
    (root / "cakes" / "index.html").write_text("<title>Cakes</title><main><h1>Cakes</h1>"
                                               "<p>Birthday cakes need 48 hours notice.</p></main>")
    (root / "notes.md").write_text("# Allergens\n\nAll bread *contains* gluten.\n\n## Nuts\n\nNo peanuts.\n")
    (root / "story.txt").write_text("Founded in 1990.\n\nWe mill our own rye flour.")
    (root / "styles.css").write_text("body { color: red }")


def test_a_folder_becomes_pages_with_urls_titles_and_anchors(tmp_path, make_index):
    write_site(tmp_path / "web")
    report, reader = make_index([str(tmp_path / "web")], site_url="https://bakery.example/")
    assert sorted(report.added) == [
        "https://bakery.example/", "https://bakery.example/cakes/", "https://bakery.example/hours.html",
        "https://bakery.example/notes", "https://bakery.example/story.txt"]  # Markdown is published without .md
    assert report.failed == []
    sunday = reader.search("When are you open on Sunday?", 3)[0]
    assert sunday.url == "https://bakery.example/hours.html#sunday"
    assert sunday.title == "Opening hours \u203a Sunday"
    assert sunday.text == "On Sunday we are open from 8:00 to 13:00."
    assert reader.search("christmas", 1)[0].url.endswith("hours.html#holidays")
    assert reader.search("peanuts", 1)[0].title == "Allergens \u203a Nuts"
    assert reader.search("rye flour", 1)[0].url.endswith("/story.txt")
    for chrome in ("zebra", "giraffe", "secretScript"):  # nav, footer and scripts are not content
        assert reader.search(chrome, 3) == []


def test_without_site_url_links_are_root_relative(tmp_path, make_index):
    write_site(tmp_path / "web")
    report, reader = make_index([str(tmp_path / "web")], exclude=["*.md", "*.txt"])
    assert sorted(report.added) == ["/", "/cakes/", "/hours.html"]
    assert reader.search("birthday cake notice", 1)[0].url == "/cakes/"


def test_bad_files_are_reported_and_the_rest_indexed(tmp_path, make_index):
    web = tmp_path / "web"
    web.mkdir()
    (web / "good.html").write_text("<title>Good</title><main><p>Sourdough loaf.</p></main>")
    (web / "binary.html").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (web / "big.html").write_text("<p>" + "word " * 1000 + "</p>")
    (web / "latin1.html").write_bytes("<title>Café</title><main><p>Crème brûlée à 4 €</p></main>"
                                      .encode("cp1252"))
    (web / "hidden.html").write_text('<meta name="robots" content="noindex"><p>Staff only</p>')
    (web / "dangling.html").symlink_to(web / "missing.html")
    report, reader = make_index([str(web), str(tmp_path / "nowhere")], max_page_bytes=4000)
    reasons = failures(report)
    assert reasons[str(web / "binary.html")].startswith("not text: binary")
    assert reasons[str(web / "big.html")] == "5007 bytes, over max_page_bytes (4000)"
    assert reasons[str(web / "hidden.html")] == "marked noindex"
    assert reasons[str(web / "dangling.html")].startswith("cannot be read")
    assert reasons[str(tmp_path / "nowhere")] == "no such file or folder"
    assert sorted(report.added) == ["/good.html", "/latin1.html"]
    assert reader.search("creme brulee", 1)[0].text == "Crème brûlée à 4 €"  # cp1252 read right


def test_a_symlink_loop_is_reported_once_and_indexing_goes_on(tmp_path, make_index):
    web = tmp_path / "web"
    (web / "a").mkdir(parents=True)
    (web / "a" / "page.html").write_text("<title>Page</title><p>Inside the loop.</p>")
    os.symlink(web, web / "a" / "back")
    report, _ = make_index([str(web)])
    assert report.added == ["/a/page.html"]
    assert failures(report) == {str(web / "a" / "back"): f"symlink loop: the same folder as {web}"}


def test_re_indexing_skips_unchanged_pages_updates_changed_and_drops_removed(tmp_path, make_index, index_path):
    web = tmp_path / "web"
    write_site(web)
    _, reader = make_index([str(web)])
    version = (index_path.stat().st_ino, index_path.stat().st_mtime_ns)
    reader.close()
    (web / "hours.html").write_text(HOURS.replace("8:00 to 13:00", "9:00 to 12:00"))
    (web / "story.txt").unlink()
    (web / "new.html").write_text("<title>News</title><p>Spelt bread is back.</p>")
    (web / "index.html").write_text("<title>Home</title><nav>New menu link</nav><main><p>Welcome to the bakery.</p>"
                                    "</main>")  # only the navigation changed: same content
    second, reader = make_index([str(web)])
    assert second.added == ["/new.html"]
    assert second.changed == ["/hours.html"]
    assert second.removed == ["/story.txt"]
    assert second.unchanged == 3
    assert (index_path.stat().st_ino, index_path.stat().st_mtime_ns) != version
    assert reader.search("sunday open", 1)[0].text == "On Sunday we are open from 8:00 to 13:00.".replace(
        "8:00 to 13:00", "9:00 to 12:00")
    assert reader.search("rye flour", 3) == []
    assert list(index_path.parent.iterdir()) == [index_path]  # no temporary file left behind
    dead = index_path.with_name(f"{index_path.name}.tmp-999999999")  # a build that was killed
    dead.write_bytes(b"half-built")
    third, _ = make_index([str(web / "new.html")])
    assert not dead.exists()
    assert third.added == [] and third.unchanged == 0 and len(third.removed) == 4  # a source dropped: its pages go


def test_a_folder_never_leaves_its_root_and_leaves_out_what_is_not_published(tmp_path, make_index):
    outside = tmp_path / "elsewhere"
    (outside / "private").mkdir(parents=True)
    (outside / "private" / "keys.html").write_text("<title>Keys</title><p>Root password hunter2.</p>")
    (outside / "diary.md").write_text("# Diary\n\nNobody should read this.\n")
    web = tmp_path / "web"
    (web / "docs").mkdir(parents=True)
    (web / ".git").mkdir()
    (web / "docs" / "page.html").write_text("<title>Page</title><p>Wholemeal flour.</p>")
    (web / ".git" / "notes.md").write_text("# Notes\n\nInternal token abc123.\n")
    (web / ".draft.md").write_text("# Draft\n\nUnannounced pretzels.\n")
    (web / "styles.css").write_text("body {}")
    (web / "logo.png").write_bytes(b"\x89PNG")
    os.symlink(outside / "private", web / "private")  # a folder outside
    os.symlink(outside / "diary.md", web / "diary.md")  # a file outside
    os.symlink(web / ".git", web / "git")  # a dot folder under another name
    os.symlink(web / "docs", web / "also-docs")  # inside, and not hidden, but a folder indexed once
    os.symlink(web / "docs" / "page.html", web / "page.html")  # inside: followed
    report, reader = make_index([str(web)])
    assert sorted(report.added) == ["/docs/page.html", "/page.html"]
    skipped = {s.where: s.reason for s in report.skipped}
    hidden = "hidden: a dot file or folder, or a symlink to one (include_hidden = true indexes it)"
    assert skipped == {
        str(web / ".draft.md"): hidden, str(web / ".git"): hidden, str(web / "git"): hidden,
        str(web / "private"): "a symlink that leads out of the folder",
        str(web / "diary.md"): "a symlink that leads out of the folder",
        str(web / "logo.png"): "not a page (.png)", str(web / "styles.css"): "not a page (.css)",
        str(web / "also-docs"): f"the same folder as {web / 'docs'}, indexed once"}
    for secret in ("hunter2", "nobody", "abc123", "pretzels"):
        assert reader.search(secret, 3) == []

    report, reader = make_index([str(web)], include_hidden=True)
    assert sorted(report.added) == ["/.draft", "/.git/notes"]  # "git" is the same folder as ".git"
    assert reader.search("pretzels", 1)[0].url == "/.draft"
    assert reader.search("hunter2", 3) == []  # still never outside the folder


def test_an_unchanged_file_is_not_read_again(tmp_path, make_index, index_path):
    web = tmp_path / "web"
    write_site(web)
    _, reader = make_index([str(web)])
    reader.close()
    hours = web / "hours.html"
    stamp = hours.stat()
    version = (index_path.stat().st_ino, index_path.stat().st_mtime_ns)
    # Same size, same modification time: the new words are not read (the index keeps the old ones).
    hours.write_text(HOURS.replace("8:00 to 13:00", "7:00 to 14:00"))
    os.utime(hours, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    again, reader = make_index([str(web)])
    assert (again.unchanged, again.added, again.changed, again.written) == (5, [], [], False)
    assert (index_path.stat().st_ino, index_path.stat().st_mtime_ns) == version  # the file was left alone
    assert "8:00 to 13:00" in reader.search("sunday open", 1)[0].text
    reader.close()

    os.utime(hours, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 1_000_000_000))  # touched: read again
    third, reader = make_index([str(web)])
    assert third.changed == ["/hours.html"] and third.unchanged == 4
    assert "7:00 to 14:00" in reader.search("sunday open", 1)[0].text
    reader.close()

    moved, _ = make_index([str(web)], site_url="https://bakery.example")  # new URLs: every file read again
    assert len(moved.added) == 5 and len(moved.removed) == 5


def test_an_index_of_the_previous_schema_is_rebuilt(tmp_path, make_index, index_path):
    import sqlite3

    write_site(tmp_path / "web")
    make_index([str(tmp_path / "web")])[1].close()
    with sqlite3.connect(index_path) as db:
        db.execute("UPDATE meta SET value = '1' WHERE key = 'schema'")
        db.execute("UPDATE chunks SET title = replace(title, 'Opening', 'Opening &amp;')")  # as escaped
    report, reader = make_index([str(tmp_path / "web")])
    assert len(report.added) == 5 and report.unchanged == 0
    assert reader.search("sunday open", 1)[0].title == "Opening hours \u203a Sunday"
