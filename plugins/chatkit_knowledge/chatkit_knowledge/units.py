"""The answer unit of a passage: the smallest piece of it that states what was asked.

A passage is lines (a paragraph, a list item, a table row that names its columns, a code
block); a line is sentences. A unit is one sentence, or a lead-in sentence ending with ":"
(a paragraph's last) together with the lines it introduces (a list, a code block), so "Remove
the service:" is never quoted without what follows; a line ending with "?" (a FAQ's question,
whole) is a lead-in to its answer.
Units are scored by the question's words they hold (each weighted by its rarity among the
passage's units; a misspelt question word counts for the passage word one or two edits away)
plus their semantic similarity to the question. The best unit is quoted
with its neighbours when it is short: a definition's first line ("Default: 0") with the sentence
that explains it, a heading's value with its description.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from chatkit_knowledge.language import asked_in_english
from chatkit_knowledge.text import TYPO_MIN, compounds, distance, misspelt, query_words, spelled, terms

_SENTENCE = re.compile("(?<=[.!?\u3002\uff01\uff1f])\\s+(?=[^a-z])|(?<=[\u3002\uff01\uff1f])")
_LEAD_IN = re.compile(r"[:\uff1a?\uff1f]\s*$")
_HEADER_ROW = re.compile(r"^[^|\n]{1,60}(?: \| [^|\n]{1,60})+$")
"""A table's header row alone ("Plan | Price | Seats"): its rows already name the columns."""
_BARE_LEAD_IN = 40
"""Characters under which a lead-in ("For example:", "Like so:") is quoted with the sentence before it."""
_FOLLOWERS = 4
"""Most lines a lead-in takes with it."""
QUOTE_CHARS = 420
"""Most characters quoted (a long code line is cut)."""
_ENOUGH = 240
"""Characters from which a quote needs no further unit: a shorter one takes the next."""
_MEANING = 1.0
"""Weight of semantic similarity against the share of the question's words a unit holds."""
_TITLE = 0.5
"""Bonus, per share of the question's words in the passage's title, for the section's opening:
a question about a heading ("What is bodyLimit?") is answered by the lines right under it."""

_AMOUNT = 0.15
"""Bonus of a unit holding a number when the question asks for an amount ("How big can a body
be?", "What is the default timeout?"): the sentence that states it, not the one around it."""
_ASKS_AMOUNT = re.compile(
    r"\b(how (many|much|long|big|large|often|old)|max(imum|imal|imale|imo)?|min(imum|imal|imale|imo)?|default|"
    r"limit[es]?|size|cu[aá]nt[oa]s?|l[ií]mite|tama[nñ]o|por defecto|combien|taille|par d[eé]faut|"
    r"wie (viele?|lange|gro[sß])|gr[oö](ss|ß)e|standard)\b", re.IGNORECASE)
_NUMBER = re.compile(r"\d")

_HALF = 0.5
"""Share of the best unit's score a unit needs to be quoted for the part of the question the best
one does not answer: a passing word ("Making" for "make") is no second half."""

_ABOUT_HEADING = 0.5
"""Share of the question's words in the title from which the question is about the heading."""

Similarity = Callable[[str, Sequence[str]], Sequence[float]]
"""Cosine of the question with each text (a semantic embedder), or nothing."""


@dataclass(frozen=True)
class Unit:
    text: str
    line: int
    """Index of the line it starts on."""


def units(text: str) -> list[Unit]:
    """The passage's units, in order."""
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    found: list[Unit] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if _LEAD_IN.search(line) and index + 1 < len(lines):
            sentences = [line] if line.rstrip()[-1] in "?\uff1f" else _sentences(line)
            if len(sentences) > 1 and len(sentences[-1]) < _BARE_LEAD_IN:  # "For example:" says nothing alone
                sentences[-2:] = [" ".join(sentences[-2:])]
            found += [Unit(sentence, index) for sentence in sentences[:-1]]
            taken = [sentences[-1]]
            for follower in lines[index + 1 : index + 1 + _FOLLOWERS]:
                if len(taken) > 1 and sum(map(len, taken)) + len(follower) > QUOTE_CHARS:
                    break
                taken.append(follower)
            found.append(Unit("\n".join(taken), index))
            index += len(taken)
            continue
        found += [Unit(sentence, index) for sentence in _sentences(line)]
        index += 1
    return found


def _sentences(line: str) -> list[str]:
    return [sentence for sentence in _SENTENCE.split(line) if sentence.strip()]


def _fuzzy(question: str, passage_terms: set[str], passage_words: set[tuple[str, str]]) -> set[str]:
    """The question's terms, each misspelt word replaced by the term of the passage word it
    most likely means (one edit, or two for a word of eight letters or more)."""
    wanted = set()
    english = asked_in_english(question)
    for word, term in query_words(question):
        if term in passage_terms or len(word) < TYPO_MIN or not word.isalpha() or not misspelt(word, english):
            wanted.add(term)
            continue
        near = [t for w, t in passage_words if distance(word, w) <= (2 if len(word) >= 8 else 1)]
        wanted.add(near[0] if near else term)
    return wanted


@dataclass
class _Scored:
    scores: list[float]
    """Each unit's: the share of the question's words it holds, plus its cosine with the question."""
    held: list[set[str]]
    """The question's terms each unit holds."""
    in_title: float
    """The share of the question's words the passage's title holds."""


def _scores(question: str, title: str, found: list[Unit], similarity: Similarity | None) -> _Scored:
    """The units scored for ``question``; the title's words help the section's opening."""
    joined = compounds(question)
    bags = [_with_compounds(set(terms(unit.text)), joined) for unit in found]
    heading = _with_compounds(set(terms(title)), joined)
    words = spelled(" ".join(unit.text for unit in found) + " " + title)
    wanted = _fuzzy(question, set().union(*bags) | heading, words)
    rarity = {t: math.log(1 + len(bags) / (1 + sum(t in bag for bag in bags))) for t in wanted}
    total = sum(rarity.values()) or 1.0
    scores = [0.0 if _HEADER_ROW.match(unit.text) else sum(rarity[t] for t in wanted if t in bag) / total
              for unit, bag in zip(found, bags, strict=True)]
    if similarity is not None:
        cosines = similarity(question, [unit.text for unit in found])
        scores = [value + _MEANING * max(0.0, cosine) for value, cosine in zip(scores, cosines, strict=True)]
    if _ASKS_AMOUNT.search(question):
        scores = [value + _AMOUNT * bool(_NUMBER.search(unit.text)) for value, unit in zip(scores, found, strict=True)]
    held = set().union(*bags) | heading  # a question word the passage never uses says nothing of its heading
    in_title = sum(rarity[t] for t in wanted if t in heading) / (sum(rarity[t] for t in wanted if t in held) or 1.0)
    scores[0] += _TITLE * in_title
    return _Scored(scores, [bag & wanted for bag in bags], in_title)


def _with_compounds(bag: set[str], joined: dict[str, tuple[str, ...]]) -> set[str]:
    """``bag`` with the terms of the question's two words it writes as one (``joined``, from
    :func:`~chatkit_knowledge.text.compounds`: "login" holds "log")."""
    for term, parts in joined.items():
        if term in bag:
            bag.update(parts)
    return bag


def best_units(question: str, title: str, text: str, most: int, similarity: Similarity | None = None) -> list[str]:
    """The units of a passage that answer ``question`` best, in the passage's order: the best one,
    then the next ones while the quote is short; at most ``most`` units and :data:`QUOTE_CHARS`
    characters each."""
    found = units(text)
    if not found:
        return [text.strip()]
    scored = _scores(question, title, found, similarity)
    scores = scored.scores
    best = max(range(len(found)), key=lambda i: (scores[i], -i))
    chosen = [best]
    if most > 1 and scored.in_title >= _ABOUT_HEADING and best > 0 and len(found[0].text) < _ENOUGH:
        chosen.insert(0, 0)  # about the heading itself: its opening line states the value
    if len(chosen) < most and _introduces(found, best):
        chosen.append(best + 1)  # "Compute the current date." and the line of code that does it
    rest = [i for i in range(len(found)) if scored.held[i] - scored.held[best] and scores[i] >= _HALF * scores[best]]
    if len(chosen) < most and rest:  # another unit answers the part of the question this one does not
        chosen.append(max(rest, key=lambda i: (scores[i], -i)))
    while len(chosen) < most and max(chosen) + 1 < len(found) and sum(len(found[i].text) for i in chosen) < _ENOUGH:
        chosen.append(max(chosen) + 1)
    return [_cut(found[i].text) for i in sorted(set(chosen))]


def _introduces(found: list[Unit], index: int) -> bool:
    """Whether the unit at ``index`` is a short line of its own followed by a line that is not
    prose (code, a value): the line it describes."""
    if index + 1 >= len(found) or len(found[index].text) >= _ENOUGH // 2:
        return False
    here, after = found[index], found[index + 1]
    alone = index == 0 or found[index - 1].line != here.line
    return alone and after.line == here.line + 1 and after.text[-1] not in _PROSE_ENDS


_PROSE_ENDS = ".!?\u3002\uff01\uff1f"


def _cut(text: str) -> str:
    if len(text) <= QUOTE_CHARS:
        return text
    return text[:QUOTE_CHARS].rsplit(" ", 1)[0] + " …"
