"""Library, the façade front ends use: listing, finding, uploads (checked, stored, replaced), forget, ask."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import pytest
from filelock import FileLock

from retrieval import (
    SHARED_SCOPE,
    Document,
    DocumentError,
    DocumentState,
    Index,
    IndexBusyError,
    InvalidQuestionError,
    Library,
    Settings,
    describe_formats,
)

ARTICLE = (
    "The Zorblatt Committee met in Lisbon in March. "
    "It announced that the zorblatt harvest reached 42,000 tonnes this year. "
    "Farmers said the weather had been unusually kind.\n"
)
UPDATED = ARTICLE.replace("42,000", "51,000")
GUILD = "910000000000000001"


@pytest.fixture
def library(fake_index: Index) -> Library:
    return Library(fake_index, write_timeout=0.5)


def stored(library: Library, scope: str = GUILD) -> list[Path]:
    folder = library.index.directory / "uploads" / scope
    return sorted(folder.iterdir()) if folder.exists() else []


def test_an_upload_is_stored_under_a_generated_name_and_listed_by_its_own(library: Library) -> None:
    """The file goes to uploads/<scope>/ under a random name; the record shows the safe upload name."""
    added = library.add_upload(ARTICLE.encode(), "../../evil/Zorblatt report.txt", GUILD)
    (path,) = stored(library)
    assert path.read_bytes() == ARTICLE.encode()
    assert path.suffix == ".txt" and "Zorblatt" not in path.name and "evil" not in str(path)
    assert added.name == "Zorblatt report.txt" and not added.duplicate and added.replaced == ()
    assert added.document.source == "Zorblatt report.txt" and added.document.sentences == 3
    assert library.documents(GUILD) == [added.document]
    assert library.documents(SHARED_SCOPE) == []


def test_documents_are_immutable_records_with_a_state_enum(library: Library, seeds_copy: Path) -> None:
    """Listing gives frozen Document records; only complete ones unless other states are asked for."""
    library.ingest([seeds_copy])
    twin = seeds_copy / "copy.txt"
    twin.write_bytes(next(seeds_copy.glob("*.txt")).read_bytes())
    library.ingest([seeds_copy])
    (doc,) = library.documents()
    assert isinstance(doc, Document) and doc.state is DocumentState.COMPLETE and doc.sentences == 19
    with pytest.raises(dataclasses.FrozenInstanceError):
        doc.title = "changed"  # type: ignore[misc]
    every = library.documents(states=list(DocumentState))
    assert sorted(d.state for d in every) == [DocumentState.ALIAS, DocumentState.COMPLETE]
    (alias,) = [d for d in every if d.state is DocumentState.ALIAS]
    assert alias.alias_of == doc.key and alias.name == "copy.txt"
    assert library.documents(None) == [doc]


def test_uploading_the_same_name_again_replaces_the_older_upload(library: Library) -> None:
    """A second upload of one name replaces the first: one record, one stored file, the new text."""
    first = library.add_upload(ARTICLE.encode(), "news.txt", GUILD)
    second = library.add_upload(UPDATED.encode(), "news.txt", GUILD)
    assert second.replaced == (first.document,)
    assert library.documents(GUILD) == [second.document]
    (path,) = stored(library)
    assert path.read_bytes() == UPDATED.encode()


def test_a_failed_upload_never_loses_the_older_one(library: Library) -> None:
    """A replacement that can't be indexed (no prose, or the index busy) leaves the old upload answering."""
    first = library.add_upload(ARTICLE.encode(), "news.md", GUILD)
    with pytest.raises(DocumentError, match=r"news\.md could not be added: no prose to cite"):
        library.add_upload(b"# Heading only\n", "news.md", GUILD)
    lock = FileLock(str(library.index.directory / "ingest.lock"))
    with lock, pytest.raises(IndexBusyError):  # `citebot ingest` in another process holds the index
        library.add_upload(UPDATED.encode(), "news.md", GUILD)
    assert library.documents(GUILD) == [first.document]
    (path,) = stored(library)
    assert path.read_bytes() == ARTICLE.encode()


def test_the_same_text_again_is_reported_and_not_stored_twice(library: Library) -> None:
    """An upload repeating a document's text is a duplicate: no second file, no alias record left."""
    first = library.add_upload(ARTICLE.encode(), "a.txt", GUILD)
    again = library.add_upload(ARTICLE.encode(), "b.txt", GUILD)
    assert again.duplicate and again.name == "b.txt" and again.document == first.document
    assert len(stored(library)) == 1
    assert library.documents(GUILD, states=list(DocumentState)) == [first.document]


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("report.pdf", b"just text pretending", "is not a PDF"),
        ("notes.txt", bytes(range(256)) * 8, "binary"),
        ("page.html", b"no markup at all here", "holds no HTML"),
        ("tool.exe", b"MZ\x90\x00", f"not a document I can read: send a {describe_formats()} file"),
        ("hidden.txt", b"%PDF-1.7\n...", "is a PDF file"),
        ("empty.md", b"", "empty.md is empty"),
        ("blank.txt", b"  \n\n ", "blank.txt has no text in it"),
    ],
)
def test_uploads_are_checked_by_content(library: Library, name: str, data: bytes, reason: str) -> None:
    """Each bad upload is a DocumentError with its reason, and nothing is stored or indexed."""
    with pytest.raises(DocumentError, match=reason):
        library.add_upload(data, name, GUILD)
    assert stored(library) == [] and library.documents(GUILD) == []


def test_the_size_limit_is_the_core_setting(fake_index: Index) -> None:
    """check_upload refuses by declared size with CITEBOT_MAX_FILE_MB, the limit ingest applies too."""
    small = Index(fake_index.settings.model_copy(update={"max_file_mb": 0.001}), embedder=fake_index.embedder)
    library = Library(small)
    assert library.check_upload("notes.md", 1000).name == "Markdown"
    with pytest.raises(DocumentError, match=r"big.txt is 0.0 MB; the limit is 0 MB"):
        library.check_upload("big.txt", 5000)
    with pytest.raises(DocumentError, match="limit is"):
        library.add_upload(b"word " * 1000, "big.txt", GUILD)
    with pytest.raises(DocumentError, match="not a document I can read"):
        library.check_upload("tool.exe", 10)
    small.close()


def test_forget_by_name_or_key_deletes_the_stored_upload(library: Library) -> None:
    """forget() takes a name (any case) or a key, removes the record and the stored file."""
    a = library.add_upload(ARTICLE.encode(), "a.txt", GUILD)
    b = library.add_upload(UPDATED.encode(), "b.txt", GUILD)
    assert library.forget("A.TXT", GUILD) == [a.document]
    assert library.forget(b.document.key, GUILD) == [b.document]
    assert library.documents(GUILD) == [] and stored(library) == []
    with pytest.raises(DocumentError, match=r"no document called a\.txt"):
        library.forget("a.txt", GUILD)


def test_forgetting_an_ingested_file_never_deletes_it(library: Library, seeds_copy: Path) -> None:
    """Documents indexed from folders leave the index only; the files on disk are the user's."""
    library.ingest([seeds_copy])
    (doc,) = library.documents()
    assert library.forget(doc) == [doc]
    assert library.is_empty() and list(seeds_copy.glob("*.txt"))


def test_find_matches_whole_names_or_parts(library: Library) -> None:
    """find() matches key, name, title or doc_id case-insensitively; partial=True matches substrings."""
    added = library.add_upload(ARTICLE.encode(), "Harvest Notes.md", GUILD)
    doc = added.document
    for typed in ("harvest notes.md", "  HARVEST   NOTES.MD ", doc.key, doc.title.upper(), doc.doc_id):
        assert library.find(typed, GUILD) == [doc], typed
    assert library.find("harvest", GUILD) == []
    assert library.find("harvest", GUILD, partial=True) == [doc]
    assert library.find("harvest notes.md", SHARED_SCOPE) == []


def test_two_uploads_of_one_name_at_once_leave_exactly_one(library: Library) -> None:
    """Concurrent uploads of the same name take turns: the later replaces the earlier, none is lost."""
    errors: list[BaseException] = []

    def upload(text: str) -> None:
        try:
            library.add_upload(text.encode(), "race.txt", GUILD)
        except BaseException as exc:
            errors.append(exc)

    library.write_timeout = 30
    threads = [threading.Thread(target=upload, args=(t,)) for t in (ARTICLE, UPDATED)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    (doc,) = library.documents(GUILD)
    (path,) = stored(library)
    assert doc.source == "race.txt" and path.read_bytes() in (ARTICLE.encode(), UPDATED.encode())


def test_scopes_that_cannot_be_folders_are_refused(library: Library) -> None:
    """An upload scope is a folder name: separators and dot-names are a caller's mistake (ValueError)."""
    for scope in ("../x", "a/b", ".hidden", ""):
        with pytest.raises(ValueError, match="can't name a folder"):
            library.add_upload(ARTICLE.encode(), "a.txt", scope)


def test_ask_searches_only_the_scopes_given(index: Index) -> None:
    """With the real model: an upload answers in its own scope, and is never cited from another."""
    library = Library(index)
    library.seed()
    library.add_upload(ARTICLE.encode(), "zorblatt.txt", GUILD)
    question = "How large was the zorblatt harvest?"
    here = library.ask(question, scopes=[SHARED_SCOPE, GUILD])
    elsewhere = library.ask(question, scopes=[SHARED_SCOPE, "910000000000000002"])
    assert not here.refused and "42,000 tonnes" in here.citations[0].text
    assert here.citations[0].source == "zorblatt.txt"
    assert all(c.source != "zorblatt.txt" for c in elsewhere.citations)


def test_clean_question_uses_the_settings_limit(library: Library) -> None:
    """Front ends can refuse a bad question early, with the same rules and limit as the chain."""
    assert library.clean_question("  What   was harvested? ") == "What was harvested?"
    with pytest.raises(InvalidQuestionError, match="limit is 2,000"):
        library.clean_question("y" * 2001)
    with pytest.raises(InvalidQuestionError, match="empty"):
        library.clean_question("   ")


def test_open_from_settings(tmp_path: Path) -> None:
    """Library.open opens the index folder the settings name, empty at first."""
    with Library.open(Settings(index_dir=tmp_path / "lib")) as library:
        assert library.index.directory == (tmp_path / "lib").resolve()
        assert library.is_empty() and library.documents(None) == []


def test_stats_count_what_was_added(library: Library) -> None:
    """stats() counts the index's documents and sentences."""
    library.add_upload(ARTICLE.encode(), "a.txt", GUILD)
    stats = library.stats()
    assert (stats.documents, stats.sentences, stats.aliases) == (1, 3, 0)
    assert stats.location == str(library.index.directory)
