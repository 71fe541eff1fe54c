"""Which language a text is in: a document's, detected once at ingest, and a question's or a sentence's.

Why py3langid: it is small (a 3 MB model inside the wheel, nothing fetched at run time), needs only
numpy, takes about 0.05 ms for a question, is BSD-licensed and still maintained. On the XQuAD
questions it names the language of 99% of them (the rest go to a close neighbour: Luxembourgish for
German, Wu for Mandarin, Nepali for Hindi, which :data:`_SAME_AS` folds back).

A document has plenty of text, so its language comes from the detector alone. A question or a single
sentence is short, so there the script decides first (Han, Cyrillic, Greek, Arabic and Devanagari each
point to one language citebot analyses), and Latin text counts as English unless the detector is
sure of another language: English text must be tokenised exactly as before languages were detected,
and an English question that looked French would lose its matches.

Codes are ISO 639-1 (``en``, ``de``, ``zh``...).
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from py3langid.langid import LanguageIdentifier

log = logging.getLogger(__name__)

#: The language assumed when a text says too little (and of every index built before detection).
DEFAULT = "en"
#: Close relatives the detector names for a language citebot handles as that language.
_SAME_AS = {"wuu": "zh", "yue": "zh", "arz": "ar", "ary": "ar", "lb": "de", "nn": "no", "gug": "es"}
#: Characters a document needs before its language is worth detecting (a title or a label is not).
_MIN_DOCUMENT_LETTERS = 40
#: Characters of a document the detector reads: its opening pages say what it is written in.
_SAMPLE_CHARS = 20_000
#: How sure the detector must be before a document counts as other than English.
_SURE_DOCUMENT = 0.9
#: How sure the detector must be before a short Latin-script text counts as other than English.
_SURE = 0.95
#: Letters a short Latin-script text needs before the detector is asked at all.
_MIN_LATIN_LETTERS = 10
#: Latin-script languages a short text may be taken for (those citebot stems, English included).
_LATIN = ("en", "de", "es", "fr", "it", "pt", "nl", "sv", "da", "no", "fi", "ro", "hu", "tr", "ca", "id")
_LETTERS = re.compile(r"[^\W\d_]+")
_CODE_NOISE = re.compile(r"`[^`\n]*`|https?://\S+|\S+@\S+|[\w./-]*[/_][\w./-]*")


@lru_cache(maxsize=1)
def _identifier() -> LanguageIdentifier:
    """The detector, loaded once (about 0.6 s) on first use, never at import."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def _code(label: str) -> str:
    return _SAME_AS.get(label, label)


def script_language(text: str) -> str | None:
    """The language a text's letters point to by script alone, or None for Latin or mixed text.

    Han and kana count as Chinese (``zh``: both are cut into character pairs), Cyrillic as Russian,
    Greek as Greek, Arabic script as Arabic and Devanagari as Hindi, when they are most of the letters.
    """
    if text.isascii():
        return None
    counts: dict[str, int] = {}
    letters = 0
    for ch in text:
        if not ch.isalpha():
            continue
        letters += 1
        script = _script(ch)
        if script is not None:
            counts[script] = counts.get(script, 0) + 1
    if not counts:
        return None
    script, n = max(counts.items(), key=lambda kv: kv[1])
    return script if n * 2 > letters else None


def _script(ch: str) -> str | None:
    o = ord(ch)
    if 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0x3040 <= o <= 0x30FF or 0xF900 <= o <= 0xFAFF:
        return "zh"
    if 0x0400 <= o <= 0x04FF:
        return "ru"
    if 0x0370 <= o <= 0x03FF or 0x1F00 <= o <= 0x1FFF:
        return "el"
    if 0x0600 <= o <= 0x06FF or 0x0750 <= o <= 0x077F or 0xFB50 <= o <= 0xFEFF:
        return "ar"
    if 0x0900 <= o <= 0x097F:
        return "hi"
    return None


def detect_document(text: str) -> str:
    """The language of a document's text (its first pages); :data:`DEFAULT` when it says too little.

    Code, links and paths are left out first: a page of commands would otherwise look like anything.
    """
    sample = _CODE_NOISE.sub(" ", text[:_SAMPLE_CHARS])
    if sum(ch.isalpha() for ch in sample) < _MIN_DOCUMENT_LETTERS:
        return script_language(sample) or DEFAULT  # a few words of Chinese still say Chinese
    totals: dict[str, float] = {}
    for label, probability in _identifier().rank(sample):  # close relatives count as one language
        code = _code(str(label))
        totals[code] = totals.get(code, 0.0) + float(probability)
    code, probability = max(totals.items(), key=lambda kv: kv[1])
    if code == DEFAULT or probability >= _SURE_DOCUMENT:
        return code
    return script_language(sample) or DEFAULT  # unsure between languages of one script: the script's


def guess_short(text: str) -> str:
    """The language of a question or a sentence: by script, else English unless surely another.

    For Latin text only the Latin-script languages citebot stems are candidates, and another one than
    English is taken only when the detector gives it at least 95%: a short English text taken for
    French would be stemmed as French and lose its matches with English documents.
    """
    by_script = script_language(text)
    if by_script is not None:
        return by_script
    words = _LETTERS.findall(text.lower())
    only = _only_function_words_of(words)
    if only is not None:
        return only
    if sum(ch.isalpha() for ch in text) < _MIN_LATIN_LETTERS or _mostly_english_words(words):
        return DEFAULT
    ranked = _identifier().rank(text)
    latin = [(label, p) for label, p in ranked if label in _LATIN]
    total = sum(p for _, p in latin)
    if not latin or total <= 0:
        return DEFAULT
    label, p = latin[0]
    return str(label) if label != DEFAULT and p / total >= _SURE else DEFAULT


def may_be_in(text: str, language: str, guess: str | None = None) -> bool:
    """Whether a short text could be in ``language``, which a document it is matched with is in.

    Looser than :func:`guess_short`, which takes English unless sure of another language: a Spanish
    question that guess took for English is still in Spanish here when the detector, asked about only
    those two, leans to Spanish. Text in another script than ``language``'s is not in it. ``guess`` is
    ``guess_short(text)`` when the caller has it already.
    """
    guess = guess_short(text) if guess is None else guess
    if guess == language:
        return True
    if script_language(text) is not None or language not in _LATIN:
        return False  # the text is in another script, or ``language`` is written in its own
    both = {guess: 0.0, language: 0.0}
    for label, probability in _identifier().rank(text):
        code = _code(str(label))
        if code in both:
            both[code] += float(probability)
    return both[language] >= both[guess]


def _only_function_words_of(words: list[str]) -> str | None:
    """The one language other than English whose function words all of a short text's words are.

    "¿Cuántos" or "Quién" alone (a question word the ranker takes for a name) is Spanish, where it is a
    stop word; anything with a word English uses, or of several languages, is None.
    """
    if not words or len(words) > 3:
        return None
    index = _function_word_languages()
    common: set[str] | None = None
    for w in words:
        langs = index.get(w, frozenset())
        if DEFAULT in langs:
            return None
        common = set(langs) if common is None else common & langs
    return next(iter(common)) if common is not None and len(common) == 1 else None


def _mostly_english_words(words: list[str]) -> bool:
    """True when at least as many of these words are English function words as of any other language.

    This settles most English questions, and code, names and table rows, without the detector (a second
    to load on a cold start, and a tenth of a millisecond a text: the ranker tokenises hundreds).
    """
    index = _function_word_languages()
    counts: dict[str, int] = {}
    for w in words:
        for lang in index.get(w, ()):
            counts[lang] = counts.get(lang, 0) + 1
    english = counts.pop(DEFAULT, 0)
    other = max(counts.values(), default=0)
    return english >= other


@lru_cache(maxsize=1)
def _function_word_languages() -> dict[str, frozenset[str]]:
    """Each function word of :func:`_function_words`, with the languages it is one of."""
    out: dict[str, set[str]] = {}
    for lang, words in _function_words().items():
        for w in words:
            out.setdefault(w, set()).add(lang)
    return {w: frozenset(langs) for w, langs in out.items()}


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: Question words, which bm25s's stop-word lists lack but which carry no topic either.
QUESTION_WORDS = {
    "de": _words(
        "wer wen wem wessen was wo wohin woher wann wie warum weshalb wieso welche welcher "
        "welches welchen welchem wieviel wieviele viele"
    ),
    "es": _words(
        "qué quién quiénes cuál cuáles cuánto cuánta cuántos cuántas dónde adónde cuándo cómo por porqué"
    ),
    "fr": _words(
        "qui que quoi quel quelle quels quelles où quand comment pourquoi combien lequel "
        "laquelle lesquels lesquelles"
    ),
    "it": _words("chi che cosa quale quali quanto quanta quanti quante dove quando come perché"),
    "pt": _words("quem que qual quais quanto quanta quantos quantas onde quando como porque porquê"),
    "nl": _words("wie wat welke welk waar wanneer hoe waarom hoeveel"),
}


@lru_cache(maxsize=1)
def _function_words() -> dict[str, frozenset[str]]:
    """bm25s's stop-word lists of the Latin-script languages that have one, with their question words."""
    import bm25s.stopwords as lists

    names = {
        "en": "STOPWORDS_EN",
        "de": "STOPWORDS_GERMAN",
        "es": "STOPWORDS_SPANISH",
        "fr": "STOPWORDS_FRENCH",
        "it": "STOPWORDS_ITALIAN",
        "pt": "STOPWORDS_PORTUGUESE",
        "nl": "STOPWORDS_DUTCH",
        "sv": "STOPWORDS_SWEDISH",
        "da": "STOPWORDS_DANISH",
        "no": "STOPWORDS_NORWEGIAN",
        "tr": "STOPWORDS_TURKISH",
    }
    return {
        code: frozenset(getattr(lists, name)) | QUESTION_WORDS.get(code, frozenset())
        for code, name in names.items()
    }


def name(code: str | None) -> str:
    """A language code as people read it in ``citebot stats`` (the code itself when unknown)."""
    if not code:
        return "unknown"
    return _NAMES.get(code, code)


_NAMES = {
    "en": "English",
    "de": "German",
    "es": "Spanish",
    "fr": "French",
    "it": "Italian",
    "pt": "Portuguese",
    "nl": "Dutch",
    "ru": "Russian",
    "zh": "Chinese",
    "ja": "Japanese",
    "ko": "Korean",
    "ar": "Arabic",
    "hi": "Hindi",
    "el": "Greek",
}
