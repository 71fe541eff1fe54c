"""Pack a trained embedding model as citebot's bundled default: float16 weights, its files, our card kept.

Usage: ``python -m retrieval.tools.pack_embedder EMB/model [--into retrieval/embed/citebot_model]``

``train_embedder`` writes a float32 sentence-transformers folder (91 MB for MiniLM); the package carries
it as float16 (45 MB) so that the wheel stays under its size budget, and :mod:`retrieval.embed.bundled`
widens it back on first use. The model card (``README.md``) in the target folder is citebot's own and is
kept; the trained folder's README (the base model's card) is not copied. Prints how far the float16
weights are from the trained ones.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np

from ..embed import bundled

_CARD = "README.md"


def pack(model: Path, into: Path) -> float:
    """Replace the model files in ``into`` with ``model``'s, weights as float16; the largest change."""
    from safetensors.numpy import load_file, save_file

    weights = load_file(str(model / "model.safetensors"))
    narrow = {k: v.astype(np.float16) for k, v in weights.items()}
    into.mkdir(parents=True, exist_ok=True)
    for old in into.iterdir():
        if old.name != _CARD:
            shutil.rmtree(old) if old.is_dir() else old.unlink()
    skip = shutil.ignore_patterns("model.safetensors", _CARD, "__pycache__")
    shutil.copytree(model, into, dirs_exist_ok=True, ignore=skip)
    save_file(narrow, str(into / "model.safetensors"), metadata={"format": "pt"})
    return max(float(np.abs(weights[k] - narrow[k].astype(np.float32)).max()) for k in weights)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; the exit status."""
    parser = argparse.ArgumentParser(prog="python -m retrieval.tools.pack_embedder", description=__doc__)
    parser.add_argument("model", type=Path, help="The sentence-transformers folder train_embedder wrote.")
    parser.add_argument(
        "--into", type=Path, default=bundled.bundled_folder(), help="The bundled model folder to replace."
    )
    args = parser.parse_args(argv)
    if not (args.model / "model.safetensors").is_file():
        parser.exit(1, f"pack_embedder: {args.model} holds no model.safetensors\n")
    change = pack(args.model, args.into)
    version = bundled.weights_hash(args.into)
    print(  # noqa: T201 - this is a script's output
        f"packed {args.model} into {args.into} as float16 (largest weight change {change:.2g}); "
        f"version {version}. Update {args.into / _CARD} with the new figures."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
