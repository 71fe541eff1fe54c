"""A torch-free encoder for BERT sentence-transformers models: tokenizers + NumPy, weights read by path.

Why: importing torch and sentence-transformers costs about 4 s and 400 MB, which is most of a cold
``citebot ask``. Embedding one question needs a single forward pass of a 6-layer, 384-wide network,
which NumPy does in a few milliseconds. The arithmetic is the same as ``transformers``' ``BertModel``
followed by sentence-transformers' mean pooling and normalisation, so the vectors agree with the torch
model to float32 rounding (cosine within 1e-5; ``tests`` and ``citebot bench`` check it).

Only models this module fully understands are accepted (a BERT encoder with absolute positions and
GELU, mean pooling, then Normalize); :func:`load` returns ``None`` for anything else and the caller
uses torch instead.
"""

from __future__ import annotations

import json
import logging
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from tokenizers import Tokenizer

log = logging.getLogger(__name__)

_ST_MODULES = [
    "sentence_transformers.models.Transformer",
    "sentence_transformers.models.Pooling",
    "sentence_transformers.models.Normalize",
]


@dataclass(frozen=True, slots=True)
class _Layer:
    qkv_w: np.ndarray  # (hidden, 3 * hidden): query, key and value projections fused in one matmul
    qkv_b: np.ndarray
    out_w: np.ndarray
    out_b: np.ndarray
    ln1_g: np.ndarray
    ln1_b: np.ndarray
    up_w: np.ndarray
    up_b: np.ndarray
    down_w: np.ndarray
    down_b: np.ndarray
    ln2_g: np.ndarray
    ln2_b: np.ndarray


@lru_cache(maxsize=1)
def _blas_controller() -> Any:
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - a dependency; without it BLAS keeps its own threading
        return None
    return ThreadpoolController()


def _one_blas_thread() -> AbstractContextManager[Any]:
    """Run BLAS on one thread while encoding a question.

    The matrices of one question are small: splitting them over threads gains nothing, and OpenBLAS's
    spinning worker threads make a busy machine up to ten times slower (measured: 1 s instead of 80 ms
    per question at a load average of 10 on 2 cores).
    """
    controller = _blas_controller()
    return controller.limit(limits=1, user_api="blas") if controller is not None else nullcontext()


def _erf(x: np.ndarray) -> np.ndarray:
    """Error function (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7: below float32 resolution here).

    NumPy has no erf and scipy.special costs 0.6 s to import; GELU needs the exact (erf) form because
    the tanh approximation shifts vectors by about 1e-4.
    """
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-a * a))


def _gelu(x: np.ndarray) -> np.ndarray:
    return (0.5 * x * (1.0 + _erf(x * np.float32(0.7071067811865476)))).astype(np.float32, copy=False)


def _layer_norm(x: np.ndarray, g: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


class NumpyEncoder:
    """Encode sentences with a BERT sentence-transformers model, without torch."""

    def __init__(
        self, model_dir: Path, tokenizer: Tokenizer, weights: dict[str, np.ndarray], config: dict
    ) -> None:
        self.model_dir = model_dir
        self._tok = tokenizer
        self._heads = int(config["num_attention_heads"])
        self._eps = float(config.get("layer_norm_eps", 1e-12))
        self.dimension = int(config["hidden_size"])
        w = weights
        self._word = w["embeddings.word_embeddings.weight"]
        self._pos = w["embeddings.position_embeddings.weight"]
        self._type0 = w["embeddings.token_type_embeddings.weight"][0]
        self._emb_g = w["embeddings.LayerNorm.weight"]
        self._emb_b = w["embeddings.LayerNorm.bias"]
        self._layers = []
        for i in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{i}."
            self._layers.append(
                _Layer(
                    qkv_w=np.ascontiguousarray(
                        np.concatenate(
                            [w[p + f"attention.self.{n}.weight"] for n in ("query", "key", "value")]
                        ).T
                    ),
                    qkv_b=np.concatenate(
                        [w[p + f"attention.self.{n}.bias"] for n in ("query", "key", "value")]
                    ),
                    out_w=np.ascontiguousarray(w[p + "attention.output.dense.weight"].T),
                    out_b=w[p + "attention.output.dense.bias"],
                    ln1_g=w[p + "attention.output.LayerNorm.weight"],
                    ln1_b=w[p + "attention.output.LayerNorm.bias"],
                    up_w=np.ascontiguousarray(w[p + "intermediate.dense.weight"].T),
                    up_b=w[p + "intermediate.dense.bias"],
                    down_w=np.ascontiguousarray(w[p + "output.dense.weight"].T),
                    down_b=w[p + "output.dense.bias"],
                    ln2_g=w[p + "output.LayerNorm.weight"],
                    ln2_b=w[p + "output.LayerNorm.bias"],
                )
            )

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Embed ``texts`` as normalised float32 rows (batched by length, like sentence-transformers)."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        with _one_blas_thread():
            for s in range(0, len(order), batch_size):
                idx = order[s : s + batch_size]
                out[idx] = self._batch([texts[i] for i in idx])
        return out

    def _batch(self, texts: list[str]) -> np.ndarray:
        encs = self._tok.encode_batch(texts)
        n, length = len(encs), max(len(e.ids) for e in encs)
        ids = np.zeros((n, length), dtype=np.int64)
        mask = np.zeros((n, length), dtype=np.float32)
        for r, e in enumerate(encs):
            ids[r, : len(e.ids)] = e.ids
            mask[r, : len(e.ids)] = 1.0
        h = self._word[ids] + self._pos[:length] + self._type0
        h = _layer_norm(h, self._emb_g, self._emb_b, self._eps)
        bias = ((1.0 - mask) * np.float32(np.finfo(np.float32).min))[:, None, None, :]
        d = h.shape[-1]
        hd = d // self._heads
        scale = np.float32(1.0 / np.sqrt(hd))
        for L in self._layers:
            qkv = h @ L.qkv_w + L.qkv_b  # (n, len, 3d)
            qkv = qkv.reshape(n, length, 3, self._heads, hd).transpose(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]  # (n, heads, len, hd)
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            ctx = (scores @ v).transpose(0, 2, 1, 3).reshape(n, length, d)
            h = _layer_norm(ctx @ L.out_w + L.out_b + h, L.ln1_g, L.ln1_b, self._eps)
            up = _gelu(h @ L.up_w + L.up_b)
            h = _layer_norm(up @ L.down_w + L.down_b + h, L.ln2_g, L.ln2_b, self._eps)
        pooled = (h * mask[:, :, None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return pooled.astype(np.float32, copy=False)


def load(model: str) -> NumpyEncoder | None:
    """Load ``model`` (a local directory) for NumPy inference, or ``None`` if it isn't a supported shape."""
    path = Path(model)
    try:
        modules = json.loads((path / "modules.json").read_text())
        if [m.get("type") for m in modules] != _ST_MODULES:
            log.info("numpy encoder: %s is not Transformer+Pooling+Normalize; using torch", model)
            return None
        config = json.loads((path / "config.json").read_text())
        pool_dir = next(m["path"] for m in modules if m["type"].endswith("Pooling"))
        pooling = json.loads((path / pool_dir / "config.json").read_text())
        st_config = json.loads((path / "sentence_bert_config.json").read_text())
        supported = (
            config.get("model_type") == "bert"
            and config.get("hidden_act") == "gelu"
            and config.get("position_embedding_type", "absolute") == "absolute"
            and pooling.get("pooling_mode_mean_tokens")
            and not any(
                pooling.get(k)
                for k in (
                    "pooling_mode_cls_token",
                    "pooling_mode_max_tokens",
                    "pooling_mode_mean_sqrt_len_tokens",
                )
            )
            and pooling.get("include_prompt") is not False
        )
        if (
            not supported
            or not (path / "tokenizer.json").is_file()
            or not (path / "model.safetensors").is_file()
        ):
            log.info("numpy encoder: %s has an unsupported configuration; using torch", model)
            return None
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(path / "tokenizer.json"))
        max_len = min(int(st_config.get("max_seq_length") or 512), int(config["max_position_embeddings"]))
        tok.enable_truncation(max_len)
        tok.no_padding()
        weights = load_file(str(path / "model.safetensors"))
        weights = {k.removeprefix("bert."): v for k, v in weights.items()}
        return NumpyEncoder(path, tok, weights, config)
    except (OSError, ValueError, KeyError, StopIteration, ImportError) as exc:
        log.info("numpy encoder unavailable for %s (%s); using torch", model, exc)
        return None
