"""Right answers on pages not written for the tests' questions: what is matched, what is
quoted, and what is declined."""

from __future__ import annotations

from pathlib import Path

import pytest
from chatkit_knowledge.extractive import ExtractiveOptions, compose
from chatkit_knowledge.text import is_word, query_terms, terms
from chatkit_knowledge.units import best_units, units

from chatkit_core.chat.providers import ChatMessage, ChatRequest
from chatkit_core.models import Passage

DOCS = {
    "services.md": "# Services\n\n## Remove a service\n\nStop it first, then remove the service:\n\n"
                   "```\ndocker compose rm web\n```\n\nRemoved services keep their volumes.\n",
    "server.md": "# Server options\n\n## bodyLimit\n\nDefault: `1048576` (1MiB)\n\n"
                 "Defines the maximum payload, in bytes, the server is allowed to accept. Larger bodies are "
                 "refused with a 413 error before your handler runs.\n",
    "files.md": "# Storage\n\nUploaded files are located in the data folder. We found that SSD disks are "
                "fastest for it.\n\n## Transactions\n\nEvery write runs in a transaction; isolation is serializable.\n",
    "prices.html": "<title>Prices</title><main><table><tr><th>Plan</th><th>Price</th><th>Seats</th></tr>"
                   "<tr><td>Team</td><td>12 euros</td><td>10</td></tr>"
                   "<tr><td>Business</td><td>40 euros</td><td>50</td></tr></table></main>",
}


@pytest.fixture
def reader(tmp_path: Path, make_index):
    web = tmp_path / "web"
    web.mkdir()
    for name, text in DOCS.items():
        (web / name).write_text(text)
    return make_index([str(web)])[1]


def answer(reader, question: str) -> str:
    passages = [p for p in reader.search(question, 4, 0.35) if p.score >= 0.35]
    request = ChatRequest(messages=[ChatMessage("user", question)], passages=passages)
    return compose(request, ExtractiveOptions(type="extractive", semantic=False))


def test_a_lead_in_is_quoted_with_the_code_it_introduces(reader):
    quoted = answer(reader, "How do I remove a service?")
    assert quoted.startswith("Stop it first, then remove the service:\ndocker compose rm web")
    assert next(u.text for u in units("Run this:\nnpm i fastify\nnpm start")) == "Run this:\nnpm i fastify\nnpm start"


def test_only_the_last_sentence_of_a_paragraph_leads_in():
    paragraph = ("Foreign keys are off by default. Each connection must turn them on with this pragma:\n"
                 "sqlite> PRAGMA foreign_keys = ON;")
    assert [u.text for u in units(paragraph)] == [
        "Foreign keys are off by default.",
        "Each connection must turn them on with this pragma:\nsqlite> PRAGMA foreign_keys = ON;"]
    # a lead-in that says nothing alone ("For example:") is quoted with the sentence before it
    bare = "Foreign keys are off by default. Each connection must turn them on. For example:\nPRAGMA foreign_keys = ON;"
    assert [u.text for u in units(bare)] == [
        "Foreign keys are off by default.",
        "Each connection must turn them on. For example:\nPRAGMA foreign_keys = ON;"]
    faq = "(12) I deleted a lot of data. Is this a bug?\nNo. The space is reused."
    assert units(faq)[0].text == "(12) I deleted a lot of data. Is this a bug?\nNo. The space is reused."


def test_a_question_about_a_heading_gets_its_value_and_its_description(reader):
    quoted = answer(reader, "What is the default body size limit?")
    assert quoted.startswith("Default: 1048576 (1MiB). ")
    assert "Source: [Server options \u203a bodyLimit](/server#bodylimit)" in quoted
    # asked in Spanish: its Spanish words are on no English page and say nothing of the heading
    text = ("Default: 1048576 (1MiB)\nDefines the maximum payload, in bytes, the server accepts.\n"
            "The default body reader sends a 413 reply if the size of the body exceeds this limit.")
    spanish = "¿Cuál es el límite por defecto del tamaño del body?"
    quoted = best_units(spanish, "Server options \u203a bodyLimit", text, 2)
    assert quoted[0] == "Default: 1048576 (1MiB)"


def test_a_table_row_is_quoted_with_its_column_names(reader):
    assert answer(reader, "How much is the Business plan?").startswith("Business — Price: 40 euros, Seats: 50.")


def test_misspellings_are_corrected_against_the_words_of_the_site(reader):
    assert "serializable" in answer(reader, "transacton isolaton")
    assert best_units("wher are uplodaed fils", "Storage", DOCS["files.md"].split("\n\n")[1], 1) == [
        "Uploaded files are located in the data folder."]


def test_a_real_word_is_never_corrected_and_founded_is_not_found(reader):
    assert is_word("rain") and is_word("founded") and not is_word("transacton")
    assert terms("founded") != terms("found") and terms("found") == terms("find")
    assert answer(reader, "Who founded the company?").startswith("I could not find that on this site.")
    assert answer(reader, "Is it going to rain?").startswith("I could not find that on this site.")


def test_identifiers_match_their_words():
    assert {"bodi", "limit", "bodylimit"} <= set(terms("the bodyLimit option"))
    assert {"request", "id", "header"} <= set(query_terms("what is requestIdHeader"))


def test_words_of_other_languages_do_not_count_against_an_english_site(reader):
    # "comment", "créer" and "un" cannot be on an English page; "index" can
    assert not answer(reader, "¿Cómo activo las transactions?").startswith("No he encontrado")
    assert answer(reader, "¿Tienen aparcamiento?").startswith("No he encontrado eso en este sitio.")


def test_two_units_answer_two_halves_of_a_question():
    passage = Passage(text="We bake from 5:00. On Sunday we open from 8:00 to 13:00. Parking is behind the shop.",
                      title="Opening hours", url="/hours.html")
    assert best_units("Sunday parking?", passage.title, passage.text, 2) == [
        "On Sunday we open from 8:00 to 13:00.", "Parking is behind the shop."]


def test_a_passing_word_is_no_second_half():
    text = ("See the backup page for making copies of a database.\n"
            "Why is the file not smaller after I deleted a lot of data? Deleted pages are kept on a free list "
            "and reused; run VACUUM to rebuild the file and return the space.")
    quoted = best_units("How do I make the database file smaller after deleting data?", "FAQ", text, 2)
    assert quoted[0] == "Why is the file not smaller after I deleted a lot of data?"
    assert not any("backup" in unit for unit in quoted)


def test_two_words_written_as_one_on_the_page_are_quoted_there():
    text = "Sessions last a week and are renewed on every visit. The login page is at /account."
    assert best_units("where do I log in", "Accounts", text, 1) == ["The login page is at /account."]


def test_a_short_description_is_quoted_with_the_line_it_describes():
    text = ("Compute the current date.\nSELECT date();\nCompute the date and time given a unix timestamp.\n"
            "SELECT datetime(1092941466, 'unixepoch');")
    assert best_units("How do I get the current date and time?", "Examples", text, 2) == [
        "Compute the current date.", "SELECT date();"]
    prose = "Compute the current date. It is in UTC.\nDates are text."  # prose follows: not a description
    assert best_units("How do I compute the current date?", "Examples", prose, 1) == ["Compute the current date."]


def test_a_question_on_the_page_is_quoted_with_its_answer():
    text = ("Dropped columns need a rebuilt table.\n(12) I deleted a lot of data but the file did not get smaller. "
            "Is this a bug?\nNo. Deleted pages go to a free-list and are reused.\nRun VACUUM to shrink the file.")
    assert best_units("Why is the file not smaller after I deleted data?", "FAQ", text, 1) == [
        "(12) I deleted a lot of data but the file did not get smaller. Is this a bug?\n"
        "No. Deleted pages go to a free-list and are reused.\nRun VACUUM to shrink the file."]


def test_a_question_asking_for_an_amount_gets_the_sentence_with_the_number():
    text = ("You might do well to lower the maximum string and blob length when memory is short. "
            "The maximum length of a string or BLOB is set by SQLITE_MAX_LENGTH; it defaults to 1,000,000,000 bytes.")
    assert best_units("What is the maximum length of a string or BLOB?", "Limits", text, 1) == [
        "The maximum length of a string or BLOB is set by SQLITE_MAX_LENGTH; it defaults to 1,000,000,000 bytes."]
    assert best_units("Why lower the string and blob length?", "Limits", text, 1) == [
        "You might do well to lower the maximum string and blob length when memory is short."]
