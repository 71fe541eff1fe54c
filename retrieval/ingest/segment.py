"""Split a document's text into citable sentences with exact character offsets, and group them into chunks.

Only prose is citable. Page furniture (a lone "Advertisement", "Published", a menu label, a headline)
sits in blocks of its own without sentence punctuation; such blocks are skipped, and the first
headline-like one becomes the document's title when the file gave none.

Sentences are split by pysbd's rules for the document's language (:func:`splitting_in`, set while a
file is parsed once its language is known): German "z. B." and "am 3. Oktober" don't end a sentence,
Greek ends a question with ";", Hindi has stops of its own. English, and any language without rules
here (:data:`SPLIT_LANGUAGES`), use the English rules, exactly as before languages were detected.
"""

from __future__ import annotations

import bisect
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pysbd

log = logging.getLogger(__name__)

_BLOCK_SPLIT = re.compile(r"\n[ \t\f\v]*\n")
_WORD = re.compile(r"\w+")
_TERMINAL = re.compile(r"""[.!?…:;。！？；：؟।॥]["'”’»)\]」』）]*\s*$""")
# Full stops of scripts written without spaces (Chinese, Japanese) or that pysbd's English rules don't
# know (Arabic, Devanagari): a sentence ends after one, closing quotes included.
_OTHER_STOP = re.compile(r"""[。！？؟।॥]+["'”’»)\]」』）]*""")
# Ideographs, kana and hangul: each counts as a word, since these scripts don't put spaces between words.
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]")
_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+")
# Inline code (`.env`, ``ctx.send``), reST roles (:class:`.Context`) and Markdown attribute lists
# ({.internal-link target=_blank}): pysbd may end a sentence at a dot inside them, never a sentence's end.
_CODE_SPAN = re.compile(r"``[^`]+?``|`[^`\n]+`|\{:?[ \t]*[.#][^{}\n]*\}")
# A reST link (`Check the example. <https://...>`_): its words are one citation, sentence ends and all.
_REST_LINK = re.compile(r"`[^`\n]+<[^<>`\n]+>`__?")
# Blocks longer than this are cut before pysbd sees them: its rules slow down badly on long inputs.
_MAX_PIECE = 5000
# Without sentence punctuation, a block needs this many words to count as prose.
_MIN_UNPUNCTUATED_WORDS = 25


@dataclass(frozen=True, slots=True)
class Sentence:
    """One citable sentence: ``text == document_text[start:end]``."""

    idx: int
    start: int
    end: int
    text: str
    block: int = 0  # the number of the paragraph holding it, among the prose paragraphs


@dataclass(frozen=True, slots=True)
class Segmented:
    """A document cut into sentences, with the title its text suggests (ingest/layout.py chunks them)."""

    sentences: list[Sentence]
    title: str | None


#: Languages whose pysbd sentence rules are used (ISO 639-1 codes), English included. Not Arabic:
#: pysbd's Arabic rules end a sentence at every "،" and ":", and on XQuAD's Arabic articles those clause
#: units dropped cite@1 from 0.30 to 0.19 (English rules, which also end at "؟", are kept for it).
SPLIT_LANGUAGES = frozenset(
    {"en", "am", "bg", "da", "de", "el", "es", "fa", "fr", "hi", "hy", "it", "ja", "kk", "mr", "my", "nl"}
    | {"pl", "ru", "sk", "ur", "zh"}
)
_LANGUAGE: ContextVar[str] = ContextVar("citebot_split_language", default="en")


@contextmanager
def splitting_in(language: str | None) -> Iterator[None]:
    """Split sentences by ``language``'s rules inside this block (English's for one pysbd lacks)."""
    token = _LANGUAGE.set(language if language in SPLIT_LANGUAGES else "en")
    try:
        yield
    finally:
        _LANGUAGE.reset(token)


@lru_cache(maxsize=8)
def _segmenter(language: str = "en") -> pysbd.Segmenter:
    import pysbd

    return pysbd.Segmenter(language=language, clean=False, char_span=False)


def paragraph_spans(text: str) -> list[tuple[int, int]]:
    """Return (start, end) of each non-blank paragraph, whitespace trimmed."""
    spans = []
    pos = 0
    for m in [*_BLOCK_SPLIT.finditer(text), None]:
        end = m.start() if m else len(text)
        s, e = pos, end
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            spans.append((s, e))
        if m:
            pos = m.end()
    return spans


def _word_count(text: str) -> int:
    return len(_WORD.findall(text)) + len(_CJK.findall(text))


def is_prose(block: str) -> bool:
    """Tell prose from furniture: headings, labels, bylines and menus have no sentence punctuation."""
    if _MD_HEADING.match(block):
        return False
    words = _word_count(block)
    if words >= _MIN_UNPUNCTUATED_WORDS:
        return True
    return words >= 3 and bool(_TERMINAL.search(block))


def _pieces(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Cut a long block at line breaks or sentence-looking boundaries so each piece stays short."""
    out = []
    while end - start > _MAX_PIECE:
        window = text[start : start + _MAX_PIECE]
        cut = max(window.rfind("\n"), window.rfind(". "), window.rfind("? "), window.rfind("! "))
        if cut < _MAX_PIECE // 4:
            cut = window.rfind(" ")
        if cut < _MAX_PIECE // 4:
            cut = _MAX_PIECE - 1
        out.append((start, start + cut + 1))
        start += cut + 1
    out.append((start, end))
    return out


def split_long(text: str, start: int, end: int, limit: int) -> list[tuple[int, int]]:
    """Cut a sentence longer than ``limit`` at whitespace: a wall of text is not one citation."""
    spans = []
    while end - start > limit:
        cut = text.rfind(" ", start + limit // 2, start + limit)
        if cut <= start:
            cut = start + limit
        spans.append((start, cut))
        start = cut
    spans.append((start, end))
    return spans


def trim_span(text: str, start: int, end: int) -> tuple[int, int]:
    """Shrink ``[start, end)`` past leading and trailing whitespace, so a unit never starts with a blank."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def sentence_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Locate pysbd's segments of ``text[start:end]`` in the text itself, so offsets are exact."""
    spans = []
    for p_start, p_end in _pieces(text, start, end):
        piece = text[p_start:p_end]
        cursor = 0
        # pysbd's processor alone: Segmenter.segment would also locate each sentence with a regex
        # compiled from the sentence itself, which floods the re module's cache so that pysbd's own
        # patterns are compiled again and again (a third of the time). The find() below locates them.
        for seg in _segmenter(_LANGUAGE.get()).processor(piece).process():
            needle = seg.strip()
            if not needle:
                continue
            found = piece.find(needle, cursor)
            if found < 0:  # pysbd altered the text: keep the rest of the piece as one sentence
                log.debug("segment not found verbatim; keeping the rest of the paragraph whole")
                break
            if found > cursor and piece[cursor:found].strip():
                spans.append((p_start + cursor, p_start + found))
            spans.append((p_start + found, p_start + found + len(needle)))
            cursor = found + len(needle)
        if piece[cursor:].strip():
            spans.append((p_start + cursor, p_end))
    spans = _join_cut_code(text, start, end, spans)
    return [part for s, e in spans for part in _split_other_stops(text, s, e)]


def _join_cut_code(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Join sentences that pysbd cut inside inline code ("Copy the `." | "env` file ...").

    Such a cut leaves no space between the two pieces; a sentence end with a space after it stays one,
    even when a stray backtick makes it look as if it were inside code.
    """
    if len(spans) < 2:
        return spans
    paragraph = text[start:end]
    if "`" not in paragraph and "{" not in paragraph:
        return spans
    code = [(m.start(), m.end()) for m in _CODE_SPAN.finditer(text, start, end)]
    links = [(m.start(), m.end()) for m in _REST_LINK.finditer(text, start, end)]
    out = [spans[0]]
    for s, e in spans[1:]:
        cut = out[-1][1]
        if (s == cut and _inside(code, cut)) or _inside(links, cut):
            out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def _inside(spans: list[tuple[int, int]], at: int) -> bool:
    """True when ``at`` falls strictly inside one of ``spans`` (sorted, not overlapping)."""
    j = bisect.bisect_right(spans, (at, at))  # spans starting after ``at`` come from here on
    return j > 0 and spans[j - 1][0] < at < spans[j - 1][1]


def _split_other_stops(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Cut after "。", "؟", "।" and similar stops that pysbd's English rules leave inside a sentence."""
    spans = []
    for m in _OTHER_STOP.finditer(text, start, end):
        if m.end() < end and text[m.end() : end].strip():
            spans.append((start, m.end()))
            start = m.end()
    spans.append((start, end))
    return spans


def segment(text: str, *, max_sentence_chars: int = 1000) -> Segmented:
    """Split ``text`` into prose sentences with offsets into ``text``."""
    sentences: list[Sentence] = []
    title: str | None = None
    blocks = 0
    for b_start, b_end in paragraph_spans(text):
        block = text[b_start:b_end]
        if not is_prose(block):
            if title is None and not sentences and _word_count(block) >= 3 and "\n" not in block:
                title = _MD_HEADING.sub("", block).strip()
            continue
        first = len(sentences)
        for s, e in sentence_spans(text, b_start, b_end):
            for s2, e2 in split_long(text, *trim_span(text, s, e), max_sentence_chars):
                s2, e2 = trim_span(text, s2, e2)
                if e2 > s2 and _WORD.search(text[s2:e2]):
                    sentences.append(Sentence(len(sentences), s2, e2, text[s2:e2], blocks))
        if len(sentences) > first:
            blocks += 1
    return Segmented(sentences, title)
