"""``chatkit eval``: every question through the configured chain, counted as a reader would."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from chatkit_knowledge.eval import page_key, read_questions

from chatkit_core.cli import main
from chatkit_core.platform.config import ConfigError

PAGES = {
    "hours.html": "<title>Opening hours</title><main><h2 id='sunday'>Sunday</h2>"
                  "<p>On Sunday we open from 8:00 to 13:00.</p></main>",
    "cakes/index.html": "<title>Cakes</title><main><p>Birthday cakes need two days notice.</p>"
                        "<p>A birthday cake for ten people costs 32 euros.</p></main>",
    "delivery.md": "# Delivery\n\nWe deliver within 5 km of the shop for 4 euros.\n",
}
QUESTIONS = [
    {"question": "Are you open on Sunday?", "pages": ["https://bakery.example/hours"], "answer_contains": ["13:00"],
     "kind": "direct"},
    {"question": "How much is a birthday cake?", "pages": ["/cakes/"], "answer_contains": ["32 euros"],
     "kind": "direct"},
    {"question": "Do you deliver to my house?", "pages": ["hours.html"], "answer_contains": ["nowhere"],
     "kind": "paraphrased"},
    {"question": "Can I buy a gift voucher?", "pages": [], "answer_contains": []},
]


@pytest.fixture
def site(tmp_path: Path) -> Path:
    for name, text in PAGES.items():
        (tmp_path / "web" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "web" / name).write_text(text)
    config = tmp_path / "chatkit.toml"
    config.write_text(f'[chain]\norder = ["site"]\n[providers.site]\ntype = "extractive"\n[rate_limit]\ntype = "none"\n'
                      f'[knowledge]\ntype = "sqlite"\nsources = ["{tmp_path / "web"}"]\n'
                      f'path = "{tmp_path / "k.sqlite3"}"\n')
    assert main(["index", "--config", str(config)]) == 0
    (tmp_path / "questions.jsonl").write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS) + "\n")
    return tmp_path


def test_pages_match_ignoring_scheme_host_extension_slash_and_index():
    assert page_key("https://docs.example.com/guide/faq.html#top") == page_key("/guide/faq/") == "guide/faq"
    assert page_key("docs/faq.mdx") == page_key("http://x/docs/faq") == "docs/faq"
    assert page_key("/cakes/index.html") == page_key("cakes/") == page_key("https://x/cakes") == "cakes"
    assert page_key("https://bakery.example/") == page_key("index.md") == page_key("/") == ""
    assert page_key("/Reference/Server.md") == page_key("reference/server")


def test_the_json_report_counts_what_a_reader_counts(site, capsys):
    capsys.readouterr()  # the index build's summary
    assert main(["eval", str(site / "questions.jsonl"), "--config", str(site / "chatkit.toml"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    results = report["results"]
    assert [r["source_at_1"] for r in results] == [True, True, False, False]
    assert [r["answer_contains"] for r in results] == [True, True, False, None]
    assert results[0]["source"] == "/hours.html#sunday" and results[0]["passages"][0] == "/hours.html#sunday"
    assert results[3]["declined"] and results[3]["answer"].startswith("I could not find that")
    # counted by hand from the results above
    assert {key: report[key] for key in ("questions", "answerable", "unanswerable", "source_at_1", "source_at_k",
                                         "answer_contains", "declined", "false_declines")} == {
        "questions": 4, "answerable": 3, "unanswerable": 1, "source_at_1": 2,
        "source_at_k": sum(r["source_at_k"] for r in results[:3]), "answer_contains": 2, "declined": 1,
        "false_declines": sum(r["declined"] for r in results[:3])}
    assert report["kinds"]["direct"]["source_at_1"] == 2 and report["top_k"] == 4


def test_the_text_report_has_a_line_per_question_and_the_totals(site, capsys):
    capsys.readouterr()  # the index build's summary
    assert main(["eval", str(site / "questions.jsonl"), "--config", str(site / "chatkit.toml")]) == 0
    out = capsys.readouterr().out
    assert "1. Are you open on Sunday? [direct]\n   source right (/hours.html#sunday); right page in top 4: yes; " \
           "answer contains: yes" in out
    assert "4. Can I buy a gift voucher?\n   declined (right)" in out
    assert out.splitlines()[-1].startswith("total: 4 questions; answerable 3: source right 2/3 (67%)")
    assert out.splitlines()[-1].endswith("unanswerable 1: declined 1/1 (100%)")


@pytest.mark.parametrize(("line", "message"), [
    ("not json", "line 1 is not JSON"),
    ('["a"]', 'line 1 must be an object like {"question": "...", "pages": ["..."]}'),
    ('{"question": "", "pages": []}', '"question" must be a non-empty string'),
    ('{"question": "Hi?"}', '"pages" must be a list of page names ([] when the site cannot answer)'),
    ('{"question": "Hi?", "pages": [], "answer_contains": "x"}', '"answer_contains" must be a list of non-empty'),
])
def test_a_bad_line_is_named_with_what_to_change(tmp_path, line, message):
    path = tmp_path / "q.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        read_questions(path)


def test_files_that_cannot_be_read_are_refused_with_a_reason(tmp_path, capsys):
    with pytest.raises(ConfigError, match="cannot read"):
        read_questions(tmp_path / "missing.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n\n")
    with pytest.raises(ConfigError, match="holds no questions"):
        read_questions(tmp_path / "empty.jsonl")
    (tmp_path / "latin1.jsonl").write_bytes(b'{"question": "caf\xe9", "pages": []}\n')
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        read_questions(tmp_path / "latin1.jsonl")
    (tmp_path / "ok.jsonl").write_text('{"question": "Hi?", "pages": []}\n')
    (tmp_path / "bare.toml").write_text('[providers.site]\ntype = "extractive"\n')
    assert main(["eval", str(tmp_path / "ok.jsonl"), "--config", str(tmp_path / "bare.toml")]) == 1
    assert "has no [knowledge] table: chatkit eval measures answers from the site's pages" in capsys.readouterr().err
