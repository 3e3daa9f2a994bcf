"""Translating handoff messages between the visitor's language and the operator's, through the
configured provider chain, and telling the two languages apart.

A language is its primary subtag (``pt-BR`` and ``pt`` are one language). The visitor's is the
chat's ``locale`` when the widget sends one, else a guess from their text by script (Arabic,
Cyrillic, Greek, Hebrew, CJK, Hangul, Thai, Devanagari) or by the common words of a few
languages written in Latin letters; no guess, no translation (and the message says so).
"""

from __future__ import annotations

import asyncio
import contextlib
import re

import structlog

from chatkit_core.chat.chain import Chain, ChainFailed, Finished, Started
from chatkit_core.chat.providers import ChatMessage, ChatRequest
from chatkit_core.chat.sanitize import Sanitizers, model_text

log = structlog.get_logger("chatkit.translate")

NAMES = {"en": "English", "fr": "French", "de": "German", "es": "Spanish", "it": "Italian", "pt": "Portuguese",
         "nl": "Dutch", "pl": "Polish", "ru": "Russian", "uk": "Ukrainian", "ar": "Arabic", "he": "Hebrew",
         "zh": "Chinese", "ja": "Japanese", "ko": "Korean", "tr": "Turkish", "sv": "Swedish", "el": "Greek",
         "hi": "Hindi", "th": "Thai"}

_SCRIPTS = (("ar", "[\u0600-\u06ff]"), ("he", "[\u0590-\u05ff]"), ("el", "[\u0370-\u03ff]"),
            ("ru", "[\u0400-\u04ff]"), ("ja", "[\u3040-\u30ff]"), ("ko", "[\uac00-\ud7af]"),
            ("zh", "[\u4e00-\u9fff]"), ("th", "[\u0e00-\u0e7f]"), ("hi", "[\u0900-\u097f]"))
_WORDS = {
    "en": "the and is are you your what how can my with this that for have not please thanks",
    "fr": "le la les des est vous je mon ma et une pour pas avec bonjour merci que qui",
    "de": "der die das und ist ich sie nicht mit ein eine mein bitte danke haben wie",
    "es": "el la los las y es que de por para con mi una hola gracias cómo tengo",
    "it": "il lo gli e che di per con una mio sono ciao grazie come non ho",
    "pt": "o os as e que de para com uma meu não olá obrigado como tenho você",
    "nl": "de het een en is ik niet met mijn voor hoe dank wat jij u",
}
_WORD_SETS = {language: set(words.split()) for language, words in _WORDS.items()}
_TOKEN = re.compile(r"[^\W\d_]+")
MAX_TRANSLATION_FACTOR = 4
"""A translation longer than this many times its original is not one (a model that chatted instead)."""


def language(tag: str) -> str:
    return tag.replace("_", "-").split("-")[0].lower()


def guess(text: str) -> str:
    """The language of ``text`` when its script or words say it clearly, else ""."""
    for code, script in _SCRIPTS:
        if re.search(script, text):
            return code
    words = [w.lower() for w in _TOKEN.findall(text)]
    scores = {code: sum(w in found for w in words) for code, found in _WORD_SETS.items()}
    best = max(scores, key=lambda code: scores[code])
    ranked = sorted(scores.values(), reverse=True)
    return best if ranked[0] >= 2 and ranked[0] > ranked[1] else ""


def differ(one: str, other: str) -> bool:
    """Both languages are known and are not the same."""
    return bool(one and other) and language(one) != language(other)


class Translator:
    """One message at a time through the chain, bounded in time; None when it could not be done."""

    def __init__(self, chain: Chain, sanitizers: Sanitizers, timeout: float = 20.0) -> None:
        self.chain = chain
        self.sanitizers = sanitizers
        self.timeout = timeout
        self.models = {p.name for p in chain.providers if p.generates and not p.example}

    @property
    def available(self) -> bool:
        """A provider of the chain is a language model (a canned or quoting one cannot translate)."""
        return bool(self.models)

    async def translate(self, text: str, target: str) -> str | None:
        name = NAMES.get(language(target), target)
        request = ChatRequest(messages=[
            ChatMessage("system", f"Translate the user's message into {name}. Reply with the translation only: "
                                  "no notes, no quotes, nothing else."),
            ChatMessage("user", model_text(text))])
        parts: list[str] = []
        started: Started | None = None
        try:
            async with asyncio.timeout(self.timeout), contextlib.aclosing(
                    self.chain.stream(request, buffered=True)) as events:
                async for event in events:
                    if isinstance(event, Started):
                        started, parts = event, []
                    elif isinstance(event, str):
                        parts.append(event)
                    elif isinstance(event, Finished):
                        break
        except (ChainFailed, TimeoutError) as error:
            log.warning("translation_failed", reason=type(error).__name__)
            return None
        translated = self.sanitizers.clean_output("".join(parts)).strip()
        if started is None or started.provider not in self.models or not translated:
            return None
        if len(translated) > MAX_TRANSLATION_FACTOR * len(text) + 40:
            return None
        return translated
