"""The visitor's language, for the answers the extractive provider writes itself."""

from __future__ import annotations

import re

from chatkit_knowledge.text import _plain

NOT_FOUND = {
    "en": "I could not find that on this site.",
    "es": "No he encontrado eso en este sitio.",
    "fr": "Je n'ai pas trouvé cela sur ce site.",
    "de": "Das habe ich auf dieser Website nicht gefunden.",
    "zh": "我在本网站上没有找到相关信息。",
    "ar": "لم أجد ذلك في هذا الموقع.",
}
SOURCE = {"en": "Source", "es": "Fuente", "fr": "Source", "de": "Quelle", "zh": "来源", "ar": "المصدر"}

_HINTS = {
    "es": "el la los las que qué como cómo cuando cuándo donde dónde hay tienen abren abierto precio cuanto "
          "cuánto cuesta puedo pedir tarta pastel domingo sabado sábado horario envio envío hacen ustedes por para",
    "fr": "le la les des est vous que quel quelle quels quand où combien comment ouvert ouvrez prix gâteau "
          "dimanche samedi livrez livraison pouvez faites avez une du",
    "de": "der die das ist ihr sie habt haben wann wo wie viel kostet geöffnet offen kuchen torte sonntag "
          "samstag liefert lieferung kann ich bestellen gibt es euch und",
    "en": "the is are you your do does what when where how much open cake price deliver order can have",
}
_LETTERS = {"es": "¿¡ñ", "fr": "çèêœë", "de": "ßäöü"}
_WORDS = {lang: {_plain(word) for word in words.split()} for lang, words in _HINTS.items()}


def asked_in_english(question: str) -> bool:
    """Whether ``question`` shows English words ("the", "how", "can") and no more of another
    language's: its words that only Spanish, French or German have are then misspellings."""
    scores = _scores(question)
    return scores["en"] > 0 and scores["en"] >= max(scores.values())


def language(locale: str, question: str) -> str:
    """``locale``'s language when it is one we speak, else a guess from the question."""
    tag = locale.replace("_", "-").split("-")[0].lower()
    if tag in NOT_FOUND:
        return tag
    if re.search(r"[\u0600-\u06ff]", question):
        return "ar"
    if re.search(r"[\u3400-\u9fff\u3040-\u30ff]", question):
        return "zh"
    scores = _scores(question)
    best = max(scores, key=lambda lang: scores[lang])
    return best if scores[best] > scores["en"] else "en"


def _scores(question: str) -> dict[str, int]:
    """Each language's hint words in ``question``, and twice its letters (ñ, ç, ß…)."""
    words = re.findall(r"[^\W\d_]+", _plain(question))
    scores = {lang: sum(word in hints for word in words) for lang, hints in _WORDS.items()}
    for lang, letters in _LETTERS.items():
        scores[lang] += 2 * sum(letter in letters for letter in question.lower())
    return scores
