from __future__ import annotations

import json

from retrieval.ingest.parsers import parse_file
from retrieval.tools.unit_coverage import coverage


def test_coverage_counts_spans_citable_as_one_unit(tmp_path):
    """A span inside a list item is covered; a span much shorter than every unit around it is not."""
    (tmp_path / "docs").mkdir()
    text = (
        "Or run local models with:\n- [Ollama](https://ollama.com)\n\n"
        "A long sentence that says many things at once.\n"
    )
    (tmp_path / "docs" / "a.md").write_text(text, encoding="utf-8")

    def question(qid: str, kind: str, needle: str) -> dict[str, object]:
        start = text.index(needle)
        evidence = [{"start": start, "end": start + len(needle), "text": needle}]
        return {"id": qid, "kind": kind, "doc_id": "a", "evidence": evidence}

    spans = [question("q1", "list", "[Ollama](https://ollama.com)"), question("q2", "prose", "many")]
    (tmp_path / "questions.jsonl").write_text("\n".join(json.dumps(q) for q in spans), encoding="utf-8")
    result = coverage(tmp_path)
    assert result["coverage"]["list"]["share"] == 1.0
    assert result["coverage"]["prose"]["share"] == 0.0
    assert result["coverage"]["all"] == {"covered": 1, "spans": 2, "share": 0.5}
    assert result["units"] == {"sentence": 2, "list_item": 1}


def test_parse_file_dispatches_by_suffix(tmp_path):
    """parse_file reads .rst with the reStructuredText parser and .txt as prose sentences, furniture out."""
    (tmp_path / "a.rst").write_text("Title\n=====\n\n- one item\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text(
        "Advertisement\n\nThe first one is here. The second one too.\n", encoding="utf-8"
    )
    assert [(u.kind, u.text) for u in parse_file(tmp_path / "a.rst").units] == [("list_item", "one item")]
    assert [u.text for u in parse_file(tmp_path / "b.txt").units] == [
        "The first one is here.",
        "The second one too.",
    ]
