"""A torch-free encoder for BERT sentence-transformers models: tokenizers + ONNX Runtime, weights by path.

Why: importing torch and sentence-transformers costs about 4 s and 400 MB, which is most of a cold
``citebot ask``, and torch is not the fastest engine for a 6-layer, 384-wide network on a CPU. ONNX
Runtime is (it is already installed: chromadb depends on it). Rather than exporting through torch, the
graph is written here, node by node, from the model's safetensors weights: the same arithmetic as
``transformers``' ``BertModel`` (absolute positions, exact erf GELU) followed by sentence-transformers'
mean pooling and normalisation. The vectors agree with the torch model to float32 rounding (cosine
within 1e-5; ``tests`` and ``citebot bench`` check it). Measured on 2 cores: one question in 2.7 ms
(NumPy: 9 ms), and a batch of sentences 1.6x faster than ``SentenceTransformer.encode``.

Only models this module fully understands are accepted (a BERT encoder with absolute positions and
GELU, mean pooling, then Normalize); :func:`load` returns ``None`` for anything else and the caller
uses torch instead.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from onnx import ModelProto
    from tokenizers import Tokenizer

log = logging.getLogger(__name__)

_ST_MODULES = [
    "sentence_transformers.models.Transformer",
    "sentence_transformers.models.Pooling",
    "sentence_transformers.models.Normalize",
]
_OPSET = 18  # LayerNormalization (17) and reductions whose axes are inputs (18)


class OnnxEncoder:
    """Encode sentences with a BERT sentence-transformers model on ONNX Runtime."""

    def __init__(self, tokenizer: Tokenizer, session: Any, dimension: int) -> None:
        self.dimension = dimension
        self._tok = tokenizer
        self._session = session

    def encode(self, texts: list[str], batch_tokens: int = 512) -> np.ndarray:
        """Embed ``texts`` as normalised float32 rows.

        Texts are sorted by length and batched up to ``batch_tokens`` padded tokens: many short texts
        per batch, few long ones. Small batches keep the activations in the CPU's cache: on 2 cores,
        budgets of 256 to 1,024 tokens were equally fast on squad-dev's sentences, 1,000-character chunks
        and short generated sentences, while fixed batches of 64 texts took up to 30% longer.
        """
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        encs = self._tok.encode_batch(texts) if texts else []
        order = sorted(range(len(texts)), key=lambda i: len(encs[i].ids))
        start = 0
        while start < len(order):
            end = start + 1
            while end < len(order) and (end - start + 1) * len(encs[order[end]].ids) <= batch_tokens:
                end += 1
            idx = order[start:end]
            length = len(encs[idx[-1]].ids)
            ids = np.zeros((len(idx), length), dtype=np.int64)
            mask = np.zeros((len(idx), length), dtype=np.int64)
            for r, i in enumerate(idx):
                n = len(encs[i].ids)
                ids[r, :n] = encs[i].ids
                mask[r, :n] = 1
            out[idx] = self._session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
            start = end
        return out


@dataclass
class _Graph:
    """Accumulates ONNX nodes and initializers with unique names; each ``op`` returns its output's name."""

    nodes: list[Any] = field(default_factory=list)
    weights: list[Any] = field(default_factory=list)
    _n: int = 0

    def _name(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}_{self._n}"

    def const(self, value: Any, prefix: str = "w") -> str:
        from onnx import numpy_helper

        name = self._name(prefix)
        self.weights.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, kind: str, *inputs: str, **attrs: Any) -> str:
        from onnx import helper

        out = self._name(kind.lower())
        self.nodes.append(helper.make_node(kind, list(inputs), [out], **attrs))
        return out


def _build(w: dict[str, np.ndarray], config: dict) -> ModelProto:
    """Write the BERT encoder + mean pooling + normalisation as an ONNX graph over ``w``'s weights.

    ONNX Runtime's fused CPU kernels (``com.microsoft`` Attention, SkipLayerNormalization, BiasGelu)
    do each layer in 7 nodes instead of about 35: for one short question the per-node overhead,
    not the arithmetic, is most of the time.
    """
    from onnx import TensorProto, helper

    g = _Graph()
    d = int(config["hidden_size"])
    eps = float(config.get("layer_norm_eps", 1e-12))
    ms = {"domain": "com.microsoft"}

    def t(name: str) -> str:  # torch stores a Linear's weight (out, in); MatMul wants (in, out)
        return g.const(np.ascontiguousarray(w[name].T))

    def skip_norm(x: str, residual: str, prefix: str, norm: str) -> str:
        """LayerNorm(x + bias + residual), in one kernel."""
        return g.op(
            "SkipLayerNormalization",
            x,
            residual,
            g.const(w[norm + ".weight"]),
            g.const(w[norm + ".bias"]),
            g.const(w[prefix + ".bias"]),
            epsilon=eps,
            **ms,
        )

    # Embeddings: word + position + token type 0 (single-segment input), then LayerNorm.
    length = g.op("Gather", g.op("Shape", "input_ids"), g.const(np.array(1, np.int64)))
    positions = g.op("Range", g.const(np.array(0, np.int64)), length, g.const(np.array(1, np.int64)))
    h = g.op(
        "SkipLayerNormalization",
        g.op("Gather", g.const(w["embeddings.word_embeddings.weight"]), "input_ids"),
        g.op("Gather", g.const(w["embeddings.position_embeddings.weight"]), positions),
        g.const(w["embeddings.LayerNorm.weight"]),
        g.const(w["embeddings.LayerNorm.bias"]),
        g.const(w["embeddings.token_type_embeddings.weight"][0]),
        epsilon=eps,
        **ms,
    )
    mask = g.op("Cast", "attention_mask", to=TensorProto.INT32)  # (batch, len): 1 for real tokens
    for i in range(int(config["num_hidden_layers"])):
        p = f"encoder.layer.{i}."
        names = ("query", "key", "value")
        qkv_w = np.concatenate([w[p + f"attention.self.{n}.weight"] for n in names]).T
        qkv_b = np.concatenate([w[p + f"attention.self.{n}.bias"] for n in names])
        ctx = g.op(
            "Attention",
            h,
            g.const(np.ascontiguousarray(qkv_w)),
            g.const(qkv_b),
            mask,
            num_heads=int(config["num_attention_heads"]),
            **ms,
        )
        out = g.op("MatMul", ctx, t(p + "attention.output.dense.weight"))
        h = skip_norm(out, h, p + "attention.output.dense", p + "attention.output.LayerNorm")
        up = g.op("MatMul", h, t(p + "intermediate.dense.weight"))
        gelu = g.op("BiasGelu", up, g.const(w[p + "intermediate.dense.bias"]), **ms)  # exact (erf) GELU
        down = g.op("MatMul", gelu, t(p + "output.dense.weight"))
        h = skip_norm(down, h, p + "output.dense", p + "output.LayerNorm")

    # Mean over real tokens, then unit length.
    m3 = g.op(
        "Unsqueeze", g.op("Cast", "attention_mask", to=TensorProto.FLOAT), g.const(np.array([2], np.int64))
    )
    axis1 = g.const(np.array([1], np.int64))
    total = g.op("ReduceSum", g.op("Mul", h, m3), axis1, keepdims=0)
    count = g.op("Max", g.op("ReduceSum", m3, axis1, keepdims=0), g.const(np.float32(1e-9)))
    pooled = g.op("Div", total, count)
    length2 = g.op("Max", g.op("ReduceL2", pooled, axis1, keepdims=1), g.const(np.float32(1e-12)))
    g.nodes.append(helper.make_node("Div", [pooled, length2], ["embedding"]))

    graph = helper.make_graph(
        g.nodes,
        "sentence_encoder",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "length"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "length"]),
        ],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", d])],
        g.weights,
    )
    opsets = [helper.make_opsetid("", _OPSET), helper.make_opsetid("com.microsoft", 1)]
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8  # readable by every ONNX Runtime that knows opset 18
    return model


def _supported(path: Path) -> tuple[dict, int] | None:
    """The model's config and max sequence length if it is a shape this module computes, else None."""
    modules = json.loads((path / "modules.json").read_text())
    if [m.get("type") for m in modules] != _ST_MODULES:
        log.info("onnx encoder: %s is not Transformer+Pooling+Normalize; using torch", path)
        return None
    config = json.loads((path / "config.json").read_text())
    pool_dir = next(m["path"] for m in modules if m["type"].endswith("Pooling"))
    pooling = json.loads((path / pool_dir / "config.json").read_text())
    st_config = json.loads((path / "sentence_bert_config.json").read_text())
    other_pooling = ("pooling_mode_cls_token", "pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens")
    supported = (
        config.get("model_type") == "bert"
        and config.get("hidden_act") == "gelu"
        and config.get("position_embedding_type", "absolute") == "absolute"
        and pooling.get("pooling_mode_mean_tokens")
        and not any(pooling.get(k) for k in other_pooling)
        and pooling.get("include_prompt") is not False
        and (path / "tokenizer.json").is_file()
        and (path / "model.safetensors").is_file()
    )
    st_extra = path / "config_sentence_transformers.json"
    extra = json.loads(st_extra.read_text()) if st_extra.is_file() else {}
    # sentence-transformers lowercases the text, or prepends a prompt, before tokenizing for these.
    supported = supported and not st_config.get("do_lower_case") and not extra.get("default_prompt_name")
    if not supported:
        log.info("onnx encoder: %s has an unsupported configuration; using torch", path)
        return None
    max_len = min(int(st_config.get("max_seq_length") or 512), int(config["max_position_embeddings"]))
    return config, max_len


def _cache_file(cache_dir: Path, path: Path, config: dict) -> Path:
    """Where the graph built from this model is kept.

    The name starts with a hash of the model's path, so a rebuilt graph can replace that model's older
    ones, and ends with a hash of what the graph depends on: the weights file (size and time), the
    config, and this module's own source, so any change to the builder is a new graph.
    """
    weights = (path / "model.safetensors").stat()
    builder = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
    key = json.dumps([weights.st_size, weights.st_mtime_ns, config, builder], sort_keys=True)
    model = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    return cache_dir / "onnx" / f"{model}-{hashlib.sha256(key.encode()).hexdigest()[:24]}.onnx"


def _cached(cached: Path) -> str | None:
    """The cached graph's path if it is there; None if not, or if the cache can't be read."""
    try:
        return str(cached) if cached.is_file() else None
    except OSError as exc:
        log.warning("cannot read the ONNX graph cache %s (%s); building the graph", cached.parent, exc)
        return None


def _keep(cached: Path, data: bytes) -> None:
    """Write the graph to the cache atomically and drop the same model's older graphs; never raise."""
    tmp = cached.with_name(f"{cached.stem}.{os.getpid()}.tmp")
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data)
        os.replace(tmp, cached)  # a reader sees the whole file or none
    except OSError as exc:
        log.warning("cannot keep the ONNX graph in %s (%s); each process builds it again", cached.parent, exc)
        with suppress(OSError):
            tmp.unlink(missing_ok=True)
        return
    model = cached.name.split("-", 1)[0]
    for old in cached.parent.glob(f"{model}-*.onnx"):
        if old != cached:
            with suppress(OSError):
                old.unlink()


def _built(path: Path, config: dict) -> bytes:
    from safetensors.numpy import load_file

    weights = {k.removeprefix("bert."): v for k, v in load_file(str(path / "model.safetensors")).items()}
    return _build(weights, config).SerializeToString()


def load(model: str, *, threads: int = 0, cache_dir: Path | None = None) -> OnnxEncoder | None:
    """Load ``model`` (a local directory) on ONNX Runtime, or ``None`` if it can't run there.

    ``threads`` is ONNX Runtime's intra-op thread count; 0 lets it use every physical core. The graph
    is built once and kept in ``cache_dir`` (when given): a new process then skips importing ``onnx``
    and building, about 0.4 s and 250 MB of peak memory of a cold ``citebot ask``. A cache that can't
    be read or written only costs that time; a damaged cached graph is built again.
    """
    path = Path(model)
    try:
        found = _supported(path)
    except (OSError, ValueError, KeyError, StopIteration) as exc:
        log.info(
            "onnx encoder: cannot read %s as a sentence-transformers model (%s); using torch", model, exc
        )
        return None
    if found is None:
        return None
    config, max_len = found
    try:
        # Tokenizing is a small share of the time; its thread pool would compete with ONNX Runtime's,
        # and the tokenizers library warns on every later fork once that pool has run.
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import onnxruntime as ort
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(path / "tokenizer.json"))
        tok.enable_truncation(max_len)
        tok.no_padding()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Worker threads that spin between calls steal the core a busy bot needs for everything else.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = ["CPUExecutionProvider"]
        cached = _cache_file(cache_dir, path, config) if cache_dir is not None else None
        source = _cached(cached) if cached is not None else None
        session = None
        if source is not None:
            try:
                session = ort.InferenceSession(source, options, providers=providers)
            except Exception as exc:  # ONNX Runtime's own errors derive from Exception only
                log.warning("the cached ONNX graph %s is unreadable (%s); building it again", source, exc)
        if session is None:
            data = _built(path, config)
            if cached is not None:
                _keep(cached, data)
            session = ort.InferenceSession(data, options, providers=providers)
        return OnnxEncoder(tok, session, int(config["hidden_size"]))
    except Exception as exc:  # safetensors and ONNX Runtime raise plain Exceptions; torch can still run it
        log.warning("cannot run %s on ONNX Runtime (%s: %s); using torch", model, exc.__class__.__name__, exc)
        return None
