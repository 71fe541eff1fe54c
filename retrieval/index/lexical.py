"""The lexical index: BM25 over every indexed sentence (bm25s), saved beside the catalog.

It scores the whole corpus in one vectorised pass, so the ranker can look at any sentence's score and
its neighbours' (window evidence) without a second query.

One writer, many readers. The writer (an ingest or a forget, holding the index's ingest lock) builds a
generation into a fresh folder and publishes it by replacing the pointer file ``current.json``
atomically. Readers (every thread and process answering questions) only ever load the generation the
pointer names, fully into memory; they never build and never delete. The writer keeps the previous
generations' folders, so a reader that read the pointer just before a publish still finds its folder;
if one vanished anyway (a reader stalled through several publishes), the reader reads the pointer again.
A stale generation is harmless: BM25 only proposes candidates, whose text always comes from the
catalog, and the catalog never gives a deleted sentence's rowid to another sentence.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..atomic import atomic_write, fsync_path

if TYPE_CHECKING:
    import bm25s

log = logging.getLogger(__name__)

_POINTER = "current.json"
_FORMAT = 2  # pointers without it (or older) were written by builders that readers must not trust
_PREFIX = "bm25-"
_KEEP_PREVIOUS = 2  # published generations kept besides the current one, for readers still loading them
_LOAD_ATTEMPTS = 5


@lru_cache(maxsize=1)
def _quiet_bm25s() -> None:
    """bm25s sets its logger to DEBUG on import; give the level back to the application's config.

    Once: setting a level clears every logger's cache, a cost on each question otherwise.
    """
    logging.getLogger("bm25s").setLevel(logging.WARNING)


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


def tokenize(texts: list[str]) -> list[list[str]]:
    """Lower-case, drop English stop words, and stem: the same for sentences and questions."""
    import bm25s

    _quiet_bm25s()
    out = bm25s.tokenize(texts, stopwords="en", stemmer=_stemmer(), return_ids=False, show_progress=False)
    return [list(t) for t in out]


@dataclass(frozen=True, slots=True)
class LexicalScores:
    """BM25 scores of every sentence (aligned with ``rowids``) for one question."""

    rowids: np.ndarray
    scores: np.ndarray
    query_terms: int


@dataclass(frozen=True, slots=True)
class _Pointer:
    """What ``current.json`` says: the published generation and the folders still kept."""

    generation: int
    folder: str
    catalog_id: str | None
    kept: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Loaded:
    """One generation read into memory; ``retriever`` is None when it holds no sentence."""

    folder: str
    retriever: bm25s.BM25 | None
    rowids: np.ndarray
    scopes: np.ndarray
    scope_names: list[str]


class LexicalIndex:
    """BM25 over the catalog's sentences, identified by catalog rowid.

    Args:
        directory: the folder holding the generations and the pointer.
        catalog_id: returns the identity of the catalog beside it (None when it has none yet); a
            generation built from another catalog is ignored. Without it, every generation is trusted.
    """

    def __init__(self, directory: Path, catalog_id: Callable[[], str | None] | None = None) -> None:
        self.directory = directory
        self._catalog_id = catalog_id
        self._load_lock = threading.Lock()
        self._loaded: _Loaded | None = None

    # pointer ------------------------------------------------------------------------------------
    def _pointer(self) -> _Pointer | None:
        """The published pointer, or None when there is none this code can trust."""
        try:
            info = json.loads((self.directory / _POINTER).read_text(encoding="utf-8"))
            if int(info.get("format", 0)) != _FORMAT:
                return None
            return _Pointer(
                generation=int(info["generation"]),
                folder=str(info["dir"]),
                catalog_id=info.get("catalog_id"),
                kept=tuple(str(k) for k in info.get("kept", [])),
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def _usable(self, pointer: _Pointer | None) -> _Pointer | None:
        if pointer is None or self._catalog_id is None:
            return pointer
        return pointer if pointer.catalog_id == self._catalog_id() else None

    def generation(self) -> int:
        """The catalog generation the published index was built from (-1 when none is published)."""
        pointer = self._usable(self._pointer())
        return pointer.generation if pointer is not None else -1

    # writer ------------------------------------------------------------------------------------
    def publish(self, rows: Sequence[tuple[int, str, str]], generation: int, catalog_id: str | None) -> None:
        """Index ``(rowid, scope, text)`` rows (in rowid order) and make them the published generation.

        Only a writer holding the index's ingest lock may call this: it also deletes the folders of
        generations that are no longer kept, and of builds a crash left unpublished.
        """
        import bm25s

        self.directory.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{generation}-", dir=self.directory))
        try:
            # mkdtemp makes it private; readers running as another user need what the index folder allows.
            folder.chmod(self.directory.stat().st_mode & 0o777)
            scope_names = sorted({r[1] for r in rows})
            scope_ids = {s: i for i, s in enumerate(scope_names)}
            np.save(folder / "rowids.npy", np.asarray([r[0] for r in rows], dtype=np.int64))
            np.save(folder / "scopes.npy", np.asarray([scope_ids[r[1]] for r in rows], dtype=np.int32))
            (folder / "scopes.json").write_text(json.dumps(scope_names), encoding="utf-8")
            if rows:
                _quiet_bm25s()
                retriever = bm25s.BM25()
                retriever.index(tokenize([r[2] for r in rows]), show_progress=False)
                retriever.save(str(folder / "bm25"), show_progress=False)
            _fsync_tree(folder)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        previous = self._pointer()
        kept = [] if previous is None else [previous.folder, *previous.kept]
        kept = [k for k in kept if k != folder.name][:_KEEP_PREVIOUS]
        # Not atomic_write's default: readers running as another user need what the index folder allows.
        atomic_write(
            self.directory / _POINTER,
            json.dumps(
                {
                    "format": _FORMAT,
                    "generation": generation,
                    "dir": folder.name,
                    "catalog_id": catalog_id,
                    "sentences": len(rows),
                    "kept": kept,
                }
            ),
            mode=self.directory.stat().st_mode & 0o666,
        )
        self._prune({folder.name, *kept})
        log.debug("lexical index: published %d sentences, generation %d", len(rows), generation)

    def _prune(self, keep: set[str]) -> None:
        """Delete generations no pointer keeps any more, and builds or pointer files a crash left."""
        for entry in self.directory.iterdir():
            stale_build = entry.name.startswith(_PREFIX) and entry.name not in keep
            stale_pointer = entry.name.startswith(f".{_POINTER}.")
            if stale_build and entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            elif stale_pointer:
                entry.unlink(missing_ok=True)

    # readers -----------------------------------------------------------------------------------
    def _load(self) -> _Loaded | None:
        """The published generation, in memory; loaded once however many threads ask at the same time.

        A folder that vanished between reading the pointer and loading it (the writer pruned it) sends
        the reader back to the pointer, a few times at most; after that, the generation this reader
        already holds (or none) serves until the next question.
        """
        for _ in range(_LOAD_ATTEMPTS):
            pointer = self._usable(self._pointer())
            if pointer is None:
                log.debug("no lexical index is published in %s yet: no BM25 candidates", self.directory)
                return None
            loaded = self._loaded
            if loaded is not None and loaded.folder == pointer.folder:
                return loaded
            with self._load_lock:
                loaded = self._loaded
                if loaded is not None and loaded.folder == pointer.folder:  # another thread loaded it
                    return loaded
                try:
                    loaded = _read(self.directory / pointer.folder)
                except FileNotFoundError:
                    log.debug(
                        "lexical generation %s went away while loading; reading the pointer again",
                        pointer.folder,
                    )
                    continue
                except (OSError, ValueError, KeyError) as exc:
                    log.warning(
                        "cannot read the lexical index %s (%s); using the previous one", pointer.folder, exc
                    )
                    return self._loaded
                self._loaded = loaded
                return loaded
        return self._loaded

    def scores(
        self, query_tokens: Sequence[str], scopes: Sequence[str] | None = None
    ) -> LexicalScores | None:
        """Score every sentence against a query (tokens from ``tokenize``); outside ``scopes`` scores 0."""
        loaded = self._load()
        if loaded is None or loaded.retriever is None:
            return None
        retriever, rowids = loaded.retriever, loaded.rowids
        tokens = [t for t in query_tokens if t in retriever.vocab_dict]
        if not tokens:
            return LexicalScores(rowids, np.zeros(len(rowids), dtype=np.float32), 0)
        scores = np.asarray(retriever.get_scores(tokens), dtype=np.float32)
        if scopes is not None:
            wanted = set(scopes)
            allowed = [i for i, n in enumerate(loaded.scope_names) if n in wanted]
            scores = np.where(np.isin(loaded.scopes, allowed), scores, 0.0).astype(np.float32)
        return LexicalScores(rowids, scores, len(tokens))

    def idf(self, terms: Sequence[str]) -> dict[str, float]:
        """BM25's inverse document frequency of each (tokenized) term; unknown terms get the maximum."""
        loaded = self._load()
        if loaded is None or loaded.retriever is None:
            return {t: 1.0 for t in terms}
        retriever = loaded.retriever
        indptr = retriever.scores["indptr"]
        n = float(retriever.scores["num_docs"])
        out = {}
        for t in terms:
            j = retriever.vocab_dict.get(t)
            df = float(indptr[j + 1] - indptr[j]) if j is not None else 0.0
            out[t] = float(np.log(1.0 + (n - df + 0.5) / (df + 0.5)))
        return out


def _read(folder: Path) -> _Loaded:
    """Read a generation wholly into memory (no mmap), so its folder may be deleted afterwards."""
    import bm25s

    rowids = np.load(folder / "rowids.npy")
    scopes = np.load(folder / "scopes.npy")
    names = json.loads((folder / "scopes.json").read_text(encoding="utf-8"))
    retriever = None
    if len(rowids):
        _quiet_bm25s()
        retriever = bm25s.BM25.load(str(folder / "bm25"), mmap=False, show_progress=False)
    return _Loaded(folder.name, retriever, rowids, scopes, list(names))


def _fsync_tree(folder: Path) -> None:
    """Flush a built generation's files and folders to disk before the pointer names it."""
    for path in sorted(folder.rglob("*"), reverse=True):
        fsync_path(path)
    fsync_path(folder)
