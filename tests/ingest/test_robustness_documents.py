"""Hostile documents: each bad file is skipped with a clear reason, and nothing else is lost."""

from __future__ import annotations

import codecs
import json
import logging
import os
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

from retrieval import Settings, ingest
from retrieval.index.core import Index
from retrieval.ingest.loaders import load_file
from tests.conftest import FakeEmbedder

GOOD = "The lighthouse keeper climbed the stairs every night. He trimmed the wick before the storm came.\n"
CITEBOT = Path(sys.executable).with_name("citebot")


def _pdf(text_lines: list[str]) -> bytes:
    """A minimal valid one-page PDF whose page shows ``text_lines`` in Helvetica (xref offsets computed)."""
    ops = ["BT", "/F1 12 Tf", "72 720 Td", "14 TL"]
    for line in text_lines:
        escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        ops.append(f"({escaped}) Tj T*")
    ops.append("ET")
    stream = zlib.compress("\n".join(ops).encode("latin-1"))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Title (Keeper's log) >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 6 0 R >>\n" % (len(objects) + 1)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


HOSTILE: dict[str, bytes] = {
    "empty.txt": b"",
    "only_spaces.md": b"   \n\n\t  \n",
    "binary.txt": bytes(range(256)) * 40,
    "random.pdf": os.urandom(3000),
    "truncated.pdf": _pdf(["Never read."])[:200],
    "not_really.html": b"\x00\x01\x02\x03" * 500,
    "controls.txt": b"\x01\x02\x03\x04\x05\x06\x07\x08\x0e\x0f" * 50,
    "invalid_utf16.txt": codecs.BOM_UTF16_LE + b"\x00\xd8\x00\xd8",  # lone surrogates after a BOM
    "only_headings.md": b"# Title\n\n## Another heading\n",
    "image.png": b"\x89PNG\r\n\x1a\n" + os.urandom(100),
}
READABLE: dict[str, tuple[bytes, str]] = {
    "latin1.txt": (
        "Le café était fermé. Les élèves ont mangé des crêpes à Noël.".encode("latin-1"),
        "Les élèves ont mangé des crêpes à Noël.",
    ),
    "utf16_bom.txt": (
        codecs.BOM_UTF16_LE + "Die Brücke öffnet. Sie schließt spät.".encode("utf-16-le"),
        "Sie schließt spät.",
    ),
    "utf16_no_bom.txt": (
        "The tide turned at noon. Boats left the harbour.".encode("utf-16-be"),
        "Boats left the harbour.",
    ),
    "utf8_bom.md": (
        codecs.BOM_UTF8 + b"Das Wetter war kalt. Der Schnee fiel leise.",
        "Der Schnee fiel leise.",
    ),
    "crlf.txt": (
        b"First line ends here.\r\nSecond line follows it.\r\n\r\nA new paragraph starts now.",
        "A new paragraph starts now.",
    ),
    "chinese.txt": ("北京是中国的首都。它有三千多年的历史。".encode(), "它有三千多年的历史。"),
    "russian.txt": (
        "Москва — столица России. Город основан в 1147 году.".encode(),
        "Город основан в 1147 году.",
    ),
    "arabic.txt": (
        "القاهرة هي عاصمة مصر. يعيش فيها ملايين الناس؟ نهر النيل يمر بها.".encode(),
        "يعيش فيها ملايين الناس؟",
    ),
    "hindi.md": ("दिल्ली भारत की राजधानी है। यह एक बड़ा शहर है।".encode(), "यह एक बड़ा शहर है।"),
    "broken.html": (
        b"<html><head><title>Broken</title><body><p>This paragraph is never closed. It has words."
        b"<div><p>Another unclosed one is here. <b>Bold never ends",
        "It has words.",
    ),
    "deep.html": (b"<div>" * 3000 + b"<p>Deep prose is still found. It is far down.</p>", "It is far down."),
    "good.pdf": (
        _pdf(["The keeper wrote in his log each evening.", "Ships passed the rocks safely."]),
        "Ships passed the rocks safely.",
    ),
}


@pytest.fixture
def hostile_folder(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    root.mkdir()
    (root / "good.txt").write_text(GOOD, encoding="utf-8")
    for name, data in {**HOSTILE, **{k: v[0] for k, v in READABLE.items()}}.items():
        (root / name).write_bytes(data)
    (root / "loop_a.txt").symlink_to(root / "loop_b.txt")
    (root / "loop_b.txt").symlink_to(root / "loop_a.txt")
    (root / "dangling.md").symlink_to(root / "nowhere.md")
    (root / "sub").mkdir()
    (root / "sub" / "back_up").symlink_to(root, target_is_directory=True)  # a folder loop
    return root


def test_hostile_files_are_skipped_with_reasons_and_the_rest_is_indexed(fake_index, hostile_folder, caplog):
    """Every bad file is skipped with a reason naming it; every readable one is indexed, quotes exact."""
    caplog.set_level(logging.WARNING)
    started = time.perf_counter()
    report = ingest(fake_index, [hostile_folder])
    assert time.perf_counter() - started < 60
    skipped = {Path(s).name: reason for s, reason in report.skipped}
    expected_skips = set(HOSTILE) | {"loop_a.txt", "loop_b.txt", "dangling.md"}
    assert set(skipped) == expected_skips, skipped
    assert all(reason and "Traceback" not in reason for reason in skipped.values())
    assert "unsupported file type .png" in skipped["image.png"]
    assert "binary" in skipped["binary.txt"]
    assert "not a readable PDF" in skipped["random.pdf"]
    assert "no prose" in skipped["empty.txt"]
    assert "symbolic links" in skipped["loop_a.txt"] or "cannot be read" in skipped["loop_a.txt"]
    added = {Path(s).name for s in report.added}
    assert added == {"good.txt", *READABLE}
    texts = {t for _, _, t in fake_index.catalog.all_sentences()}
    for name, (_, sentence) in READABLE.items():
        assert sentence in texts, (name, sentence)
    assert any("not UTF-8; read it as cp1252" in r.getMessage() for r in caplog.records)
    assert fake_index.store.count()[0] == fake_index.stats().sentences


def test_citation_offsets_point_into_the_decoded_text(fake_index, hostile_folder):
    """For every indexed file, a sentence's offsets slice exactly its text out of the loaded document."""
    ingest(fake_index, [hostile_folder])
    docs = {d.doc_key: d for d in fake_index.catalog.documents()}
    sentences = fake_index.catalog.sentences_by_rowid([r for r, _, _ in fake_index.catalog.all_sentences()])
    assert sentences
    loaded: dict[str, str] = {}
    for s in sentences.values():
        source = docs[s.doc_key].source
        text = loaded.setdefault(source, load_file(Path(source), 10**8).text)
        assert text[s.start : s.end] == s.text


def test_pdf_title_and_text_are_read(tmp_path):
    """A valid PDF gives its text and its metadata title."""
    path = tmp_path / "log.pdf"
    path.write_bytes(READABLE["good.pdf"][0])
    loaded = load_file(path, 10**6)
    assert loaded.title == "Keeper's log"
    assert "Ships passed the rocks safely." in loaded.text


def test_a_file_that_turns_bad_stops_answering_and_others_stay(fake_index, tmp_path):
    """A document overwritten with garbage is removed (its old text no longer cited); others are kept."""
    root = tmp_path / "docs"
    root.mkdir()
    (root / "good.txt").write_text(GOOD)
    (root / "soon_bad.txt").write_text("The old harbour wall was rebuilt in stone. It still stands today.")
    ingest(fake_index, [root])
    (root / "soon_bad.txt").write_bytes(os.urandom(2000) + b"\x00")
    report = ingest(fake_index, [root])
    assert [Path(s).name for s, _ in report.skipped] == ["soon_bad.txt"]
    texts = {t for _, _, t in fake_index.catalog.all_sentences()}
    assert "It still stands today." not in texts
    assert "He trimmed the wick before the storm came." in texts
    assert fake_index.store.count()[0] == fake_index.stats().sentences == 2


def test_a_50_mb_file_over_the_limit_is_skipped_fast(tmp_path):
    """A real 50 MB file over CITEBOT_MAX_FILE_MB is skipped in well under a second, with the limit named."""
    root = tmp_path / "docs"
    root.mkdir()
    (root / "good.txt").write_text(GOOD)
    with open(root / "huge.txt", "wb") as f:
        line = b"The archive holds many letters from sailors and their families at home.\n"
        f.write(line * (50_000_000 // len(line) + 1))
    assert (root / "huge.txt").stat().st_size >= 50_000_000
    idx = Index(Settings(index_dir=tmp_path / "index", max_file_mb=20), embedder=FakeEmbedder())
    try:
        started = time.perf_counter()
        report = ingest(idx, [root])
        elapsed = time.perf_counter() - started
        assert [(Path(s).name, r) for s, r in report.skipped] == [
            ("huge.txt", "50.0 MB is over the 20 MB limit (CITEBOT_MAX_FILE_MB), skipped")
        ]
        assert [Path(s).name for s in report.added] == ["good.txt"]
        assert elapsed < 30  # hashing nothing, embedding two sentences
    finally:
        idx.close()


def test_a_large_file_under_the_limit_is_indexed_whole(tmp_path):
    """A file just under CITEBOT_MAX_FILE_MB is indexed completely: every sentence is citable."""
    root = tmp_path / "docs"
    root.mkdir()
    paragraphs = [
        f"Letter {i} was written in port number {i % 97}. It asked for news of ship {i}. The reply came late."
        for i in range(1_500)
    ]
    (root / "big.txt").write_text("\n\n".join(paragraphs))
    size = (root / "big.txt").stat().st_size
    limit = Settings(index_dir=tmp_path / "index", max_file_mb=size / 1e6 + 0.01)
    idx = Index(limit, embedder=FakeEmbedder())
    try:
        report = ingest(idx, [root])
        assert [Path(s).name for s in report.added] == ["big.txt"]
        assert idx.stats().sentences == 4_500
        assert idx.store.count()[0] == 4_500
    finally:
        idx.close()


def test_same_content_under_two_names_is_indexed_once_and_both_names_are_known(fake_index, tmp_path):
    """A duplicate is recorded as an alias: one document in stats, both names listed, one set of vectors."""
    root = tmp_path / "docs"
    root.mkdir()
    (root / "original.txt").write_text(GOOD)
    (root / "copy of original.txt").write_text(GOOD)
    report = ingest(fake_index, [root])
    assert len(report.added) == 1 and len(report.aliases) == 1
    stats = fake_index.stats()
    assert (stats.documents, stats.aliases, stats.sentences) == (1, 1, 2)
    assert fake_index.store.count()[0] == 2
    names = fake_index.catalog.names()
    listed = [sorted(Path(n).name for n in v) for v in names.values()]
    assert listed == [["copy of original.txt", "original.txt"]]


def test_removing_the_original_keeps_the_copy_searchable(fake_index, tmp_path):
    """When the first of two identical files is deleted, the remaining copy is indexed in the same run."""
    root = tmp_path / "docs"
    root.mkdir()
    (root / "a.txt").write_text(GOOD)
    (root / "b.txt").write_text(GOOD)
    ingest(fake_index, [root])
    (root / "a.txt").unlink()
    ingest(fake_index, [root])
    stats = fake_index.stats()
    assert (stats.documents, stats.aliases, stats.sentences) == (1, 0, 2)
    assert [Path(d.source).name for d in fake_index.catalog.documents()] == ["b.txt"]


@pytest.mark.subprocess
def test_stats_json_counts_aliases(fake_index, tmp_path):
    """`citebot stats --json` reports duplicates as aliases beside documents and sentences."""
    root = tmp_path / "docs"
    root.mkdir()
    (root / "one.txt").write_text(GOOD)
    (root / "two.txt").write_text(GOOD)
    ingest(fake_index, [root])
    fake_index.close()
    env = {**os.environ, "CITEBOT_INDEX_DIR": str(fake_index.directory)}
    out = subprocess.run(
        [str(CITEBOT), "stats", "--json"], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    stats = json.loads(out.stdout)
    assert (stats["documents"], stats["aliases"], stats["sentences"]) == (1, 1, 2)


def test_changing_the_original_indexes_the_copy_in_its_own_right(fake_index, tmp_path):
    """When a file with a duplicate changes, the duplicate keeps its own (old) content searchable."""
    root = tmp_path / "docs"
    root.mkdir()
    (root / "a.txt").write_text(GOOD)
    (root / "b.txt").write_text(GOOD)
    (root / "c.txt").write_text(GOOD)
    ingest(fake_index, [root])
    assert fake_index.stats().aliases == 2
    (root / "a.txt").write_text("A different story now. The keeper retired to the village.")
    report = ingest(fake_index, [root])
    stats = fake_index.stats()
    assert (stats.documents, stats.aliases, stats.sentences) == (2, 1, 4)
    assert report.sentences_embedded == 4  # the new a.txt, and the old content once for b.txt and c.txt
    names = sorted(sorted(Path(n).name for n in v) for v in fake_index.catalog.names().values())
    assert names == [["a.txt"], ["b.txt", "c.txt"]]
    assert fake_index.store.count()[0] == 4
    assert not fake_index.catalog.stale_aliases("shared")
