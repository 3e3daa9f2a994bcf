"""The console's Markdown renderer on its own: the widget's rules, every piece of text escaped once."""

from __future__ import annotations

import pytest

from chatkit_core.http.admin.markdown import MAX_CHARS, markdown


def test_text_is_escaped_once_and_shown_as_written():
    assert markdown("Tom & Jerry &amp; <b>bold</b> a < b") == (
        "<p>Tom &amp; Jerry &amp;amp; &lt;b&gt;bold&lt;/b&gt; a &lt; b</p>\n")


def test_raw_html_blocks_are_text():
    assert markdown("<script>alert(1)</script>\n\n<div onclick=x>hi</div>") == (
        "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>\n<p>&lt;div onclick=x&gt;hi&lt;/div&gt;</p>\n")


@pytest.mark.parametrize("link", [
    "[x](javascript:alert(1))", "[x](JAVASCRIPT:alert(1))", "[x](javascript&#58;alert(1))",
    "[x]( javascript:alert(1) )", "[x](data:text/html;base64,PHNjcmlwdD4=)", "[x](vbscript:msgbox(1))",
    "[x](//evil.example/x)", "[x](/admin/conversations)", "[x](ftp://files.example/a)", "<javascript:alert(1)>",
])
def test_a_link_to_anything_but_a_web_page_or_mail_is_its_label(link):
    rendered = markdown(link)
    assert "<a" not in rendered and "href" not in rendered


@pytest.mark.parametrize(("source", "href"), [
    ("[menu](https://bakery.example/menu?a=1&b=2)", "https://bakery.example/menu?a=1&amp;b=2"),
    ("[write](mailto:hello@bakery.example)", "mailto:hello@bakery.example"),
    ("see https://bakery.example/menu.", "https://bakery.example/menu"),
    ("<http://bakery.example>", "http://bakery.example"),
    ('[x](https://bakery.example/"onmouseover="alert(1))', "https://bakery.example/%22onmouseover=%22alert(1)"),
])
def test_web_and_mail_links_open_apart_without_a_referrer(source, href):
    assert f'<a href="{href}" target="_blank" rel="noopener noreferrer">' in markdown(source)


def test_bare_addresses_without_a_scheme_stay_text():
    assert "<a" not in markdown("bakery.example and hello@bakery.example")


def test_images_are_links_never_loaded():
    assert markdown("![the shop](https://bakery.example/shop.jpg)") == (
        '<p><a href="https://bakery.example/shop.jpg" target="_blank" rel="noopener noreferrer">the shop</a></p>\n')
    assert markdown("![x](javascript:alert(1))") == "<p>x</p>\n"
    # An image inside a link is the link's label: links never nest.
    assert markdown("[![logo](https://a.example/l.png)](https://a.example)") == (
        '<p><a href="https://a.example" target="_blank" rel="noopener noreferrer">logo</a></p>\n')


def test_lists_quotes_code_and_headings_as_the_widget_shows_them():
    source = "# Hours\n- one\n  1. nested\n\n> quoted\n\n```html\n<b>x</b>\n```\n    not code\n---"
    assert markdown(source) == (
        "<p><strong>Hours</strong></p>\n<ul>\n<li>one\n<ol>\n<li>nested</li>\n</ol>\n</li>\n</ul>\n"
        "<blockquote>\n<p>quoted</p>\n</blockquote>\n"
        '<pre><code class="language-html">&lt;b&gt;x&lt;/b&gt;\n</code></pre>\n'
        "<p>not code<br />\n---</p>\n")


def test_tables_align_with_attributes_not_styles():
    rendered = markdown("| a | b |\n|:-|--:|\n| 1 | 2 |")
    assert rendered.startswith('<div class="table" tabindex="0"><table>')
    assert '<th align="left">a</th>' in rendered and '<td align="right">2</td>' in rendered
    assert "style" not in rendered


@pytest.mark.parametrize("source", [">" * 40 + " deep", "- " * 40 + "deep", "x" * (MAX_CHARS + 1) + " <b>"])
def test_what_cannot_be_rendered_whole_is_plain_text_not_cut(source):
    rendered = markdown(source)
    assert rendered.startswith('<p class="plain">') and rendered.count("<") == 2
    assert ("deep" in rendered) or rendered.endswith(" &lt;b&gt;</p>")
