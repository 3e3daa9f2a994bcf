"""Turning text into search terms, the same way for pages and for questions.

Terms are computed here rather than by SQLite's tokenizer so that indexing, querying and
scoring agree exactly: the FTS5 table receives text that is already split into terms
(``unicode61 remove_diacritics 2`` then only splits on the spaces and lowercases again).

- accents, case and Arabic vowel marks do not matter (NFKD, combining marks dropped);
- Latin-script words are stemmed with the English Snowball stemmer ("cakes", "cake"),
  Arabic words with the Arabic one;
- Chinese, Japanese and Korean runs, written without spaces, become overlapping character
  pairs ("营业时间" -> 营业 业时 时间), a single character stays itself;
- questions lose their stopwords ("what", "are", "you", "el", "的"...), which carry nothing
  about the topic and would let any page look like a match.
"""

from __future__ import annotations

import functools
import re
import unicodedata

import snowballstemmer

_WORD = re.compile(r"[^\W_]+")
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
        return _english.stemWord(word)
    return word


def _pairs(run: str) -> list[str]:
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


def terms(text: str) -> list[str]:
    """Every term of ``text``, in order, repeats kept (for the index)."""
    found: list[str] = []
    for word in _WORD.findall(_plain(text)):
        if _CJK.search(word):
            for part in re.split(f"({_CJK.pattern})", word):
                if not part:
                    continue
                found.extend(_pairs(part) if _CJK.fullmatch(part) else [_stem(part)])
        else:
            found.append(_stem(word))
    return found


def query_terms(text: str) -> list[str]:
    """The distinct terms of a question, stopwords and particle pairs left out."""
    words = [w for w in _WORD.findall(_plain(text)) if w not in STOPWORDS]
    chosen: dict[str, None] = {}
    for term in terms(" ".join(words)):
        if _CJK.match(term) and (len(term) == 1 or any(c in _CJK_STOP for c in term)):
            continue
        chosen[term] = None
    return list(chosen)


def is_cjk(term: str) -> bool:
    return bool(_CJK.match(term))


def indexable(text: str) -> str:
    """``text`` as the space-separated terms the FTS5 table stores."""
    return " ".join(terms(text))
