"""The lexical index: BM25 over every indexed sentence (bm25s), saved beside the catalog.

It scores the whole corpus in one vectorised pass, so the ranker can look at any sentence's score and
its neighbours' (window evidence) without a second query. The index is rebuilt after an ingest that
changed anything, written to a fresh folder and switched to atomically, so a crash mid-build leaves
the previous one in place.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import bm25s

log = logging.getLogger(__name__)

_POINTER = "current.json"


def _quiet_bm25s() -> None:
    """bm25s sets its logger to DEBUG on import; give the level back to the application's config."""
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


class LexicalIndex:
    """BM25 over the catalog's sentences, identified by catalog rowid."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._loaded: tuple[int, bm25s.BM25, np.ndarray, np.ndarray, list[str]] | None = None

    def generation(self) -> int:
        """The catalog generation the saved index was built from (-1 when there is none)."""
        pointer = self.directory / _POINTER
        try:
            return int(json.loads(pointer.read_text())["generation"])
        except (OSError, ValueError, KeyError):
            return -1

    def build(self, rows: Sequence[tuple[int, str, str]], generation: int) -> None:
        """Index ``(rowid, scope, text)`` rows and switch to the new index atomically."""
        import bm25s

        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.directory / f"bm25-{generation}-{os.getpid()}"
        if target.exists():
            shutil.rmtree(target)
        target.mkdir()
        scope_names = sorted({r[1] for r in rows})
        scope_ids = {s: i for i, s in enumerate(scope_names)}
        np.save(target / "rowids.npy", np.asarray([r[0] for r in rows], dtype=np.int64))
        np.save(target / "scopes.npy", np.asarray([scope_ids[r[1]] for r in rows], dtype=np.int32))
        (target / "scopes.json").write_text(json.dumps(scope_names))
        if rows:
            retriever = bm25s.BM25()
            retriever.index(tokenize([r[2] for r in rows]), show_progress=False)
            retriever.save(str(target / "bm25"), show_progress=False)
        tmp = self.directory / f"{_POINTER}.tmp"
        tmp.write_text(json.dumps({"generation": generation, "dir": target.name}))
        os.replace(tmp, self.directory / _POINTER)
        for old in self.directory.glob("bm25-*"):
            if old != target:
                shutil.rmtree(old, ignore_errors=True)
        with self._lock:
            self._loaded = None
        log.debug("lexical index: %d sentences, generation %d", len(rows), generation)

    def _load(self) -> tuple[int, bm25s.BM25, np.ndarray, np.ndarray, list[str]] | None:
        with self._lock:
            gen = self.generation()
            if self._loaded is not None and self._loaded[0] == gen:
                return self._loaded
            if gen < 0:
                return None
            import bm25s

            info = json.loads((self.directory / _POINTER).read_text())
            folder = self.directory / info["dir"]
            rowids = np.load(folder / "rowids.npy")
            if len(rowids) == 0:
                return None
            retriever = bm25s.BM25.load(str(folder / "bm25"), mmap=False, show_progress=False)
            scopes = np.load(folder / "scopes.npy")
            names = json.loads((folder / "scopes.json").read_text())
            self._loaded = (gen, retriever, rowids, scopes, names)
            return self._loaded

    def scores(
        self, query_tokens: Sequence[str], scopes: Sequence[str] | None = None
    ) -> LexicalScores | None:
        """Score every sentence against a query (tokens from ``tokenize``); outside ``scopes`` scores 0."""
        loaded = self._load()
        if loaded is None:
            return None
        _, retriever, rowids, scope_ids, names = loaded
        tokens = [t for t in query_tokens if t in retriever.vocab_dict]
        if not tokens:
            return LexicalScores(rowids, np.zeros(len(rowids), dtype=np.float32), 0)
        scores = np.asarray(retriever.get_scores(tokens), dtype=np.float32)
        if scopes is not None:
            allowed = [i for i, n in enumerate(names) if n in set(scopes)]
            scores = np.where(np.isin(scope_ids, allowed), scores, 0.0).astype(np.float32)
        return LexicalScores(rowids, scores, len(tokens))

    def idf(self, terms: Sequence[str]) -> dict[str, float]:
        """BM25's inverse document frequency of each (tokenized) term; unknown terms get the maximum."""
        loaded = self._load()
        if loaded is None:
            return {t: 1.0 for t in terms}
        retriever = loaded[1]
        indptr = retriever.scores["indptr"]
        n = float(retriever.scores["num_docs"])
        out = {}
        for t in terms:
            j = retriever.vocab_dict.get(t)
            df = float(indptr[j + 1] - indptr[j]) if j is not None else 0.0
            out[t] = float(np.log(1.0 + (n - df + 0.5) / (df + 0.5)))
        return out
