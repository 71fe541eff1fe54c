"""A torch-free sentence encoder: the model's tokenizer (``tokenizers``), its exported graph on ONNX Runtime.

Why: importing torch and sentence-transformers costs about 4 s and 400 MB, most of a cold ``citebot ask``.
:mod:`.onnx_export` exports the model once (that step imports torch) and caches the graph; from then on a
process only opens the cached file here. The vectors agree with ``SentenceTransformer.encode`` to cosine
1e-5: the export is checked on probe texts before it is kept, and ``tests/embed`` checks it on real text.

Models whose sentence-transformers pipeline changes the text before tokenizing (lowercasing, a default
prompt), or that have modules other than Transformer, Pooling, Dense and Normalize, stay on torch:
:func:`load` returns ``None`` for them, and for any model the exporter or ONNX Runtime can't handle.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from tokenizers import Tokenizer

log = logging.getLogger(__name__)

# Module classes by name: sentence-transformers 6 saves them under new module paths
# (``sentence_transformers.base.modules.transformer.Transformer``), older folders under
# ``sentence_transformers.models``; both load as the same classes.
_FIRST = "Transformer"
_THEN = {"Pooling", "Dense", "Normalize"}


def _class_name(kind: object) -> str | None:
    """``Pooling`` for any of sentence-transformers' own module paths of it; None for other code."""
    if not isinstance(kind, str) or not kind.startswith("sentence_transformers."):
        return None
    return kind.rsplit(".", 1)[-1]


class OnnxEncoder:
    """Encode sentences with an exported sentence-transformers graph on ONNX Runtime."""

    def __init__(self, tokenizer: Tokenizer, session: Any) -> None:
        width = session.get_outputs()[0].shape[-1]
        if not isinstance(width, int):
            raise ValueError(f"the ONNX graph's output width is not fixed ({width!r})")
        self.dimension = width
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


def open_session(graph: str | bytes, threads: int) -> Any:
    """An ONNX Runtime CPU session over ``graph`` (a path or the bytes) with citebot's thread settings.

    ``threads`` is the intra-op thread count; 0 lets ONNX Runtime use every physical core.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Worker threads that spin between calls steal the core a busy bot needs for everything else.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])


def _max_length(path: Path) -> int | None:
    """The model's max sequence length if its pipeline is one the graph reproduces, else None."""
    modules = json.loads((path / "modules.json").read_text())
    kinds = [m.get("type") for m in modules]
    names = [_class_name(k) for k in kinds]
    if not names or names[0] != _FIRST or not set(names[1:]) <= _THEN:
        log.info("onnx encoder: %s has modules %s; using torch", path, kinds)
        return None
    st_config = json.loads((path / "sentence_bert_config.json").read_text())
    st_extra = path / "config_sentence_transformers.json"
    extra = json.loads(st_extra.read_text()) if st_extra.is_file() else {}
    # sentence-transformers lowercases the text, or prepends a prompt, before tokenizing for these.
    if st_config.get("do_lower_case") or extra.get("default_prompt_name"):
        log.info("onnx encoder: %s lowercases or prompts its input; using torch", path)
        return None
    if not (path / "tokenizer.json").is_file():
        log.info("onnx encoder: %s has no tokenizer.json; using torch", path)
        return None
    config = json.loads((path / "config.json").read_text())
    # Without its own max_seq_length, sentence-transformers takes the tokenizer's model_max_length.
    tok_config = path / "tokenizer_config.json"
    tok_max = json.loads(tok_config.read_text()).get("model_max_length") if tok_config.is_file() else None
    limits = [int(st_config.get("max_seq_length") or tok_max or 512)]
    if config.get("max_position_embeddings"):
        limits.append(int(config["max_position_embeddings"]))
    return min(limits)


def load(model: str, *, threads: int = 0, cache_dir: Path | None = None) -> OnnxEncoder | None:
    """Load ``model`` (a local directory) on ONNX Runtime, or ``None`` if it can't run there.

    The graph comes from ``cache_dir`` when it is there (no torch is imported); otherwise the model is
    exported (seconds, imports torch) and the graph kept there. A cache that can't be read or written
    only costs that time; a damaged cached graph is exported again.
    """
    path = Path(model)
    try:
        max_len = _max_length(path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.info(
            "onnx encoder: cannot read %s as a sentence-transformers model (%s); using torch", model, exc
        )
        return None
    if max_len is None:
        return None
    try:
        # Tokenizing is a small share of the time; its thread pool would compete with ONNX Runtime's,
        # and the tokenizers library warns on every later fork once that pool has run.
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from tokenizers import Tokenizer

        from . import onnx_export

        tok = Tokenizer.from_file(str(path / "tokenizer.json"))
        tok.enable_truncation(max_len)
        tok.no_padding()
        target = onnx_export.cache_file(cache_dir, path) if cache_dir is not None else None
        source = onnx_export.cached(target) if target is not None else None
        if source is not None:
            try:
                return OnnxEncoder(tok, open_session(source, threads))
            except Exception as exc:  # ONNX Runtime's own errors derive from Exception only
                log.warning("the cached ONNX graph %s is unreadable (%s); exporting it again", source, exc)
        data = onnx_export.export(path, tok, threads)
        if target is not None:
            onnx_export.keep(target, data)
        return OnnxEncoder(tok, open_session(data, threads))
    except Exception as exc:  # the exporter, torch and ONNX Runtime raise many kinds; torch can still run it
        log.warning("cannot run %s on ONNX Runtime (%s: %s); using torch", model, exc.__class__.__name__, exc)
        return None
