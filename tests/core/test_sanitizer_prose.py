"""Prose with nothing for the sanitizer to act on skips nh3 and the link rules: the skip must
never change what a visitor or a model sees."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from chatkit_core.builtins.sanitizer import _PROSE_SPECIAL, _rewrite_prose, clean_markup

prose = st.text(st.characters(blacklist_categories=("Cs",)), max_size=80)


@settings(max_examples=3000, deadline=None)
@given(prose)
def test_prose_the_skip_leaves_alone_is_what_the_full_rewrite_gives(text: str) -> None:
    if not _PROSE_SPECIAL.search(text):
        assert _rewrite_prose(text) == text


def test_text_with_markup_entities_or_brackets_is_still_cleaned() -> None:
    assert clean_markup("a <b onclick=x>bold</b> word") == "a bold word"
    assert clean_markup("[click](javascript:alert(1))") == "click"
    assert clean_markup("see](javascript:alert(1)) here") != "see](javascript:alert(1)) here"
    assert clean_markup("\ufeffhello") == "hello"
    assert clean_markup("a\u00a0b <i>c</i>") == "a\u00a0b c"
    assert clean_markup("Tom & Jerry") == "Tom & Jerry"  # plain text, as written
    assert clean_markup("Tom &amp; Jerry <b>x</b>") == "Tom &amp; Jerry x"  # an entity typed as text stays one


def test_plain_prose_comes_back_unchanged() -> None:
    text = "It's a \"plain\" answer: 3 * 4 = 12, done!\n\nSecond paragraph, `code` and **bold**."
    assert clean_markup(text) == text
