"""Properties of segmentation and decoding over arbitrary text: offsets are exact, nothing crashes."""

from __future__ import annotations

import codecs
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from retrieval.errors import DocumentError
from retrieval.ingest.loaders import decode_bytes, load_file
from retrieval.ingest.segment import segment

# Prose-like pieces mixed with arbitrary unicode, so pysbd meets abbreviations, quotes, numbers and
# stops of other scripts, not only noise.
_PIECES = st.sampled_from(
    [
        "Dr. Smith arrived at 5 p.m. on Monday.",
        " ",
        "  ",
        "\n",
        "\n\n",
        "\r\n",
        "\t",
        "U.S.",
        "e.g.",
        "...",
        "?!",
        "“Quoted,” she said.",
        "(see p. 4)",
        "3.5",
        "北京是中国的首都。",
        "ここです！",
        "مرحبا؟",
        "है।",
        "Ünïcödé wörds.",
        "\u200b",
        "\u202e",
        "🙂",
        "a" * 120,
        "word " * 40,
        "# Heading",
        "- item",
        "…",
    ]
)
_TEXT = st.lists(st.one_of(_PIECES, st.text(max_size=40)), max_size=40).map("".join)
_PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _check_segmentation(text: str, max_sentence_chars: int = 1000) -> None:
    seg = segment(text, max_sentence_chars=max_sentence_chars)
    previous_end = 0
    for i, s in enumerate(seg.sentences):
        assert s.idx == i
        assert 0 <= previous_end <= s.start < s.end <= len(text)
        assert text[s.start : s.end] == s.text
        assert s.text == s.text.strip() and s.text
        assert len(s.text) <= max_sentence_chars
        previous_end = s.end


@_PROPS
@given(_TEXT)
@example("北京是中国的首都。它有三千多年的历史。长城位于北京附近。")
@example("\u0000\x85\u2028\u2029. Line separators\u2028inside. A sentence.")
def test_every_sentence_is_the_slice_of_its_offsets(text):
    """For any unicode text, sentences are ordered, disjoint, trimmed, and text == doc[start:end]."""
    _check_segmentation(text)


@_PROPS
@given(st.text(min_size=1, max_size=3000))
def test_long_and_noisy_text_keeps_exact_offsets(text):
    """Long unpunctuated or noisy text is cut to the sentence limit with exact offsets."""
    _check_segmentation(text * 3, max_sentence_chars=100)


_NO_NUL = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=300)


@_PROPS
@given(_NO_NUL, st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le-bom", "utf-16-be-bom"]))
def test_decoding_returns_the_text_that_was_encoded(text, encoding):
    """UTF-8 (with or without BOM) and UTF-16 with a BOM decode back to exactly the original text."""
    if encoding == "utf-8" and text.startswith("\ufeff"):
        text = text[1:]  # a leading U+FEFF is a BOM by definition
    if encoding == "utf-16-le-bom":
        data = codecs.BOM_UTF16_LE + text.encode("utf-16-le")
    elif encoding == "utf-16-be-bom":
        data = codecs.BOM_UTF16_BE + text.encode("utf-16-be")
    else:
        data = text.encode(encoding)
    assert decode_bytes(data, "doc") == text


@_PROPS
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_decode_or_fail_clearly(data):
    """Any bytes give text or a DocumentError naming the file, never another exception."""
    try:
        text = decode_bytes(data, "doc.txt")
    except DocumentError as exc:
        assert str(exc).startswith("doc.txt: ")
    else:
        assert isinstance(text, str)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_TEXT)
def test_citations_of_a_utf8_file_match_read_text(text):
    """Load + segment a UTF-8 file: each sentence equals Path.read_text()[start:end] of the file itself."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "doc.txt"
        path.write_bytes(text.encode("utf-8"))
        try:
            loaded = load_file(path, 10_000_000)
        except DocumentError:
            # Only control characters (a sign of a binary file) make a text file unreadable.
            assert any((ord(c) < 32 and c not in "\t\n\r\x0b\x0c") or c == "\x7f" for c in text)
            return
        on_disk = path.read_text(encoding="utf-8-sig")
        assert loaded.text == on_disk
        for s in segment(loaded.text).sentences:
            assert on_disk[s.start : s.end] == s.text
