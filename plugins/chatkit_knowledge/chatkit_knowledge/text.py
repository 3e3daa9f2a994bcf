"""Turning text into search terms, the same way for pages and for questions.

Terms are computed here rather than by SQLite's tokenizer so that indexing, querying and
scoring agree exactly: the FTS5 table receives text that is already split into terms
(``unicode61 remove_diacritics 2`` then only splits on the spaces and lowercases again).

- accents, case and Arabic vowel marks do not matter (NFKD, combining marks dropped);
- Latin-script words are stemmed with the English Snowball stemmer ("cakes", "cake"),
  Arabic words with the Arabic one; an irregular past form becomes its verb first, so
  "found" (of "find") is not "founded" (of "found");
- Chinese, Japanese and Korean runs, written without spaces, become overlapping character
  pairs ("营业时间" -> 营业 业时 时间), a single character stays itself;
- questions lose their stopwords ("what", "are", "you", "el", "的"...), which carry nothing
  about the topic and would let any page look like a match.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata

import jellyfish
import snowballstemmer

_WORD = re.compile(r"[^\W_]+")
TYPO_MIN = 4
_CAMEL_HINT = re.compile(r"[a-z][A-Z]")
_CAMEL = re.compile(r"\b[A-Za-z]*[a-z][A-Z][A-Za-z]*\b")
_HUMP = re.compile(r"(?<=[a-z])(?=[A-Z])")
_NUMBERED_HINT = re.compile(r"[A-Za-z]\d")
_NUMBERED = re.compile(r"\b([A-Za-z]+)(\d+)\b")
"""Letters then a number ("V5", "HTTP2", "ES2015"): matched by "version 5" and "HTTP 2" too."""
"""Shortest word corrected when misspelt: shorter ones have too many neighbours."""
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]+")
_ARABIC = re.compile(r"[\u0600-\u06ff]")
# Alef with hamza or madda -> alef, alef maqsura -> yeh, teh marbuta -> heh.
_ARABIC_LETTERS = str.maketrans({"\u0623": "\u0627", "\u0625": "\u0627", "\u0622": "\u0627", "\u0649": "\u064a",
                                 "\u0629": "\u0647"})

_english = snowballstemmer.stemmer("english")
_arabic = snowballstemmer.stemmer("arabic")

_STOPWORDS = """
a about am an and any anything are as at be been but by can could did do does doing for from get got had has
have he her here him his how i if in into is it its just me much many my no not of off on or our ours please
she should so some tell than that the their them then there these they this those to too us very was we were
what whats when where which who whom why will with would you your yours hi hello thanks thank
exactly actually really currently usually ever also just still maybe perhaps possible possibly
u ur r wat pls plz ya
el la los las un una unos unas y o de del al en con por para que qué es son está están hay se su sus lo le les
me mi mis tu tus te nos vosotros ustedes usted cómo como cuándo cuando dónde donde cuál cuánto cuánta
hola gracias puedo puede pueden tienen tiene tienes hacer
le la les un une des du de et ou à au aux en dans sur pour par avec que qui quoi quel quelle quels quelles est
sont vous nous je tu il elle ils elles on ce cette ces mon ma mes votre vos notre nos comment quand où
combien bonjour merci pouvez peut puis avez ai êtes
der die das den dem des ein eine einen einem einer und oder zu im in am an auf für mit von ist sind
sie ich du wir ihr es wie wann wo was welche welcher welches wieviel wie viel kann können könnt habt haben
hat hallo danke bitte gibt es euch ihnen
هل في من على ما ماذا متى اين أين كم عن الى إلى انتم أنتم لديكم هو هي مع او أو و يا
"""

# Past forms that the stemmer would take for another verb's stem ("found" -> "found", as in
# "founded"), or leave apart from their own verb ("built" and "build").
_IRREGULAR = {
    "found": "find", "built": "build", "sent": "send", "spent": "spend", "held": "hold", "told": "tell",
    "sold": "sell", "thought": "think", "bought": "buy", "brought": "bring", "caught": "catch", "taught": "teach",
    "wrote": "write", "written": "write", "chose": "choose", "chosen": "choose", "knew": "know", "known": "know",
    "took": "take", "taken": "take", "gave": "give", "given": "give", "went": "go", "gone": "go", "came": "come",
    "became": "become", "made": "make", "paid": "pay", "said": "say", "kept": "keep", "ran": "run",
    "began": "begin", "begun": "begin", "lost": "lose", "met": "meet", "led": "lead", "ate": "eat",
    "eaten": "eat", "drove": "drive", "driven": "drive", "forgot": "forget", "forgotten": "forget",
}

# Characters that make a CJK pair useless as a search term (particles, pronouns, "do you have").
_CJK_STOP = frozenset("的了吗嗎呢吧么麼是你您我们們他她它这這那哪有在和与與及请請问問能可以会會要")


_MARKS = dict.fromkeys(c for c in range(0x10000) if unicodedata.combining(chr(c)))


def _plain(text: str) -> str:
    if text.isascii():
        return text.lower()
    return unicodedata.normalize("NFKD", text).translate(_MARKS).casefold()


STOPWORDS = frozenset(_plain(word) for word in _STOPWORDS.split())


@functools.lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    if _ARABIC.search(word):
        return _arabic.stemWord(word.translate(_ARABIC_LETTERS))
    if word.isascii() and word.isalpha():
        return _english.stemWord(_IRREGULAR.get(word, word))
    return word


def _pairs(run: str) -> list[str]:
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


def _split_identifiers(text: str) -> str:
    """``bodyLimit`` becomes ``bodyLimit body Limit`` and ``V5`` ``V5 V 5``: an identifier
    matches its words too."""
    if _CAMEL_HINT.search(text):
        text = _CAMEL.sub(lambda match: f"{match[0]} {_HUMP.sub(' ', match[0])}", text)
    if _NUMBERED_HINT.search(text):
        text = _NUMBERED.sub(lambda match: f"{match[0]} {match[1]} {match[2]}", text)
    return text


def words(text: str) -> list[str]:
    """The words of ``text`` as they are indexed: plain (no accents, lower case), identifiers
    with their parts."""
    return _WORD.findall(_plain(_split_identifiers(text)))


def terms(text: str) -> list[str]:
    """Every term of ``text``, in order, repeats kept (for the index)."""
    return terms_of(words(text))


def terms_of(plain_words: list[str]) -> list[str]:
    """The terms of words that :func:`words` gave."""
    if all(map(str.isascii, plain_words)):  # most pages: no character pairs to make
        return list(map(_stem, plain_words))
    found: list[str] = []
    for word in plain_words:
        if not word.isascii() and _CJK.search(word):
            for part in re.split(f"({_CJK.pattern})", word):
                if not part:
                    continue
                found.extend(_pairs(part) if _CJK.fullmatch(part) else [_stem(part)])
        else:
            found.append(_stem(word))
    return found


def query_words(text: str) -> list[tuple[str, str]]:
    """The distinct terms of a question, each with the word it comes from (to correct a
    misspelling), stopwords and particle pairs left out."""
    chosen: dict[str, str] = {}
    for word in _WORD.findall(_plain(_split_identifiers(text))):
        if word in STOPWORDS:
            continue
        for term in terms(word):
            if _CJK.match(term) and (len(term) == 1 or any(c in _CJK_STOP for c in term)):
                continue
            chosen.setdefault(term, word)
    return [(word, term) for term, word in chosen.items()]


def compounds(text: str) -> dict[str, tuple[str, ...]]:
    """Each pair of neighbouring words of a question written as one word, by its term, with the
    terms of the two words it joins ("times out": ``timeout`` for ``time``, ``out``; "log in":
    ``login``; "data base": ``databas``): a page writes "timeout" where a visitor writes "time out".
    A pair whose first word is a stopword ("can not", "a head") makes none."""
    found: dict[str, tuple[str, ...]] = {}
    plain = [w for w in _WORD.findall(_plain(text)) if w.isascii() and w.isalpha()]
    for first, second in itertools.pairwise(plain):
        if first in STOPWORDS:
            continue
        parts = tuple(_stem(w) for w in (first, second) if w not in STOPWORDS)
        for joined in {first + second, _stem(first) + second}:  # "times out": "timesout", "timeout"
            found.setdefault(_stem(joined), parts)
    return found


_DICTIONARY_LANGUAGES = ("en", "es", "fr", "de")
_COMMON = 100
"""Occurrences in pyspellchecker's word lists (subtitles) from which a word counts as a real word."""


@functools.cache
def dictionary() -> tuple[frozenset[str], frozenset[str]]:
    """The real words of English, and those of Spanish, French and German that are not English,
    accents dropped (~110,000 words, read once per process, about a second)."""
    from spellchecker import SpellChecker

    found: dict[str, set[str]] = {}
    for language in _DICTIONARY_LANGUAGES:
        counts = SpellChecker(language=language, distance=1).word_frequency.dictionary
        found[language] = {_plain(word) for word, count in counts.items() if count >= _COMMON}
    english = frozenset(found.pop("en"))
    return english, frozenset(set().union(*found.values()) - english)


def is_word(word: str) -> bool:
    """Whether ``word`` (plain, as :func:`query_words` gives it) is a real word, not a misspelling:
    a real word is never "corrected" into another."""
    english, foreign = dictionary()
    return word in english or word in foreign


def distance(a: str, b: str) -> int:
    """Damerau-Levenshtein distance (adjacent swaps count once), stopping early beyond 2."""
    if abs(len(a) - len(b)) > 2:
        return 3
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[-1]


def misspelt(word: str, english: bool) -> bool:
    """Whether ``word`` may be a misspelling to correct: not a real word; or, in a question asked
    in English (``english``), a word only Spanish, French or German has ("loger" for "logger")."""
    known, foreign = dictionary()
    return word not in known and (english or word not in foreign)


def is_foreign(word: str) -> bool:
    """Whether ``word`` is Spanish, French or German and not English: on an English site it
    cannot be on the page, so its absence says nothing about the topic."""
    return word in dictionary()[1]


_SENTENCE_END = ".?!¿¡:;"
_ACRONYM_MIN = 3
"""Fewest letters of a name written in capitals: "PM", "UK", "ID" are too often common words."""


def names(text: str) -> set[str]:
    """The words (plain) a question uses as names: capitalised other than at a sentence's start
    ("Heroku", "Google Sheets") or written in capitals, three letters or more and not a word
    ("ORM", not "PM" or "OK"). None in a question in Spanish, French or German (German
    capitalises every noun) or in one whose informative words are all capitalised (title case,
    all capitals)."""
    found: set[str] = set()
    lower = False
    foreign = 0  # words only Spanish, French or German has: one capitalised may be a name ("Starlette")
    previous = 0  # where the last word ended: what lies between says whether a sentence starts
    for match in _WORD.finditer(text):
        word, plain = match[0], _plain(match[0])
        gap = text[previous : match.start()].rstrip()
        starts = gap[-1] in _SENTENCE_END if gap else previous == 0
        previous = match.end()
        if is_foreign(plain):
            foreign += 1
            if foreign > 1 or word.lower() == word:  # a question in another language
                return set()
        if plain in STOPWORDS:
            continue
        if word.lower() == word:
            lower = True
            continue
        if word.isupper() and (len(word) < _ACRONYM_MIN or is_word(plain)):
            continue
        if starts and not (len(word) > 1 and word.isupper()):
            continue
        found.add(plain)
    return found if lower else set()


def query_terms(text: str) -> list[str]:
    """The distinct terms of a question, stopwords and particle pairs left out."""
    return [term for _, term in query_words(text)]


def is_cjk(term: str) -> bool:
    return bool(_CJK.match(term))


def spelled(text: str, seen: set[str] | None = None) -> set[tuple[str, str]]:
    """Each word of ``text`` long enough to be misspelt, with its term: (``"transactions"``,
    ``"transact"``). Misspellings are corrected against words as written, then stemmed.
    Words in ``seen`` are skipped, and the others added to it."""
    return spelled_words(set(_WORD.findall(_plain(text))), seen)


def spelled_words(found: set[str], seen: set[str] | None = None) -> set[tuple[str, str]]:
    """:func:`spelled` of words already found (plain)."""
    if seen is not None:
        found -= seen
        seen |= found
    return {(word, _stem(word)) for word in found if len(word) >= TYPO_MIN and word.isalpha() and not _CJK.search(word)}


_SOUND_MIN = 3
"""Fewest sounds (Metaphone letters) a word's code must have to find words by it: "RT" (write,
right, rate) finds too many."""


def sounds(word: str) -> str:
    """How an English word (plain, ASCII letters) sounds, as its Metaphone code ("MKRXN" for
    "migration" and "migrashun"); "" for other words and short codes."""
    if not (word.isascii() and word.isalpha()):
        return ""
    code = jellyfish.metaphone(word)
    return code if len(code) >= _SOUND_MIN else ""
