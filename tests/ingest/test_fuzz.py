"""Fuzzing every format: one hostile file is read or skipped with a reason, and never stops an ingest.

Mutated documents (fuzz_mutators.py: byte flips, truncation, deep nesting, zip and stream-filter damage,
decompression bombs, wrong encodings) go through the two contracts of the issue "One unreadable file
never stops an ingest":

* ``loaders.parse`` returns a ParsedDocument whose units slice its text exactly, or raises
  ``DocumentError``: never any other exception.
* ``ingest`` of a folder of them beside a good file never raises; every file is indexed (added, an
  alias) or skipped with a one-line reason; the good file answers a question; the catalog, Chroma and
  the BM25 index agree afterwards.

The fast tier runs eight cases per format (the first eight mutators of each); the slow tier runs 300 per
format, parsed one by one and then ingested together, one ingest per format.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

from retrieval import Index, Library, Settings, ingest
from retrieval.errors import DocumentError
from retrieval.ingest.loaders import parse
from retrieval.ingest.parsers.units import ParsedDocument
from retrieval.ingest.pipeline import IngestReport
from tests.conftest import FakeEmbedder

from . import fuzz_mutators as fm

GOOD_TEXT = (
    "The zorblatt harvest in Quillmoor reached 42,000 tonnes this year. "
    "Farmers said the weather had been unusually kind.\n"
)
QUESTION = "How large was the zorblatt harvest in Quillmoor?"
GOOD_QUOTE = "42,000 tonnes"
FAST_SEEDS = range(8)
SLOW_SEEDS = range(8, 308)


@pytest.fixture(autouse=True)
def _short_parse_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fuzz case is small: one that parses for 10 s is a hang (a skip), and the tiers must stay fast."""
    monkeypatch.setenv("CITEBOT_PARSE_TIMEOUT", "10")


@cache
def _cases(fmt: str, seeds: range) -> tuple[fm.Case, ...]:
    return tuple(fm.cases(fmt, seeds))


# --- the parse contract -----------------------------------------------------------------------------------


def _parse_outcome(case: fm.Case) -> tuple[str, str]:
    """``("indexed", "")``, ``("skipped", reason)`` or ``("BUG", what escaped)`` for one case."""
    try:
        doc = parse(case.data, case.filename, case.suffix)
    except DocumentError as exc:
        reason = str(exc)
        if not reason.strip() or "\n" in reason.strip() or "Traceback" in reason:
            return "BUG", f"DocumentError without a one-line reason: {reason!r}"
        return "skipped", reason
    except Exception as exc:  # the contract under test: nothing else may escape
        return "BUG", f"{type(exc).__module__}.{type(exc).__name__}: {str(exc)[:200]}"
    if not isinstance(doc, ParsedDocument):
        return "BUG", f"returned {type(doc).__name__}, not a ParsedDocument"
    for u in doc.units:
        if not (0 <= u.start <= u.end <= len(doc.text)) or doc.text[u.start : u.end] != u.text:
            return "BUG", f"unit {u.start}-{u.end} is not the text it claims: {u.text[:60]!r}"
    return "indexed", ""


def _check_parse_contract(cases: tuple[fm.Case, ...]) -> dict[str, tuple[str, str]]:
    outcomes = {c.filename: _parse_outcome(c) for c in cases}
    bugs = {name: what for name, (kind, what) in outcomes.items() if kind == "BUG"}
    assert not bugs, "loaders.parse broke its contract:\n" + "\n".join(f"{n}: {w}" for n, w in bugs.items())
    return outcomes


# --- the ingest contract ----------------------------------------------------------------------------------


def _write_folder(tmp_path: Path, cases: tuple[fm.Case, ...]) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "good.txt").write_text(GOOD_TEXT, encoding="utf-8")
    for c in cases:
        (folder / c.filename).write_bytes(c.data)
    return folder.resolve()


def _where_each_file_went(report: IngestReport) -> dict[str, list[str]]:
    places: dict[str, list[str]] = {}
    for place, sources in (
        ("added", report.added),
        ("updated", report.updated),
        ("unchanged", report.unchanged),
        ("alias", [a for a, _ in report.aliases]),
        ("skipped", [s for s, _ in report.skipped]),
    ):
        for source in sources:
            places.setdefault(source, []).append(place)
    return places


def assert_index_consistent(index: Index) -> None:
    """The catalog's complete documents, their sentence rows, Chroma's ids and the BM25 index agree."""
    counts = index.catalog.counts()
    assert counts["pending"] == 0
    docs = {d.doc_key: d for d in index.catalog.documents() if d.state == "complete"}
    for alias in (d for d in index.catalog.documents() if d.state == "alias"):
        assert alias.alias_of in docs, alias
    rows = Counter(key for (key,) in index.catalog._query("SELECT doc_key FROM sentences"))
    assert dict(rows) == {k: d.n_sentences for k, d in docs.items() if d.n_sentences}
    sentence_ids = Counter(i.split(":")[0] for i in index.store.sentences.get(include=[])["ids"])
    chunk_ids = Counter(i.split(":")[0] for i in index.store.chunks.get(include=[])["ids"])
    assert dict(sentence_ids) == {k: d.n_sentences for k, d in docs.items() if d.n_sentences}
    assert dict(chunk_ids) == {k: d.n_chunks for k, d in docs.items() if d.n_chunks}
    assert index.store.count() == (counts["sentences"], counts["chunks"])
    assert index.lexical.generation() == index.catalog.generation()
    lexical = index.lexical.scores(["no-such-term-in-any-document"])
    published = sorted(lexical.rowids.tolist()) if lexical is not None else []
    assert published == [rowid for rowid, _, _ in index.catalog.all_sentences()]


def assert_good_file_answers(index: Index, good: Path) -> None:
    answer = Library(index).ask(QUESTION)
    cited = [c for c in answer.citations if c.source == str(good)]
    assert cited and any(GOOD_QUOTE in c.text for c in cited), answer


def _ingest_and_check(index: Index, folder: Path, cases: tuple[fm.Case, ...]) -> IngestReport:
    """Ingest the folder once and check the ingest contract; returns the report."""
    report = ingest(index, [folder])  # must not raise, whatever the files hold
    places = _where_each_file_went(report)
    expected = {str(folder / "good.txt"), *(str(folder / c.filename) for c in cases)}
    assert set(places) == expected, set(places) ^ expected
    assert all(len(p) == 1 for p in places.values()), {s: p for s, p in places.items() if len(p) > 1}
    for source, reason in report.skipped:
        line = reason.strip()
        assert line and "\n" not in line and "Traceback" not in line, (source, reason)
    good = folder / "good.txt"
    assert places[str(good)] == ["added"]
    assert_index_consistent(index)
    assert_good_file_answers(index, good)
    return report


def _outcomes_of(report: IngestReport) -> Counter[str]:
    return Counter(place for places in _where_each_file_went(report).values() for place in places)


# --- the seeds themselves ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", fm.FORMATS)
def test_each_unharmed_seed_document_is_read_into_units(fmt: str) -> None:
    """The documents the mutators start from are readable, with their prose, so mutations start real."""
    data = fm.seed_document(fmt)
    doc = parse(data, f"seed.{fmt}", f".{fmt}")
    assert len(doc.units) >= 5
    assert any("forty-two locks" in u.text for u in doc.units)
    for u in doc.units:
        assert doc.text[u.start : u.end] == u.text


def test_mutators_are_deterministic_and_actually_mutate() -> None:
    """The same seed gives the same bytes; every case differs from its unharmed seed document."""
    for fmt in fm.FORMATS:
        first = _cases(fmt, FAST_SEEDS)
        assert [c.data for c in first] == [c.data for c in fm.cases(fmt, FAST_SEEDS)]
        assert all(c.data != fm.seed_document(fmt) for c in first), fmt
        assert len({c.mutation for c in first}) >= 5, fmt


# --- fast tier --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", fm.FORMATS)
def test_parse_contract_fast(fmt: str, record_property: pytest.RecordProperty) -> None:
    """Eight mutations of each format: units that slice exactly, or a DocumentError; nothing else."""
    outcomes = _check_parse_contract(_cases(fmt, FAST_SEEDS))
    kinds = Counter(kind for kind, _ in outcomes.values())
    record_property("indexed", kinds["indexed"])
    record_property("skipped", kinds["skipped"])
    assert kinds["indexed"] + kinds["skipped"] == len(FAST_SEEDS)


@pytest.mark.parametrize("fmt", fm.FORMATS)
def test_ingest_of_a_hostile_folder_fast(
    fmt: str, fake_index: Index, tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    """One ingest of a format's eight mutations beside a good file: no exception, every file accounted for."""
    cases = _cases(fmt, FAST_SEEDS)
    report = _ingest_and_check(fake_index, _write_folder(tmp_path, cases), cases)
    outcomes = _outcomes_of(report)
    record_property("outcomes", dict(outcomes))
    assert sum(outcomes.values()) == len(cases) + 1


def test_jbig2_pdf_reaches_pypdfs_jbig2_decoder() -> None:
    """The test PDF really is the issue's file: pypdf's own text extraction fails on its JBIG2 stream."""
    import io
    import shutil

    from pypdf import PdfReader
    from pypdf.errors import DependencyError

    if shutil.which("jbig2dec"):
        pytest.skip("jbig2dec is installed here: pypdf can decode the image")
    page = PdfReader(io.BytesIO(fm.jbig2_pdf("content"))).pages[0]
    with pytest.raises(DependencyError, match="jbig2dec"):
        page.extract_text()


@pytest.mark.parametrize("where", ["content", "xobject", "inline"])
def test_a_pdf_with_a_jbig2_image_never_stops_the_ingest(
    fake_index: Index, tmp_path: Path, where: str
) -> None:
    """[jbig2.pdf, good.txt]: good.txt is added; the PDF is indexed with its text, or skipped for JBIG2."""
    folder = tmp_path / "docs"
    folder.mkdir()
    pdf, good = folder / "jbig2.pdf", folder / "good.txt"
    pdf.write_bytes(fm.jbig2_pdf(where))
    good.write_text(GOOD_TEXT, encoding="utf-8")
    report = ingest(fake_index, [folder])
    folder = folder.resolve()
    assert str(folder / "good.txt") in report.added
    skipped = dict(report.skipped)
    if str(folder / "jbig2.pdf") in skipped:
        reason = skipped[str(folder / "jbig2.pdf")]
        assert "jbig2" in reason.lower() and "\n" not in reason.strip(), reason
    else:
        assert str(folder / "jbig2.pdf") in report.added
        texts = {t for _, _, t in fake_index.catalog.all_sentences()}
        assert any(fm.JBIG2_PDF_SENTENCE in t for t in texts)
    assert_index_consistent(fake_index)
    assert_good_file_answers(fake_index, folder / "good.txt")


def test_parse_of_the_jbig2_pdf_is_units_or_a_reason_naming_jbig2() -> None:
    data = fm.jbig2_pdf("content")
    try:
        doc = parse(data, "jbig2.pdf", ".pdf")
    except DocumentError as exc:
        assert "jbig2" in str(exc).lower()
    else:
        assert any(fm.JBIG2_PDF_SENTENCE in u.text for u in doc.units)


def test_a_pdf_whose_text_holds_lone_surrogates_never_stops_the_ingest(
    fake_index: Index, tmp_path: Path
) -> None:
    """A ToUnicode map to U+D800 (fuzz case pdf_0019_fonts): indexed or skipped, and the ingest goes on."""
    case = fm.Case("pdf", 0, "surrogate", fm.surrogate_pdf())
    outcome, detail = _parse_outcome(case)
    assert outcome != "BUG", detail
    _ingest_and_check(fake_index, _write_folder(tmp_path, (case,)), (case,))


@pytest.mark.slow
def test_html_that_takes_minutes_is_skipped_at_the_time_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by fuzzing: 20,000 nested tables keep the reader busy for minutes; it is skipped at the limit."""
    monkeypatch.setenv("CITEBOT_PARSE_TIMEOUT", "3")
    case = fm.Case("html", 0, "slow_tables", fm.slow_html("tables"))
    started = time.perf_counter()
    outcome, reason = _parse_outcome(case)
    assert outcome == "skipped" and "took longer than 3 s" in reason, (outcome, reason)
    assert time.perf_counter() - started < 30
    index = Index(Settings(index_dir=tmp_path / "index"), embedder=FakeEmbedder())  # with the 3 s limit
    try:
        report = _ingest_and_check(index, _write_folder(tmp_path, (case,)), (case,))
    finally:
        index.close()
    assert report.seconds < 60


@pytest.mark.slow
def test_a_page_of_200000_line_breaks_is_read_in_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by fuzzing: <br> elements replaced one by one in the tree took minutes (each replace scans
    its parent's children); replaced in the markup they cost one pass."""
    monkeypatch.setenv("CITEBOT_PARSE_TIMEOUT", "60")
    case = fm.Case("html", 0, "slow_br", fm.slow_html("br"))
    assert case.data.count(b"<br") >= 100_000
    started = time.perf_counter()
    outcome, reason = _parse_outcome(case)
    assert outcome == "indexed", reason
    assert time.perf_counter() - started < 30


# --- the command line -------------------------------------------------------------------------------------


def _cli_folder(tmp_path: Path) -> tuple[Path, list[str]]:
    """A good file, and hostile files none of which holds readable text (plus the JBIG2 PDF)."""
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "good.txt").write_text(GOOD_TEXT, encoding="utf-8")
    only_bomb = fm.pdf_document(pages=1)
    content = only_bomb.obj(only_bomb.contents[0])
    content.body, content.stream = b"/Filter /FlateDecode", fm.deflated_spaces(100)
    unreadable = {
        "bomb.docx": fm.docx_bomb(300),
        "bomb.pdf": only_bomb.to_bytes(),
        "garbage.pdf": b"%PDF-1.7\n" + bytes(range(256)) * 8,
        "binary.md": bytes(range(256)) * 16,
        "truncated.docx": fm.seed_docx()[: len(fm.seed_docx()) // 2],
        "nested.html": b"<html><body>" + b"<div>" * 50_000,
    }
    for name, data in unreadable.items():
        (folder / name).write_bytes(data)
    (folder / "jbig2.pdf").write_bytes(fm.jbig2_pdf("content"))
    return folder.resolve(), sorted(unreadable)


@pytest.mark.slow
@pytest.mark.subprocess
def test_cli_ingest_of_a_hostile_folder_exits_0_and_names_each_skip(
    tmp_path: Path, graph_cache: Path
) -> None:
    """`citebot ingest FOLDER`: exit 0, no traceback, one "skipped <file>: <reason>" line per bad file."""
    folder, unreadable = _cli_folder(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITEBOT_")}
    env |= {
        "CITEBOT_INDEX_DIR": str(tmp_path / "index"),
        "CITEBOT_CACHE_DIR": str(graph_cache),
        "CITEBOT_PARSE_TIMEOUT": "60",
        "HF_HUB_OFFLINE": "1",
    }
    r = subprocess.run(
        [sys.executable, "-m", "retrieval.cli", "ingest", str(folder)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Traceback" not in r.stderr + r.stdout, r.stderr[-3000:]
    skip_lines = [line for line in r.stderr.splitlines() if line.startswith("skipped ")]
    for name in unreadable:
        assert any(line.startswith(f"skipped {folder / name}: ") for line in skip_lines), (name, r.stderr)
    jbig2 = [line for line in skip_lines if line.startswith(f"skipped {folder / 'jbig2.pdf'}: ")]
    assert not jbig2 or "jbig2" in jbig2[0].lower(), jbig2
    added = 1 + (not jbig2)
    assert f"{added} added," in r.stdout and f"{len(unreadable) + len(jbig2)} skipped" in r.stdout, r.stdout


# --- slow tier --------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("fmt", fm.FORMATS)
def test_fuzz_300_cases_per_format(
    fmt: str, fake_index: Index, tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    """300 mutations of a format: each parsed on its own (contract), then all ingested at once beside a
    good file; what parse refused, ingest skipped too."""
    cases = _cases(fmt, SLOW_SEEDS)
    outcomes = _check_parse_contract(cases)
    folder = _write_folder(tmp_path, cases)
    report = _ingest_and_check(fake_index, folder, cases)
    skipped = {s for s, _ in report.skipped}
    refused = {
        str(folder / name)
        for name, (kind, reason) in outcomes.items()
        if kind == "skipped" and "longer than" not in reason  # a time limit may fall either way
    }
    assert refused <= skipped, refused - skipped
    kinds = Counter(kind for kind, _ in outcomes.values())
    record_property("parse", dict(kinds))
    record_property("ingest", dict(_outcomes_of(report)))
    assert kinds["indexed"] + kinds["skipped"] == len(SLOW_SEEDS)
