"""How many evidence spans of a question set are citable as one parsed unit.

A span counts as covered when some unit of its document overlaps it and is at most ``--ratio`` times
as long (so citing that unit quotes the evidence, not a page around it). Run it on a set folder that
holds ``docs/`` and ``questions.jsonl``::

    python -m retrieval.tools.unit_coverage SET_DIR [--json]
"""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import click

from ..errors import DocumentError
from ..ingest.formats import supported_suffixes
from ..ingest.parsers import Unit, parse_file

log = logging.getLogger(__name__)


def parse_set(docs: Path) -> dict[str, list[Unit]]:
    """Parse every supported file under ``docs``, keyed by doc_id (relative path without suffix)."""
    units: dict[str, list[Unit]] = {}
    for path in sorted(docs.rglob("*")):
        if path.is_file() and path.suffix.lower() in supported_suffixes():
            doc_id = path.relative_to(docs).with_suffix("").as_posix()
            try:
                units[doc_id] = parse_file(path).units
            except DocumentError as exc:
                log.warning("%s", exc)
    return units


def covered(units: list[Unit], start: int, end: int, ratio: float) -> bool:
    """Tell whether one unit overlaps ``[start, end)`` and is at most ``ratio`` times its length."""
    limit = ratio * (end - start)
    return any(u.start < end and start < u.end and u.end - u.start <= limit for u in units)


def coverage(set_dir: Path, ratio: float = 2.0) -> dict[str, Any]:
    """Measure unit coverage of the evidence in ``set_dir/questions.jsonl``, per question kind."""
    units = parse_set(set_dir / "docs")
    hits: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    missed = []
    for line in (set_dir / "questions.jsonl").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        q = json.loads(line)
        doc_units = units.get(q.get("doc_id") or "", [])
        for ev in q.get("evidence") or []:
            ok = covered(doc_units, ev["start"], ev["end"], ratio)
            for key in (q["kind"], "all"):
                hits[key][0] += ok
                hits[key][1] += 1
            if not ok:
                missed.append({"id": q["id"], "kind": q["kind"], "text": ev["text"][:100]})
    kinds = Counter(u.kind for us in units.values() for u in us)
    return {
        "documents": len(units),
        "coverage": {k: {"covered": c, "spans": n, "share": round(c / n, 3)} for k, (c, n) in hits.items()},
        "units": dict(kinds),
        "missed": missed,
    }


@click.command()
@click.argument("set_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--ratio", default=2.0, show_default=True, help="Longest unit, as a multiple of the span.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def main(set_dir: Path, ratio: float, as_json: bool) -> None:
    """Print the share of evidence spans citable as one unit, per question kind, and unit counts."""
    result = coverage(set_dir, ratio)
    if as_json:
        click.echo(json.dumps(result, indent=2, ensure_ascii=False))
        return
    click.echo(f"{result['documents']} documents")
    for kind, row in sorted(result["coverage"].items()):
        click.echo(f"{kind:10} {row['covered']:4}/{row['spans']:<4} {row['share']:.3f}")
    click.echo("units: " + ", ".join(f"{k} {n}" for k, n in sorted(result["units"].items())))
    for miss in result["missed"]:
        click.echo(f"missed {miss['id']} ({miss['kind']}): {miss['text']!r}")


if __name__ == "__main__":
    main()
