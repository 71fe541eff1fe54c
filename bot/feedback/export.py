"""``citebot feedback export``: voted answers as questions of an eval set, for measuring and re-fitting.

Each voted answer becomes one line in the format of the eval sets (``questions.jsonl``): the question, its
document, whether it is answerable, and ``evidence``. A 👍 majority makes the cited units the evidence; a
👎 (or a tie) lists them under ``wrong_evidence`` instead, with no evidence claimed; a unit someone
marked "wrong source" is always wrong evidence. A refusal people liked is an unanswerable question; one
they disliked is answerable, with its evidence unknown. ``answers`` stays empty: a vote says where the
answer is, not what words it has.

Everything comes from the answer log, which keeps each cited unit's text and offsets as they were, so a
document forgotten since still exports. Nothing here changes the ranker: the operator decides to run
``retrieval.tune`` on the result.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .store import CitedUnit, FeedbackStore, KeptAnswer

log = logging.getLogger(__name__)


def _span(unit: CitedUnit) -> dict[str, Any]:
    return {
        "doc_id": unit.doc_id,
        "source": unit.source,
        "start": unit.start,
        "end": unit.end,
        "text": unit.text,
    }


def eval_line(kept: KeptAnswer) -> dict[str, Any]:
    """One voted answer as an eval-set question (see the module's docstring for the rules)."""
    liked = kept.up > kept.down
    marked = {n for n, count in kept.wrong.items() if count > 0}
    evidence = [c for c in kept.cited if liked and c.n not in marked]
    wrong = [c for c in kept.cited if c.n in marked or (not liked and kept.down > 0)]
    first = next(iter(evidence or kept.cited), None)
    return {
        "id": f"feedback-{kept.id}",
        "question": kept.question,
        "answers": [],
        "doc_id": first.doc_id if first else None,
        "answerable": not (kept.refused and liked),
        "evidence": [_span(c) for c in evidence],
        "wrong_evidence": [_span(c) for c in wrong],
        "feedback": {
            "answer_id": kept.id,
            "server": None if kept.guild_id is None else str(kept.guild_id),
            "up": kept.up,
            "down": kept.down,
            "refused": kept.refused,
            "answer": kept.answer,
        },
    }


def eval_lines(answers: Iterable[KeptAnswer]) -> Iterator[dict[str, Any]]:
    """Every voted answer as an eval-set question."""
    return (eval_line(a) for a in answers)


def export(store: FeedbackStore, out: Path, *, guild_id: int | None = None) -> int:
    """Write the voted answers (of one server, or all) to ``out`` as JSON lines; returns how many.

    The file is written beside its final name and moved into place, so a reader never sees half of it.
    """
    lines = [json.dumps(line, ensure_ascii=False) for line in eval_lines(store.voted(guild_id))]
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    partial.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    partial.replace(out)
    log.info("exported %d voted question(s) to %s", len(lines), out)
    return len(lines)
