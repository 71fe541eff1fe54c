"""Sentence embeddings from a local sentence-transformers model, loaded lazily and by path.

Nothing here touches a model hub: ``HF_HUB_OFFLINE`` is set before the model loads, and the default
model is citebot's own, bundled in the package (:mod:`.bundled`; the presets: :mod:`.presets`). Chroma is
always handed vectors computed here; its own default embedding function (which downloads) is never used.

Two engines compute the same vectors. :mod:`.onnx_encoder` runs the model's graph, exported once by
:mod:`.onnx_export` and cached, on ONNX Runtime: faster than torch for one question and for a batch on a
CPU, and without torch's import (seconds and hundreds of megabytes). A model whose pipeline the graph
can't reproduce, or that fails to export, goes through sentence-transformers on torch. Identical texts in
one call are embedded once.

Some models want to be told what a text is: E5 (the ``multilingual`` preset, :mod:`.multilingual`) was
trained with ``"query: "`` before questions and ``"passage: "`` before the text searched, and its folder
names them as sentence-transformers prompts. ``encode`` adds the prompt of the text's ``role``; a model
without such prompts (all-MiniLM-L6-v2) gets the texts unchanged.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from langchain_core.embeddings import Embeddings

from ..errors import ConfigurationError
from ..settings import Engine
from . import presets

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from ..settings import Settings
    from .onnx_encoder import OnnxEncoder

log = logging.getLogger(__name__)

#: What a text is to the model: a question, or a unit of a document that questions are matched with.
Role = Literal["query", "passage"]
#: Prompt names models use for each role (sentence-transformers' ``prompts``), first match wins.
_PROMPT_NAMES: dict[Role, tuple[str, ...]] = {
    "query": ("query",),
    "passage": ("passage", "document"),
}


def model_prompts(model: str) -> dict[Role, str]:
    """The prompt to put before each role's texts, from a model folder's sentence-transformers config.

    Empty for a model without prompts (the texts go in unchanged) and for anything that is not a
    readable local folder.
    """
    config = Path(model) / "config_sentence_transformers.json"
    try:
        prompts = json.loads(config.read_text(encoding="utf-8")).get("prompts") or {}
    except (OSError, ValueError, AttributeError):
        return {}
    out: dict[Role, str] = {}
    for role, names in _PROMPT_NAMES.items():
        found = next((prompts[n] for n in names if isinstance(prompts.get(n), str) and prompts[n]), None)
        if found:
            out[role] = found
    return out


class SentenceEmbedder(Embeddings):
    """A LangChain ``Embeddings`` over a sentence-transformers model, on ONNX Runtime where it can be.

    Vectors are L2-normalised, so a dot product is the cosine similarity. ``engine`` picks the engine:
    ``auto`` (ONNX Runtime when :mod:`.onnx_encoder` can run the model, else torch), ``onnx`` (an error
    if it can't) or ``torch``. ``threads`` caps ONNX Runtime's threads (0: every core); ``cache_dir``
    keeps the ONNX graph exported from the model between processes.
    """

    def __init__(
        self,
        model: str,
        *,
        batch_size: int = 64,
        device: str = "cpu",
        engine: Engine = "auto",
        threads: int = 0,
        cache_dir: Path | None = None,
    ) -> None:
        self.model_name = model
        self.batch_size = batch_size
        self.device = device
        self.engine = engine
        self.threads = threads
        self.cache_dir = cache_dir
        self._model: SentenceTransformer | None = None
        self._onnx: OnnxEncoder | None = None
        self._onnx_tried = False
        self._lock = threading.Lock()
        self.prompts = model_prompts(model)

    @classmethod
    def from_settings(cls, settings: Settings) -> SentenceEmbedder:
        """The embedder ``settings`` describe (model, batch size, engine, threads)."""
        return cls(
            presets.resolve_model(settings),
            batch_size=settings.embedding_batch_size,
            engine=settings.embedding_engine,
            threads=settings.embedding_threads,
            cache_dir=settings.cache_dir,
        )

    @property
    def model(self) -> SentenceTransformer:
        """The sentence-transformers model; the first access loads it (seconds: torch is imported)."""
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
        log.info("loading embedding model %s on torch", self.model_name)
        try:
            return SentenceTransformer(self.model_name, device=self.device)
        except Exception as exc:
            raise ConfigurationError(
                f"cannot load the embedding model {self.model_name!r} ({exc.__class__.__name__}). "
                "Set CITEBOT_EMBEDDING_MODEL to a local sentence-transformers model directory, "
                "or leave it empty for citebot's bundled model."
            ) from exc

    def _onnx_encoder(self) -> OnnxEncoder | None:
        """The ONNX Runtime encoder for this model, or None when torch is to be used."""
        if self.engine == "torch":
            return None
        if self.device != "cpu":
            if self.engine == "onnx":
                raise ConfigurationError(
                    f"CITEBOT_EMBEDDING_ENGINE=onnx runs on the CPU only, not on {self.device!r}"
                )
            return None
        if not self._onnx_tried:
            with self._lock:
                if not self._onnx_tried:
                    from .onnx_encoder import load

                    log.info("loading embedding model %s on ONNX Runtime", self.model_name)
                    try:
                        self._onnx = load(self.model_name, threads=self.threads, cache_dir=self.cache_dir)
                    finally:  # tried once per embedder, whatever happened: never rebuilt per call
                        self._onnx_tried = True
        if self._onnx is None and self.engine == "onnx":
            raise ConfigurationError(
                f"the embedding model {self.model_name!r} can't run on ONNX Runtime here (the log "
                "says why: its pipeline, its export or ONNX Runtime): set CITEBOT_EMBEDDING_ENGINE=auto "
                "or torch"
            )
        return self._onnx

    @property
    def active_engine(self) -> str:
        """Which engine embeds: ``onnx`` or ``torch``."""
        return "onnx" if self._onnx_encoder() is not None else "torch"

    @property
    def dimension(self) -> int:
        """Length of the vectors this model produces."""
        fast = self._onnx_encoder()
        if fast is not None:
            return fast.dimension
        dim = self.model.get_sentence_embedding_dimension()
        if dim is None:  # pragma: no cover - every sentence-transformers model we load reports it
            raise ConfigurationError(f"{self.model_name} does not report its embedding size")
        return int(dim)

    def encode(self, texts: list[str], *, role: Role = "query", show_progress: bool = False) -> np.ndarray:
        """Embed ``texts`` as a float32 matrix of normalised rows (each distinct text once).

        ``role`` says what the texts are, for models that prompt each kind differently: ``query`` (the
        default, as the ranker embeds a question) or ``passage`` (units being indexed).
        """
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        prompt = self.prompts.get(role)
        if prompt:
            texts = [prompt + t for t in texts]
        positions: dict[str, int] = {}
        where = [positions.setdefault(t, len(positions)) for t in texts]
        unique = list(positions)
        fast = self._onnx_encoder()
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
        return self.encode(list(texts), role="passage").tolist()

    def embed_query(self, text: str) -> list[float]:
        """Embed one query for LangChain callers."""
        return self.encode([text], role="query")[0].tolist()
