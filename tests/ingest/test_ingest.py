import logging
import os
from pathlib import Path

import pytest

from retrieval import NoDocumentsError, ingest
from retrieval.ingest.pipeline import UNITS_VERSION


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    _write(root / "alpha.txt", "Alpha is the first letter. It comes before beta in every list.")
    _write(root / "sub" / "beta.md", "# Beta\n\nBeta follows alpha. Gamma comes after beta.")
    return root


def test_ingest_indexes_files_with_relative_doc_ids(fake_index, corpus):
    """doc_id is the path relative to the ingested folder, without its extension."""
    report = ingest(fake_index, [corpus])
    assert len(report.added) == 2
    ids = sorted(d.doc_id for d in fake_index.catalog.documents())
    assert ids == ["alpha", "sub/beta"]
    stats = fake_index.stats()
    assert (stats.documents, stats.sentences) == (2, 4)
    assert fake_index.store.count() == (4, stats.chunks)


def test_unchanged_files_cost_no_embedding(fake_index, corpus):
    """A second ingest of the same folder embeds nothing."""
    ingest(fake_index, [corpus])
    again = ingest(fake_index, [corpus])
    assert again.sentences_embedded == 0
    assert sorted(Path(s).name for s in again.unchanged) == ["alpha.txt", "beta.md"]
    os.utime(corpus / "alpha.txt", ns=(1, 1))  # touched, same content: hashed, not embedded
    assert ingest(fake_index, [corpus]).sentences_embedded == 0


def test_documents_made_by_an_older_citebot_are_indexed_again(fake_index, corpus):
    """A document whose units an older parser made is parsed again though its file did not change."""
    ingest(fake_index, [corpus])
    with fake_index.catalog.transaction() as db:  # as a catalog written before this version
        db.execute(
            "UPDATE documents SET units_version = ? WHERE source LIKE '%alpha.txt'", (UNITS_VERSION - 1,)
        )
    report = ingest(fake_index, [corpus])
    assert [Path(s).name for s in report.updated] == ["alpha.txt"]
    assert [Path(s).name for s in report.unchanged] == ["beta.md"]
    assert {d.units_version for d in fake_index.catalog.documents()} == {UNITS_VERSION}
    assert ingest(fake_index, [corpus]).sentences_embedded == 0


def test_modified_file_is_reindexed(fake_index, corpus):
    """A changed file replaces its old sentences; nothing stale remains."""
    ingest(fake_index, [corpus])
    _write(corpus / "alpha.txt", "Alpha changed completely. Now it has three sentences. Here is the third.")
    report = ingest(fake_index, [corpus])
    assert [Path(s).name for s in report.updated] == ["alpha.txt"]
    assert report.sentences_embedded == 3
    texts = [t for _, _, t in fake_index.catalog.all_sentences()]
    assert "Alpha is the first letter." not in texts
    assert "Alpha changed completely." in texts
    assert fake_index.stats().sentences == 5
    assert fake_index.store.count()[0] == 5


def test_deleted_file_is_removed(fake_index, corpus):
    """A file gone from an ingested folder leaves the index, vectors included."""
    ingest(fake_index, [corpus])
    (corpus / "sub" / "beta.md").unlink()
    report = ingest(fake_index, [corpus])
    assert [Path(s).name for s in report.removed] == ["beta.md"]
    assert fake_index.stats().documents == 1
    assert fake_index.store.count()[0] == 2


def test_rebuild_starts_over(fake_index, corpus, tmp_path):
    """--rebuild drops documents of other folders and indexes only what is given."""
    other = _write(tmp_path / "other" / "x.txt", "Something else entirely is written here.")
    ingest(fake_index, [other.parent])
    report = ingest(fake_index, [corpus], rebuild=True)
    assert len(report.added) == 2
    assert sorted(d.doc_id for d in fake_index.catalog.documents()) == ["alpha", "sub/beta"]
    assert fake_index.store.count()[0] == 4


def test_empty_folder_is_a_clear_error(fake_index, tmp_path):
    """An empty folder says there is nothing to index."""
    (tmp_path / "empty").mkdir()
    with pytest.raises(NoDocumentsError, match="nothing to index"):
        ingest(fake_index, [tmp_path / "empty"])


def test_missing_path_is_a_clear_error(fake_index, tmp_path):
    """A path that does not exist is named in the error."""
    with pytest.raises(NoDocumentsError, match="nope"):
        ingest(fake_index, [tmp_path / "nope"])


def test_bad_files_are_skipped_with_a_warning_naming_them(fake_index, corpus, caplog):
    """Binary and undecodable files are skipped by name; the rest is indexed."""
    (corpus / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (corpus / "broken.txt").write_bytes(b"\xff\xfe\xfa" * 3 + b"\x81\x8d\x8f\x90\x9d" * 40)
    (corpus / "blank.txt").write_text("   \n\n  ")
    with caplog.at_level(logging.WARNING):
        report = ingest(fake_index, [corpus])
    skipped = {Path(s).name for s, _ in report.skipped}
    assert {"image.txt", "broken.txt", "blank.txt"} <= skipped
    assert "image.txt" in caplog.text and "blank.txt" in caplog.text
    assert len(report.added) == 2


def test_latin1_file_is_decoded(fake_index, tmp_path):
    """A Latin-1 file is read with the right characters, and offsets fit its decoded text."""
    root = tmp_path / "latin"
    root.mkdir()
    (root / "cafe.txt").write_bytes(
        "Le café est très bon à Genève. Les élèves y déjeunent souvent.".encode("latin-1")
    )
    ingest(fake_index, [root])
    texts = [t for _, _, t in fake_index.catalog.all_sentences()]
    assert "Le café est très bon à Genève." in texts


def test_duplicate_content_is_indexed_once(fake_index, corpus):
    """The same content under two names is embedded once and both names are known."""
    (corpus / "copy.txt").write_bytes((corpus / "alpha.txt").read_bytes())
    report = ingest(fake_index, [corpus])
    assert len(report.aliases) == 1
    stats = fake_index.stats()
    assert (stats.documents, stats.aliases, stats.sentences) == (2, 1, 4)


def test_html_and_markdown_are_cited_as_prose(fake_index, tmp_path):
    """HTML navigation and scripts are dropped; paragraphs become sentences."""
    root = tmp_path / "web"
    root.mkdir()
    (root / "page.html").write_text(
        "<html><head><title>Otters</title><script>var x = 'Never cite this.';</script></head><body>"
        "<nav>Home | About | Contact us today.</nav><p>Sea otters hold hands while they sleep. "
        "They use rocks as tools.</p><footer>Copyright notice is here.</footer></body></html>"
    )
    ingest(fake_index, [root])
    texts = [t for _, _, t in fake_index.catalog.all_sentences()]
    assert texts == ["Sea otters hold hands while they sleep.", "They use rocks as tools."]
    assert fake_index.catalog.documents()[0].title == "Otters"
