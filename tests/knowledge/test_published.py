"""Pages as published: MDX, front matter, heading anchors, public URLs, plain text, skips reported."""

from __future__ import annotations

import sqlite3

import msgspec
import pytest
from chatkit_knowledge.markdown import parse_markdown
from chatkit_knowledge.options import SqliteOptions

from tests.knowledge.test_cli import chatkit

FAQ_MDX = """---
title: "Crumb & Crust: questions"
description: What customers ask us & what we answer
sidebar_position: 2
---
import Tabs from '@theme/Tabs';
import TabItem from '@theme/TabItem';
export const hidden = {secret: "exported-object"};

# Questions

Press <Kbd>Ctrl</Kbd> + `{not: "dropped"}` to search; {props.visitorName} {/* a comment-marker */}

## Can I pay later? {#pay-later}

<Tabs groupId="who">
  <TabItem value="shops" label="Shops" default>

    Invoices are due within **30 days** & we take cards.

    ```bash
    echo "{kept-in-code}" <Tag>
    ```

  </TabItem>
</Tabs>

<Note title={`jsx-attribute ${x}`} {...spread}>
Bring a bag for the bread.
</Note>

## Do you deliver?

We deliver on Fridays within 5 km.

<h3 id="raw-html" className={styles.heading}>By bike</h3>

Our couriers ride cargo bikes.
"""


def test_mdx_keeps_the_text_and_drops_the_code_around_it():
    page = parse_markdown(FAQ_MDX, "faq", mdx=True)
    assert page.title == "Crumb & Crust: questions"
    assert page.description == "What customers ask us & what we answer"
    assert [(s.level, s.heading, s.anchor) for s in page.sections] == [
        (1, "Questions", ""), (2, "Can I pay later?", "pay-later"), (2, "Do you deliver?", "do-you-deliver"),
        (3, "By bike", "raw-html")]
    text = "\n".join(line for s in page.sections for line in s.lines)
    assert "Invoices are due within 30 days & we take cards." in text
    assert 'echo "{kept-in-code}" <Tag>' in text and '{not: "dropped"}' in text  # code as written
    assert "Press Ctrl +" in text and "Bring a bag for the bread." in text  # a component's children stay
    for gone in ("import", "exported-object", "visitorName", "comment-marker", "jsx-attribute", "spread",
                 "sidebar_position", "groupId", "TabItem", "className"):
        assert gone not in text + " ".join(s.heading for s in page.sections)


@pytest.mark.parametrize("front", ["---\ntitle: From YAML\ndescription: Meta\n---\n",
                                   '+++\ntitle = "From YAML"\ndescription = "Meta"\n+++\n'])
def test_front_matter_is_metadata_never_text_or_a_heading(front):
    page = parse_markdown(front + "Plain words.\n\n## Section\n\nMore.\n", "fallback")
    assert (page.title, page.description) == ("From YAML", "Meta")
    assert [(s.heading, s.lines) for s in page.sections] == [("", ["Plain words."]), ("Section", ["More."])]
    broken = parse_markdown("---\ntitle: [unclosed\n---\n# Real title\n\nBody.\n", "fallback")
    assert broken.title == "Real title" and "unclosed" not in str(broken.sections)
    assert parse_markdown("No title here.\n", "fallback").title == "fallback"


def test_markdown_headings_get_the_ids_a_docs_site_gives_them():
    page = parse_markdown("# Title\n\n## Opening hours\n\nA\n\n## Opening hours\n\nB\n\n### `make` & Café!\n\nC\n",
                          "t")
    assert [s.anchor for s in page.sections] == ["", "opening-hours", "opening-hours-1", "make--café"]


def test_a_docs_folder_is_indexed_as_published(tmp_path, make_index, index_path):
    docs, blog = tmp_path / "docs", tmp_path / "blog"
    (docs / "guide").mkdir(parents=True)
    blog.mkdir()
    (docs / "faq.mdx").write_text(FAQ_MDX)
    (docs / "index.md").write_text("# Welcome\n\nThe Crumb & Crust documentation.\n")
    (docs / "guide" / "README.md").write_text("# Guide\n\nStart here & read on.\n")
    (docs / "guide" / "ovens.markdown").write_text("# Ovens\n\n## Stone ovens\n\nHeated with beech wood.\n")
    (blog / "news.html").write_text("<title>News &amp; notes</title><main><p>Tom &amp; Jerry &lt;3 rye.</p></main>")
    sources = [str(docs) + "/", str(blog)]
    report, reader = make_index(sources, site_url={str(docs): "https://docs.example.com/",
                                                   str(blog) + "/": "https://example.com/blog"})
    assert sorted(report.added) == ["https://docs.example.com/", "https://docs.example.com/faq",
                                    "https://docs.example.com/guide/", "https://docs.example.com/guide/ovens",
                                    "https://example.com/blog/news.html"]
    assert reader.search("pay invoices later", 1)[0].url == "https://docs.example.com/faq#pay-later"
    assert reader.search("stone ovens beech", 1)[0].url == "https://docs.example.com/guide/ovens#stone-ovens"
    news = reader.search("tom jerry rye", 1)[0]
    assert (news.title, news.text) == ("News & notes", "Tom & Jerry <3 rye.")  # plain text, never escaped
    with sqlite3.connect(index_path) as db:
        titles = {row[0] for row in db.execute("SELECT title FROM pages")}
        stored = " ".join(row[0] for row in db.execute("SELECT title || ' ' || text FROM chunks"))
        described = db.execute("SELECT description FROM pages WHERE url LIKE '%/faq'").fetchone()[0]
    assert "Crumb & Crust: questions" in titles and "News & notes" in titles
    assert "&amp;" not in stored and "&lt;" not in stored and "Crumb & Crust" in stored
    assert described == "What customers ask us & what we answer"
    assert "What customers ask" not in stored  # metadata, not text


def test_site_url_must_name_local_sources_and_be_a_plain_url():
    def options(**keys: object) -> SqliteOptions:
        return msgspec.convert({"type": "sqlite", "sources": ["docs/", "https://example.com/"], **keys},
                               SqliteOptions)

    assert options(site_url={"./docs": "https://docs.example.com"}).site_url_for("docs/") == "https://docs.example.com"
    with pytest.raises(msgspec.ValidationError, match="site_url names 'blog/', which is not a local folder"):
        options(site_url={"blog/": "https://example.com/blog"})
    with pytest.raises(msgspec.ValidationError, match="without credentials"):
        options(site_url="https://user:pw@example.com")


def test_chatkit_index_counts_and_explains_every_skipped_file(tmp_path):
    web = tmp_path / "web"
    (web / ".git").mkdir(parents=True)
    (web / "faq.mdx").write_text("# FAQ\n\n<Note>Open daily.</Note>\n")
    (web / "a.css").write_text("")
    (web / "b.css").write_text("")
    (web / "logo.png").write_bytes(b"\x89PNG")
    (web / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (web / "draft.html").write_text("<title>Draft</title><p>Not yet.</p>")
    (tmp_path / "chatkit.toml").write_text('[knowledge]\ntype = "sqlite"\nsources = ["web/"]\n'
                                           'exclude = ["draft.*"]\n')
    built = chatkit("index", cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    lines = built.stdout.splitlines()
    assert lines[0].endswith("1 added, 0 changed, 0 unchanged, 0 removed, 0 failed, 5 skipped")
    assert "  added: /faq" in lines
    assert lines[-4:] == [
        "  skipped: web/.git: hidden: a dot file or folder, or a symlink to one (include_hidden = true indexes it)",
        "  skipped: 1 file: matched by exclude",
        "  skipped: 2 files: not a page (.css)",
        "  skipped: 1 file: not a page (.png)"]
