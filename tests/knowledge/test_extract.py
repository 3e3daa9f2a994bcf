"""From HTML to passages: main content only, one line per sentence or table row, anchors kept."""

from __future__ import annotations

from chatkit_knowledge.chunks import chunk_page
from chatkit_knowledge.extract import parse_html

PAGE = """<!doctype html><html><head><title>Menu</title><style>p{}</style></head><body>
<header><a href="/">Home</a></header><nav><a href="/hours.html">Hours</a></nav>
<main>
  <h1>Our menu</h1>
  <p>Everything is baked
     here, <em>every</em> morning.<br>Prices in euros.</p>
  <section id="bread"><h2>Bread</h2>
    <table><thead><tr><th>Item</th><th>Price</th><th>Allergens</th></tr></thead>
      <tbody><tr><td>Sourdough</td><td>€4.50</td><td>gluten</td></tr><tr><td>Rye</td><td>€3.90</td><td></td></tr>
      </tbody></table>
    <h3>Seeds</h3><ul><li>Sesame</li><li>Poppy</li></ul>
  </section>
  <aside>Related: our newsletter</aside><div hidden>Draft prices</div>
  <form><button>Subscribe</button></form>
</main>
<footer>© Bakery</footer><script>track()</script></body></html>"""


def test_main_content_keeps_sentences_rows_headings_and_anchors():
    page = parse_html(PAGE)
    assert page.title == "Menu"
    assert page.links == ["/", "/hours.html"]
    assert [(s.level, s.heading, s.anchor, s.lines) for s in page.sections] == [
        (1, "Our menu", "", ["Everything is baked here, every morning.", "Prices in euros."]),
        (2, "Bread", "bread", ["Item | Price | Allergens", "Sourdough — Price: €4.50, Allergens: gluten",
                               "Rye — Price: €3.90"]),
        (3, "Seeds", "", ["Sesame", "Poppy"]),
    ]


def test_chunks_carry_the_heading_path_and_the_nearest_anchor():
    chunks = chunk_page(parse_html(PAGE), "https://bakery.example/menu.html", max_chars=200)
    assert [(c.title, c.headings, c.url) for c in chunks] == [
        ("Menu \u203a Our menu", ("Our menu",), "https://bakery.example/menu.html"),
        ("Menu \u203a Bread", ("Our menu", "Bread"), "https://bakery.example/menu.html#bread"),
        ("Menu \u203a Seeds", ("Our menu", "Bread", "Seeds"), "https://bakery.example/menu.html#bread"),
    ]
    long = chunk_page(parse_html("<title>T</title><main><p>" + "word " * 100 + "</p><p>end</p></main>"), "/t",
                      max_chars=200)
    assert len(long) == 3 and all(len(c.text) <= 200 for c in long)


def test_a_piece_never_ends_with_a_lead_in():
    body = "<p>" + "Some words here. " * 10 + "</p><p>Run this command:</p><pre>npm i fastify</pre><p>Then start.</p>"
    chunks = chunk_page(parse_html(f"<title>T</title><main>{body}</main>"), "/t", max_chars=200)
    assert [c.text.endswith(":") for c in chunks] == [False] * len(chunks)
    assert any(c.text.startswith("Run this command:\nnpm i fastify") for c in chunks)
    long_code = "<p>" + "Some words here. " * 5 + "</p><p>Example:</p><pre>" + "x = 1; " * 60 + "</pre>"
    pieces = chunk_page(parse_html(f"<title>T</title><main>{long_code}</main>"), "/t", max_chars=200)
    assert any(c.text.startswith("Example:\nx = 1;") for c in pieces)
    faq = "<p>" + "Some words here. " * 10 + "</p><p>(12) Is this a bug?</p><p>No. Run VACUUM.</p>"
    answered = chunk_page(parse_html(f"<title>FAQ</title><main>{faq}</main>"), "/faq", max_chars=200)
    assert answered[-1].text == "(12) Is this a bug?\nNo. Run VACUUM."  # a question stays with its answer


def test_navigation_named_by_class_or_id_is_left_out():
    page = parse_html("""<html><body>
<div class="menu mainmenu"><ul><li><a href="/">Home</a></li><li><a href="/download">Download</a></li></ul></div>
<div class="fancy_toc"><div class="fancy-toc1"><a href="#fk">1. Foreign keys</a></div></div>
<div id="left-sidebar">Pages: <a href="/start">Getting started</a>, <a href="/limits">Limits</a></div>
<div class="breadcrumbs"><a href="/docs">Docs</a> / <a href="/pragma">Pragmas</a></div>
<div class="main-content"><h1 id="fk">1. Foreign keys</h1><p>Enable them per connection.</p>
  <div class="protocol-notes">Each connection starts with them off.</div>
  <div class="menu-reference"><h2>The menu command</h2><p>It lists the choices.</p>
  <ul class="menu">bread<li>Sourdough €4.50</li><li><a href="/rye">Rye</a> €3.90</li></ul></div></div>
</body></html>""")
    assert [(s.heading, s.lines) for s in page.sections] == [
        ("1. Foreign keys", ["Enable them per connection.", "Each connection starts with them off."]),
        ("The menu command", ["It lists the choices.", "bread", "Sourdough €4.50", "Rye €3.90"]),
    ]


def test_what_the_site_marks_as_not_for_search_is_left_out():
    page = parse_html("""<html><body><main><h1>Hours</h1>
<p>Open daily from 7 to 19.</p><p data-chatkit-ignore>Staff: the code is 4412.</p>
<p data-nosnippet>Internal note.</p><div data-pagefind-ignore="all">Draft banner</div>
<div class="tagline nosearch">Small. Fast.</div><span class=noindex>Hidden words</span></main></body></html>""")
    assert [(s.heading, s.lines) for s in page.sections] == [("Hours", ["Open daily from 7 to 19."])]
