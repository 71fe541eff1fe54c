"""Export a sentence-transformers model to one ONNX graph, fuse it for ONNX Runtime, and cache the file.

Why: torch's import and sentence-transformers cost seconds and hundreds of megabytes per process, and torch
is not the fastest engine for a small encoder on a CPU. So the whole model (transformer, pooling, any
Dense layers, then L2 normalisation) is exported once by ``torch.onnx.export``, ONNX Runtime's
transformer optimizer fuses it (``com.microsoft`` EmbedLayerNormalization, Attention,
SkipLayerNormalization, BiasGelu: per-node overhead, not arithmetic, is most of one short question's time),
and the file is kept in the cache folder. Every later process only opens that file: no torch.

The TorchScript-based exporter is used rather than the dynamo one: only its graph is one ONNX Runtime's
optimizer recognises (the dynamo graph's attention stays unfused, and it needs ``onnxscript``). Attention
is exported in its "eager" form for the same reason. A graph is only kept if it reproduces
``SentenceTransformer.encode`` on probe texts (cosine 0.99999), tokenized as :mod:`.onnx_encoder` will.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import warnings
from contextlib import suppress
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_write

log = logging.getLogger(__name__)

MIN_COSINE = 0.99999
# Short and long, padded together in one batch, punctuation and non-ASCII, and one past max_seq_length.
_PROBES = [
    "How many North Korean soldiers entered eastern Russia?",
    "x",
    "Ünïcödé, emoji 🙂 and numbers 1,234.5!",
    "The committee met on Tuesday; it adjourned without a vote, and the chair said talks would resume. " * 3,
    "A very long text that is cut at the model's maximum sequence length. " * 80,
]


class ExportError(RuntimeError):
    """The model could not be exported, or the exported graph disagrees with sentence-transformers."""


def cache_file(cache_dir: Path, model: Path) -> Path:
    """Where the graph exported from ``model`` is kept.

    The name starts with a hash of the model's path, so a new export can replace that model's older
    ones, and ends with a hash of everything the graph depends on: each file of the model folder (name,
    size, time), this module's source, and the versions of torch's exporter and ONNX Runtime's optimizer
    (read from package metadata, which imports neither).
    """
    from importlib.metadata import PackageNotFoundError, version

    files = sorted(
        (str(p.relative_to(model)), p.stat().st_size, p.stat().st_mtime_ns)
        for p in model.rglob("*")
        if p.is_file()
    )
    versions = []
    for package in ("torch", "onnxruntime", "transformers", "sentence-transformers"):
        try:
            versions.append(version(package))
        except PackageNotFoundError:
            versions.append("")
    exporter = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
    key = json.dumps([files, versions, exporter])
    name = hashlib.sha256(str(model.resolve()).encode()).hexdigest()[:16]
    return cache_dir / "onnx" / f"{name}-{hashlib.sha256(key.encode()).hexdigest()[:24]}.onnx"


def cached(path: Path) -> str | None:
    """The cached graph's path if it is there; None if not, or if the cache can't be read."""
    try:
        return str(path) if path.is_file() else None
    except OSError as exc:
        log.warning("cannot read the ONNX graph cache %s (%s); exporting the model", path.parent, exc)
        return None


def keep(path: Path, data: bytes) -> None:
    """Write the graph to the cache atomically and drop the same model's older graphs; never raise."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, data)  # a reader sees the whole file or none, even after a power cut
    except OSError as exc:
        log.warning("cannot keep the ONNX graph in %s (%s); each process exports it again", path.parent, exc)
        return
    model = path.name.split("-", 1)[0]
    for old in path.parent.glob(f"{model}-*.onnx"):
        if old != path:
            with suppress(OSError):
                old.unlink()


def export(model: Path, tokenizer: Any, threads: int = 0) -> bytes:
    """The fused ONNX graph of ``model``, checked against sentence-transformers; imports torch.

    ``tokenizer`` is the ``tokenizers.Tokenizer`` the caller will feed the graph with: the check runs
    the probes through it, so a tokenizer that differs from sentence-transformers' is caught here too.

    Raises:
        ExportError: the model can't be exported, or its graph's vectors disagree with torch's.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from sentence_transformers import SentenceTransformer

    log.info("exporting %s to ONNX (once; the graph is cached)", model)
    # Eager attention exports as the MatMul/Softmax pattern ONNX Runtime's optimizer fuses.
    st = SentenceTransformer(str(model), device="cpu", model_kwargs={"attn_implementation": "eager"})
    st.eval()
    wrapped = _normalized(st, torch).eval()
    config: Any = getattr(st[0], "auto_model").config  # noqa: B009 - typed as Tensor | Module
    fused = fused_graph(wrapped, ["input_ids", "attention_mask"], "embedding", config)
    log.info("onnx export: fused operators %s", fused.get_fused_operator_statistics())
    data: bytes = fused.model.SerializeToString()
    _check(st, data, tokenizer, threads)
    return data


def fused_graph(module: Any, inputs: list[str], output: str, config: Any) -> Any:
    """``module`` (token id tensors in, one batch-first tensor out) as a fused ONNX Runtime graph.

    Shared by the sentence encoder and the reader (``tools/export_reader.py``): the TorchScript-based
    exporter with dynamic batch and length axes, then ONNX Runtime's transformer optimizer, which fuses
    the eager-attention MatMul/Softmax pattern, skip layer-norms and GELUs for a BERT-shaped ``config``.
    Returns the optimizer's model (``.model`` is the ONNX proto). Imports torch.
    """
    import torch
    from onnxruntime.transformers.optimizer import optimize_model

    sample = torch.ones((2, 8), dtype=torch.int64)
    samples = tuple(torch.zeros_like(sample) if name == "token_type_ids" else sample for name in inputs)
    axes = {0: "batch", 1: "length"}
    with (
        tempfile.TemporaryDirectory(prefix="citebot-export-") as tmp,
        torch.no_grad(),
        warnings.catch_warnings(),
    ):
        # The tracer warns that shape checks become constants: they hold for any batch (the probes check).
        warnings.simplefilter("ignore")
        raw = Path(tmp) / "model.onnx"
        torch.onnx.export(
            module,
            samples,
            str(raw),
            dynamo=False,
            input_names=inputs,
            output_names=[output],
            dynamic_axes={**{name: axes for name in inputs}, output: {0: "batch"}},
            opset_version=17,
        )
        return optimize_model(
            str(raw),
            model_type="bert",
            num_heads=int(getattr(config, "num_attention_heads", 0) or 0),
            hidden_size=int(getattr(config, "hidden_size", 0) or 0),
            opt_level=0,
        )


def _normalized(st: Any, torch: Any) -> Any:
    """``st``'s forward from token ids to unit-length sentence vectors, as a module torch can export."""

    class Normalized(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.st = st

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            out = self.st({"input_ids": input_ids, "attention_mask": attention_mask})["sentence_embedding"]
            return torch.nn.functional.normalize(out, p=2, dim=1)

    return Normalized()


def _check(st: Any, data: bytes, tokenizer: Any, threads: int) -> None:
    """Raise ExportError unless the graph, fed by ``tokenizer``, reproduces ``st.encode`` on the probes."""
    from .onnx_encoder import OnnxEncoder, open_session

    session = open_session(data, threads)
    ours = OnnxEncoder(tokenizer, session).encode(_PROBES, batch_tokens=4096)
    theirs = np.asarray(
        st.encode(_PROBES, normalize_embeddings=True, show_progress_bar=False), dtype=np.float32
    )
    if ours.shape != theirs.shape:
        raise ExportError(f"the graph's vectors are {ours.shape[1:]}, the model's {theirs.shape[1:]}")
    worst = float((ours * theirs).sum(axis=1).min())
    if worst < MIN_COSINE:
        raise ExportError(f"the graph's vectors differ from sentence-transformers' (cosine {worst:.6f})")
