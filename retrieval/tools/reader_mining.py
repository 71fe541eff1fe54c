"""Hard negatives mined with citebot's own ranker: the units it would cite first that do not answer.

Why: a reader learns what it is shown. Negatives drawn at random or by BM25 alone are easier than the
mistakes citebot actually makes, which come from the whole ranker (dense and lexical retrieval, the
fitted logit over every signal). :class:`RankerMiner` indexes one project's documents into a throwaway
citebot index, with the real parsers and the configured embedding model, and asks the ranker each
question: its best units, minus the answer's own units, are the hardest negatives a training group can
hold. The documents are written as files and ingested exactly as a user's would be, so a mined unit is
the very unit citebot would have cited.

Used by :mod:`retrieval.tools.reader_data` (``--mine-with-ranker``) for the documentation sources,
whose questions come from the same documents; one index per project, removed when the project is done.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ..index.core import Index
from ..ingest.pipeline import ingest
from ..models import Query
from ..rank.ranker import Ranker
from ..settings import Settings

if TYPE_CHECKING:
    from ..embed.embeddings import SentenceEmbedder
    from .reader_sources import ReaderPiece

log = logging.getLogger(__name__)


class MinedPool:
    """A project's documents in a citebot index; :meth:`ranked` is the ranker's best units for a question."""

    def __init__(self, index: Index, candidates: int) -> None:
        self._ranker = Ranker(index, candidates=candidates, reader="none")

    def ranked(self, question: str, k: int) -> list[ReaderPiece]:
        """The ranker's ``k`` best units for ``question``, best first, as reader pieces."""
        from .reader_sources import ReaderPiece

        got = self._ranker.rank(Query(question=question), limit=k)
        return [ReaderPiece(e.text, e.kind, tuple(e.section), e.context) for e in got.evidence]


class RankerMiner:
    """Builds a :class:`MinedPool` per project with one embedding model, loaded once for the whole run."""

    def __init__(self, settings: Settings | None = None, embedder: SentenceEmbedder | None = None) -> None:
        self.settings = settings or Settings()
        if embedder is None:
            from ..embed.embeddings import SentenceEmbedder

            embedder = SentenceEmbedder.from_settings(self.settings)
        self.embedder = embedder

    @contextmanager
    def pool(self, documents: Sequence[tuple[str, str, str]]) -> Iterator[MinedPool]:
        """Index ``documents`` (``(name, text, suffix)``) in a temporary folder while the block runs.

        Each document becomes a file named by a hash of its name with its suffix, so citebot picks the
        same parser the training units came from; the folder and its index are removed afterwards.
        """
        root = Path(tempfile.mkdtemp(prefix="citebot-mine-"))
        try:
            docs = root / "docs"
            docs.mkdir()
            for name, text, suffix in documents:
                stem = hashlib.sha256(name.encode("utf-8")).hexdigest()[:16]
                (docs / f"{stem}{suffix}").write_text(text, encoding="utf-8")
            settings = self.settings.model_copy(
                update={"index_dir": root / "index", "chroma_host": "", "reader": "none"}
            )
            index = Index(settings, embedder=self.embedder)
            try:
                report = ingest(index, [docs])
                log.info("mining index: %d documents, %d units", len(report.added), report.sentences_embedded)
                yield MinedPool(index, settings.candidates)
            finally:
                index.close()
        finally:
            shutil.rmtree(root, ignore_errors=True)
