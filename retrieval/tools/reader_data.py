"""Training data for citebot's reader (a cross-encoder scoring whether a unit answers a question).

Turns the raw reader corpus (the shared ``reader-corpus`` folder: documentation projects, command pages,
answer-selection and extractive QA sets; see its README) into question groups, one JSON object a line::

    python -m retrieval.tools.reader_data --corpus CORPUS_DIR --out DIR --exclude EVAL_DOCS_DIR

``DIR/train.jsonl`` and ``DIR/valid.jsonl`` hold groups ``{"group", "project", "source_kind",
"question", "candidates": [{"text", "kind", "section", "context", "label", "origin"}]}`` (no positive:
an unanswerable question); ``DIR/stats.json`` counts them per source kind and split and lists what was
held out. The per-source readers live in ``reader_sources``; this module decides what is kept:

* validation holds out whole documentation projects (chosen by a seeded hash) and each dataset's own
  held-out file split, so a score on it says how the reader does on documents it never saw;
* each source is capped, so no single one (12,000 nl2bash pairs) dominates what the reader learns,
  and task-heading groups (silver labels) stay a minority;
* no text of an evaluation document reaches the data: a candidate sharing 3 or more normalised 8-word
  shingles with any file under ``--exclude`` is dropped, and its whole group when it is the question
  or a positive (the README's decontamination removed whole files at 20 shared shingles; this is the
  unit-level check it asks the converter for).

The output is deterministic for a ``--seed``: every random choice comes from a generator seeded by the
seed and the source's name, and groups are written in source order.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import logging
import re
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from .reader_mining import RankerMiner
from .reader_sources import DOC_KINDS, Group, SourceContext, reader_for

log = logging.getLogger(__name__)

#: Most training groups per source; a source not named here is taken whole (documentation projects,
#: SelQA, SQuAD, WikiQA/TrecQA and COVID-QA are all smaller than this).
CAPS = {"nl2bash": 4000, "tldr": 4000, "subjqa": 4000, "policyqa": 4000, "rag-qa-arena": 4000}
#: Most validation groups per source: enough to measure, without starving training (SelQA's test file
#: is kept whole, as the brief asks for all of SelQA).
VALID_CAP = 1000
VALID_CAPS: dict[str, int | None] = {"selqa": None}
#: Share of all groups that task-heading (silver) groups may make up.
HEADING_SHARE = 0.2
#: Share of the documentation projects held out whole for validation.
HELD_OUT_SHARE = 0.12
SHINGLE = 8
MAX_SHARED_SHINGLES = 3  # a text sharing this many shingles with the evaluation documents is dropped
_WORD = re.compile(r"\w+")


def manifest(corpus: Path) -> list[tuple[str, str]]:
    """The corpus's ``(name, kind)`` sources from ``MANIFEST.tsv``, sorted by name."""
    with (corpus / "MANIFEST.tsv").open(encoding="utf-8", newline="") as f:
        rows = [(r["name"], r["kind"]) for r in csv.DictReader(f, delimiter="\t")]
    return sorted(rows)


def held_out_projects(sources: Sequence[tuple[str, str]], seed: int) -> list[str]:
    """The documentation projects held out whole: the first ~12% in a seeded hash order."""
    docs = [name for name, kind in sources if kind in DOC_KINDS]
    order = sorted(docs, key=lambda n: hashlib.sha256(f"{seed}:held-out:{n}".encode()).hexdigest())
    return sorted(order[: max(1, round(HELD_OUT_SHARE * len(docs)))]) if docs else []


def shingles(text: str) -> set[str]:
    r"""Lower-cased 8-word shingles of ``\w+`` words (the README's decontamination measure)."""
    words = _WORD.findall(text.lower())
    return {" ".join(words[i : i + SHINGLE]) for i in range(len(words) - SHINGLE + 1)}


class EvalFilter:
    """The shingles of every file under the excluded folders, and a count of what they dropped."""

    def __init__(self, folders: Iterable[Path]) -> None:
        self.shingles: set[str] = set()
        for folder in folders:
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                self.shingles |= shingles(_file_text(path))
        self.dropped_groups: Counter[str] = Counter()
        self.dropped_candidates: Counter[str] = Counter()

    def overlaps(self, text: str) -> bool:
        """True when ``text`` shares at least ``MAX_SHARED_SHINGLES`` shingles with the evaluation files."""
        if not self.shingles:
            return False
        return len(shingles(text) & self.shingles) >= MAX_SHARED_SHINGLES

    def clean(self, group: Group) -> Group | None:
        """The group without overlapping negatives; None when its question or a positive overlaps."""
        if self.overlaps(group.question) or any(
            c.label and self.overlaps(c.piece.text) for c in group.candidates
        ):
            self.dropped_groups[group.source_kind] += 1
            return None
        kept = [c for c in group.candidates if not self.overlaps(c.piece.text)]
        self.dropped_candidates[group.source_kind] += len(group.candidates) - len(kept)
        if len(kept) < 2:
            self.dropped_groups[group.source_kind] += 1
            return None
        group.candidates = kept
        return group


def _file_text(path: Path) -> str:
    """A file's text for shingling: PDFs through pypdf (as the README's check did), others decoded."""
    if path.suffix.lower() == ".pdf":
        try:
            from pypdf import PdfReader

            return "\n".join(page.extract_text() or "" for page in PdfReader(path).pages)
        except Exception as exc:  # an unreadable PDF contributes no shingles, said aloud
            log.warning("%s: cannot extract text (%s)", path, exc)
            return ""
    return path.read_bytes().decode("utf-8", errors="ignore")


def capped(groups: list[Group], cap: int | None, key: str, seed: int) -> list[Group]:
    """At most ``cap`` groups chosen by seeded hash, in their original order."""
    if cap is None or len(groups) <= cap:
        return groups
    ranked = sorted(
        range(len(groups)),
        key=lambda i: hashlib.sha256(f"{seed}:{key}:{i}:{groups[i].question}".encode()).hexdigest(),
    )
    keep = set(ranked[:cap])
    return [g for i, g in enumerate(groups) if i in keep]


def build(
    corpus: Path,
    seed: int = 0,
    limit: int | None = None,
    exclude: Sequence[Path] = (),
    miner: RankerMiner | None = None,
) -> tuple[dict[str, list[Group]], dict[str, Any]]:
    """Read every source, split, cap and filter; the groups of each split and the run's statistics.

    ``miner``: mine the documentation sources' retrieval negatives with citebot's ranker
    (:mod:`retrieval.tools.reader_mining`) instead of BM25.
    """
    started = time.monotonic()
    sources = manifest(corpus)
    held = held_out_projects(sources, seed)
    eval_filter = EvalFilter(exclude)
    by_source: dict[str, tuple[list[Group], list[Group]]] = {}
    held_splits: list[str] = []
    skipped = []
    for name, kind in tqdm(sources, desc="sources", unit="source"):
        reader = reader_for(name, kind)
        if reader is None or not (corpus / name).is_dir():
            skipped.append(name)
            continue
        ctx = SourceContext(corpus / name, seed, limit, miner=miner)
        made = reader(ctx)
        made = made[:limit] if limit is not None else made
        groups = [c for g in made if (c := eval_filter.clean(g)) is not None]
        held_splits += ctx.held_out
        train = [g for g in groups if not g.valid and name not in held]
        valid = [g for g in groups if g.valid or name in held]
        by_source[name] = (
            capped(train, CAPS.get(name), f"{name}:train", seed),
            capped(valid, VALID_CAPS.get(name, VALID_CAP), f"{name}:valid", seed),
        )
    _cap_headings(by_source, seed)
    splits: dict[str, list[Group]] = {"train": [], "valid": []}
    for name in sorted(by_source):
        train, valid = by_source[name]
        splits["train"] += train
        splits["valid"] += valid
    stats = _stats(splits)
    stats.update(
        held_out={"projects": held, "dataset_splits": held_splits},
        skipped_sources=skipped,
        eval_overlap={
            "excluded_folders": [str(p) for p in exclude],
            "dropped_groups": dict(sorted(eval_filter.dropped_groups.items())),
            "dropped_candidates": dict(sorted(eval_filter.dropped_candidates.items())),
        },
        seed=seed,
        limit_per_source=limit,
        negatives_mined_with="citebot's ranker" if miner is not None else "BM25",
        seconds=round(time.monotonic() - started, 1),
    )
    return splits, stats


def _cap_headings(by_source: dict[str, tuple[list[Group], list[Group]]], seed: int) -> None:
    """Keep task-heading groups under ``HEADING_SHARE`` of each split, chosen by seeded hash."""
    for side in (0, 1):
        groups = [g for pair in by_source.values() for g in pair[side]]
        headings = [g for g in groups if g.source_kind == "heading"]
        allowed = int(HEADING_SHARE / (1 - HEADING_SHARE) * (len(groups) - len(headings)))
        keep = {id(g) for g in capped(headings, allowed, f"heading:{side}", seed)}
        for name, pair in by_source.items():
            kept = [g for g in pair[side] if g.source_kind != "heading" or id(g) in keep]
            by_source[name] = (kept, pair[1]) if side == 0 else (pair[0], kept)


def _count(groups: Iterable[Group]) -> dict[str, int]:
    out = Counter[str]()
    for g in groups:
        positives = sum(c.label for c in g.candidates)
        out["groups"] += 1
        out["pairs"] += len(g.candidates)
        out["positives"] += positives
        out["unanswerable"] += positives == 0
    return {k: out[k] for k in ("groups", "pairs", "positives", "unanswerable")}


def _stats(splits: dict[str, list[Group]]) -> dict[str, Any]:
    """Totals, per split, per source kind (and per split within it), and per project."""
    everything = [g for groups in splits.values() for g in groups]
    kinds: dict[str, dict[str, list[Group]]] = defaultdict(lambda: {"train": [], "valid": []})
    projects: Counter[str] = Counter()
    for split, groups in splits.items():
        for g in groups:
            kinds[g.source_kind][split].append(g)
            projects[g.project] += 1
    return {
        "total": _count(everything),
        "splits": {split: _count(groups) for split, groups in splits.items()},
        "source_kinds": {
            kind: {"all": _count(by[0] + by[1]), "train": _count(by[0]), "valid": _count(by[1])}
            for kind, by in sorted((k, (v["train"], v["valid"])) for k, v in kinds.items())
        },
        "projects": dict(sorted(projects.items())),
    }


def group_record(group: Group, group_id: str) -> dict[str, Any]:
    """A group as its JSON line."""
    return {
        "group": group_id,
        "project": group.project,
        "source_kind": group.source_kind,
        "question": group.question,
        "candidates": [
            {
                "text": c.piece.text,
                "kind": c.piece.kind,
                "section": list(c.piece.section),
                "context": c.piece.context,
                "label": c.label,
                "origin": c.origin,
            }
            for c in group.candidates
        ],
    }


def write(out: Path, splits: dict[str, list[Group]], stats: dict[str, Any]) -> None:
    """Write ``train.jsonl``, ``valid.jsonl`` (groups numbered per source) and ``stats.json``."""
    out.mkdir(parents=True, exist_ok=True)
    numbers: Counter[str] = Counter()
    for split, groups in splits.items():
        with (out / f"{split}.jsonl").open("w", encoding="utf-8") as f:
            for g in groups:
                record = group_record(g, f"{g.project}:{numbers[g.project]}")
                numbers[g.project] += 1
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
    (out / "stats.json").write_text(json.dumps(stats, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True, help="The reader corpus (with MANIFEST.tsv).")
    parser.add_argument(
        "--out", type=Path, required=True, help="Folder for train/valid.jsonl and stats.json."
    )
    parser.add_argument(
        "--exclude",
        type=Path,
        action="append",
        default=[],
        help="Folder of evaluation documents no example may overlap (repeatable).",
    )
    parser.add_argument("--seed", type=int, default=0, help="Seed of every random choice (default 0).")
    parser.add_argument("--limit-per-source", type=int, default=None, help="Stop each source after N groups.")
    parser.add_argument(
        "--mine-with-ranker",
        action="store_true",
        help="Mine the documentation sources' hard negatives with citebot's ranker over each project's "
        "documents (indexed with the configured embedding model) instead of BM25.",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if not (args.corpus / "MANIFEST.tsv").is_file():
        parser.exit(1, f"reader_data: {args.corpus} has no MANIFEST.tsv\n")
    miner = RankerMiner() if args.mine_with_ranker else None
    splits, stats = build(args.corpus, args.seed, args.limit_per_source, args.exclude, miner)
    write(args.out, splits, stats)
    print(json.dumps({k: stats[k] for k in ("total", "splits", "seconds")}))  # noqa: T201 - a script's output


if __name__ == "__main__":
    main()
