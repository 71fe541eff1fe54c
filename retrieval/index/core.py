"""The index: catalog, vector store, lexical index and embedder of one index folder, opened together."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from ..embed import bundled
from ..embed.embeddings import SentenceEmbedder
from ..embed.presets import describe_model, preset_of, resolve_model, same_model, setting_for
from ..errors import ConfigurationError, IndexUnavailableError
from ..settings import Settings
from .catalog import Catalog
from .lexical import LexicalIndex
from .store import VectorStore, open_client, server_address

log = logging.getLogger(__name__)

SHARED_SCOPE = "shared"


@dataclass(frozen=True, slots=True)
class IndexStats:
    """What ``citebot stats`` reports."""

    location: str
    chroma: str
    embedding_model: str
    documents: int
    aliases: int
    sentences: int
    chunks: int
    pending: int
    languages: dict[str, int] = field(default_factory=dict)  # documents per detected language


class Index:
    """Everything stored for one index folder; parts open lazily so cheap commands stay cheap."""

    def __init__(self, settings: Settings, *, embedder: SentenceEmbedder | None = None) -> None:
        self.settings = settings
        self.directory: Path = settings.index_dir.expanduser().resolve()
        self.catalog = Catalog(self.directory / "catalog.sqlite3")
        self.lexical = LexicalIndex(self.directory / "lexical", catalog_id=self.catalog.identity)
        self._embedder = embedder
        self._store_lock = threading.Lock()

    @cached_property
    def embedder(self) -> SentenceEmbedder:
        """The sentence embedder (the model itself loads on first use).

        Raises:
            ConfigurationError: the index was built with another embedding model (vectors of two models
                never meet in one index: a question's vector would be compared with the other model's).
        """
        embedder = (
            self._embedder if self._embedder is not None else SentenceEmbedder.from_settings(self.settings)
        )
        self._refuse_other_model(embedder.model_name)
        return embedder

    @property
    def model_name(self) -> str:
        """The embedding model this index is opened with (the preset's folder is built if it isn't yet)."""
        if self._embedder is not None:
            return self._embedder.model_name
        return resolve_model(self.settings)

    @cached_property
    def store(self) -> VectorStore:
        """The Chroma collections; opening them connects to the server in server mode."""
        with self._store_lock:
            where = (
                server_address(self.settings) if self.settings.chroma_host else str(self.directory / "chroma")
            )
            return VectorStore(open_client(self.settings), self.settings.collection, where=where)

    def check_model(self) -> None:
        """Record the embedding model in a new index; refuse to mix vectors of two models in one.

        Raises:
            ConfigurationError: the index was built with another embedding model.
        """
        wanted = self.embedder.model_name  # raises when another model built the index
        if self.catalog.get_meta("embedding_model") is None:
            self.catalog.set_meta("embedding_model", wanted)

    def _refuse_other_model(self, wanted: str) -> None:
        built = self.catalog.get_meta("embedding_model")
        if built is None or same_model(built, wanted):
            return
        if preset_of(built) is not None and preset_of(built) == preset_of(wanted):
            raise ConfigurationError(
                f"the index in {self.directory} was built with another version of the embedding model "
                f"{describe_model(built)}. Run `citebot ingest PATH ... --rebuild` to rebuild it with "
                "this version."
            )
        raise ConfigurationError(
            f"the index in {self.directory} was built with the embedding model {describe_model(built)}, "
            f"but citebot is set to use {describe_model(wanted)}. Run `citebot ingest PATH ... --rebuild` "
            f"to rebuild it with the new model, or {setting_for(built)} to use the index as it is."
        )

    def publish_lexical(self) -> bool:
        """Build and publish the BM25 index if the catalog changed since the published one; the writer's step.

        Only a writer holding the ingest lock calls this (at the end of an ingest or a forget): readers
        load what was published and never build. Returns whether a new generation was published.
        """
        catalog_id = self.catalog.identity(create=True)
        gen = self.catalog.generation()  # read before the rows: a later change makes it look stale, not fresh
        if self.lexical.generation() == gen:
            return False
        rows = self.catalog.lexical_rows()
        self.lexical.publish([r[:3] for r in rows], gen, catalog_id, languages=[r[3] for r in rows])
        return True

    def is_empty(self) -> bool:
        """True when no document is indexed."""
        return self.catalog.counts()["documents"] == 0

    def stats(self) -> IndexStats:
        """Counts and locations, from the catalog (no model, no Chroma needed)."""
        c = self.catalog.counts()
        return IndexStats(
            location=str(self.directory),
            chroma=server_address(self.settings)
            if self.settings.chroma_host
            else str(self.directory / "chroma"),
            embedding_model=describe_model(
                self.catalog.get_meta("embedding_model") or self.settings.embedding_model or bundled.PRESET
            ),
            documents=c["documents"],
            aliases=c["aliases"],
            sentences=c["sentences"],
            chunks=c["chunks"],
            pending=c["pending"],
            languages=self.catalog.languages(),
        )

    def close(self) -> None:
        """Release the catalog connection."""
        try:
            self.catalog.close()
        except Exception as exc:
            log.debug("closing the catalog failed: %s", exc)


def open_index(settings: Settings | None = None) -> Index:
    """Open (creating if needed) the index that ``settings`` point at."""
    settings = settings or Settings()
    try:
        return Index(settings)
    except IndexUnavailableError:
        raise
    except OSError as exc:
        raise IndexUnavailableError(f"cannot open the index at {settings.index_dir}: {exc}") from exc
