"""Reader groups mined from the ranker's own candidates: gold first, its best wrong units as negatives."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from retrieval import ingest
from retrieval.index.core import Index
from retrieval.rank.ranker import Ranker
from retrieval.rank.weights import load_weights
from retrieval.tools.metrics import SetDocuments
from retrieval.tools.ranker_groups import build, main
from retrieval.tools.tune import _case
from tests.conftest import SEED_FILE

QUESTIONS = [  # (question, a word of the evidence, answerable)
    ("How many North Korean soldiers entered eastern Russia?", "3,000", True),
    ("What did Pyongyang say about the allegations?", "Pyongyang", True),
    ("What did Gandhi say about Kim Jong Un?", "", False),
]


def _set(root: Path) -> list[dict]:
    (root / "docs").mkdir(parents=True)
    (root / "docs" / SEED_FILE.name).write_text(SEED_FILE.read_text(encoding="utf-8"), encoding="utf-8")
    text = SEED_FILE.read_text(encoding="utf-8")
    rows = []
    for n, (question, word, answerable) in enumerate(QUESTIONS):
        at = text.find(word) if word else -1
        rows.append(
            {
                "id": f"q{n}", "question": question, "answerable": answerable, "doc_id": SEED_FILE.stem,
                "answers": [word] if word else [],
                "evidence": [{"start": at, "end": at + len(word), "text": word}] if answerable else [],
            }
        )  # fmt: skip
    (root / "questions.jsonl").write_text("\n".join(json.dumps(q) for q in rows), encoding="utf-8")
    return rows


def test_groups_hold_gold_first_and_the_rankers_wrong_units(fake_index: Index, tmp_path: Path) -> None:
    sets = tmp_path / "sets"
    rows = _set(sets / "seed")
    ingest(fake_index, [sets / "seed" / "docs"])
    ranker = Ranker(fake_index)
    docs = frozenset(SetDocuments.load(sets / "seed").texts)
    cases = [replace(_case(ranker, q, docs), group="seed") for q in rows]
    groups = {g["question"]: g for g in build(cases, sets, load_weights().vector(), per_group=6)}
    answerable = [q for q, _, ok in QUESTIONS if ok]
    for question in answerable:
        g = groups.get(question)
        if g is None:  # the fake embeddings missed the gold unit: then no group, never a guessed positive
            case = next(c for c in cases if c.question == question)
            assert not case.gold.any()
            continue
        labels = [c["label"] for c in g["candidates"]]
        assert labels[0] == 1 and 0 in labels and len(labels) <= 6
        assert labels == sorted(labels, reverse=True)  # positives first
        case = next(c for c in cases if c.question == question)
        gold = {u.text for u, ok in zip(case.units, case.gold, strict=True) if ok}
        assert {c["text"] for c in g["candidates"] if c["label"] == 1} <= gold
        assert not gold & {c["text"] for c in g["candidates"] if c["label"] == 0}
        assert {c["origin"] for c in g["candidates"] if c["label"] == 0} == {"ranker"}
        assert g["project"] == "seed" and g["source_kind"] == "faq"
    assert any(q in groups for q in answerable)
    refused = groups["What did Gandhi say about Kim Jong Un?"]
    assert refused["candidates"] and not any(c["label"] for c in refused["candidates"])
    # the rest of an answer (answer_end) is never a negative
    first = next(c for c in cases if c.answerable and c.gold.any())
    q = dict(next(r for r in rows if r["id"] == first.qid))
    q["answer_end"] = len(SEED_FILE.read_text(encoding="utf-8"))
    (sets / "seed" / "questions.jsonl").write_text(json.dumps(q), encoding="utf-8")
    ev = q["evidence"][0]["start"]
    later = {u.text for u, gold in zip(first.units, first.gold, strict=True) if u.start >= ev and not gold}
    assert later  # candidates after the evidence exist: without answer_end some would be negatives
    mined = build([first], sets, load_weights().vector(), per_group=len(first.units))
    negatives = {c["text"] for g in mined for c in g["candidates"] if c["label"] == 0}
    assert not negatives & later


def test_main_writes_reader_data_lines(
    fake_index: Index, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import pickle

    sets = tmp_path / "sets"
    rows = _set(sets / "seed")
    ingest(fake_index, [sets / "seed" / "docs"])
    ranker = Ranker(fake_index)
    docs = frozenset(SetDocuments.load(sets / "seed").texts)
    cache = tmp_path / "cases.pkl"
    cache.write_bytes(pickle.dumps([replace(_case(ranker, q, docs), group="seed") for q in rows]))
    out = tmp_path / "groups" / "train.jsonl"
    main(["--cases", str(cache), "--sets", str(sets), "--out", str(out)])
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    summary = json.loads(capsys.readouterr().out)
    assert summary["groups"] == len(lines) >= 1 and summary["cases"] == 3
    assert {"group", "project", "source_kind", "question", "candidates"} <= set(lines[0])
