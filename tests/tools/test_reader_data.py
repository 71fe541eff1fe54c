"""The reader's training data: groups built from a tiny corpus in the real corpus's layout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from retrieval.tools.reader_data import main
from retrieval.tools.reader_sources import clean_markdown, detokenize, question_of, tldr_page

CORPUS = Path(__file__).resolve().parents[1] / "data" / "reader-corpus"
FAQ_ANSWER = [  # the units of the first FAQ answer of alpha-docs/docs/faq.md, in order
    "Run the reset command from the project folder to clear every cached widget.",
    "The cache lives in a hidden folder next to the configuration file.",
    "It is rebuilt automatically on the next start of the server.",
]


def _read(out: Path) -> dict[str, list[dict[str, Any]]]:
    return {
        split: [json.loads(line) for line in (out / f"{split}.jsonl").read_text().splitlines()]
        for split in ("train", "valid")
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[dict[str, Any]]]]:
    out = tmp_path_factory.mktemp("reader") / "out"
    main(["--corpus", str(CORPUS), "--out", str(out)])
    return out, _read(out)


def _group(groups: dict[str, list[dict[str, Any]]], question: str) -> dict[str, Any]:
    found = [g for split in groups.values() for g in split if g["question"] == question]
    assert len(found) == 1, question
    return found[0]


def test_every_group_is_well_formed(built: tuple[Path, dict[str, list[dict[str, Any]]]]) -> None:
    _, groups = built
    kinds = {g["source_kind"] for split in groups.values() for g in split}
    assert kinds == {"faq", "heading", "squad", "selqa", "tldr", "nl2bash"}
    for split in groups.values():
        for g in split:
            texts = [c["text"] for c in g["candidates"]]
            assert len(texts) == len(set(texts)) >= 2
            assert g["group"].startswith(g["project"] + ":")
            for c in g["candidates"]:
                assert c["label"] in (0, 1)
                assert c["origin"] in ("positive", "neighbour", "section", "retriever", "random")
                assert (c["origin"] == "positive") == (c["label"] == 1)
                assert c["kind"] in ("sentence", "list_item", "table_row", "code", "step")


def test_faq_positive_is_first_answer_unit_and_rest_of_answer_is_no_negative(
    built: tuple[Path, dict[str, list[dict[str, Any]]]],
) -> None:
    _, groups = built
    group = _group(groups, "How do I reset the widget cache?")
    assert group["source_kind"] == "faq"
    positives = [c for c in group["candidates"] if c["label"] == 1]
    assert [c["text"] for c in positives] == FAQ_ANSWER[:1]
    assert positives[0]["section"] == ["Frequently asked questions", "How do I reset the widget cache?"]
    texts = {c["text"] for c in group["candidates"]}
    assert not texts & set(FAQ_ANSWER[1:])
    # the next answer's first unit is a neighbour negative; the same answer's units are elsewhere negatives
    neighbours = {c["text"] for c in group["candidates"] if c["origin"] == "neighbour"}
    assert "The dashboard renders every widget at once, which takes time on big projects." in neighbours
    other = _group(groups, "Can I run two servers on one machine?")
    assert FAQ_ANSWER[2] in {c["text"] for c in other["candidates"] if c["label"] == 0}


def test_site_syntax_is_stripped(built: tuple[Path, dict[str, list[dict[str, Any]]]]) -> None:
    _, groups = built
    group = _group(groups, "Why is the dashboard slow on large projects?")
    texts = [c["text"] for split in groups.values() for g in split for c in g["candidates"]]
    assert not any(":class:" in t or "{note}" in t or "title: FAQ" in t for t in texts)
    assert group["candidates"][0]["section"][-1] == "Why is the dashboard slow on large projects?"


def test_task_headings_become_how_to_questions(built: tuple[Path, dict[str, list[dict[str, Any]]]]) -> None:
    _, groups = built
    group = _group(groups, "How do I install the widget tool?")
    assert group["source_kind"] == "heading"
    assert group["candidates"][0]["text"].startswith("Download the installer")
    assert group["candidates"][0]["label"] == 1
    assert "The installer asks for a folder and copies the widget tool into it." not in {
        c["text"] for c in group["candidates"]
    }


def test_unanswerable_groups_have_no_positive(built: tuple[Path, dict[str, list[dict[str, Any]]]]) -> None:
    out, groups = built
    group = _group(groups, "Who designed the keeper's garden?")
    assert all(c["label"] == 0 for c in group["candidates"])
    # the sentence holding SQuAD's plausible answer is the hardest negative, first among them
    assert group["candidates"][0]["text"].startswith("The keeper's cottage")
    answerable = _group(groups, "When was the lamp replaced by an electric light?")
    assert [c["text"] for c in answerable["candidates"] if c["label"]] == [
        "In 1921 the lamp was replaced by an electric light powered from the town."
    ]
    stats = json.loads((out / "stats.json").read_text())
    assert stats["source_kinds"]["squad"]["all"]["unanswerable"] == 1
    assert stats["total"]["groups"] == sum(len(s) for s in groups.values())


def test_held_out_projects_appear_only_in_valid(built: tuple[Path, dict[str, list[dict[str, Any]]]]) -> None:
    out, groups = built
    held = json.loads((out / "stats.json").read_text())["held_out"]["projects"]
    assert held  # one of the three documentation projects
    assert set(held) <= {"alpha-docs", "beta-docs", "gamma-docs"}
    assert not [g for g in groups["train"] if g["project"] in held]
    assert {g["project"] for g in groups["valid"]} >= set(held)
    # SelQA's test file is held out as a whole; its dev file trains
    assert _group(groups, "How long is the canal?") in groups["valid"]
    assert _group(groups, "What colour is the river at dawn?") in groups["train"]


def test_exclude_drops_groups_whose_text_is_in_an_evaluation_file(tmp_path: Path) -> None:
    evaluation = tmp_path / "eval" / "docs"
    evaluation.mkdir(parents=True)
    (evaluation / "widgets.txt").write_text(
        "Notes. Run the reset command from the project folder to clear every cached widget. More.\n"
    )
    out = tmp_path / "out"
    main(["--corpus", str(CORPUS), "--out", str(out), "--exclude", str(tmp_path / "eval")])
    groups = _read(out)
    questions = {g["question"] for split in groups.values() for g in split}
    assert "How do I reset the widget cache?" not in questions  # its positive is in the eval file
    assert "Where are the log files written?" in questions
    texts = {c["text"] for split in groups.values() for g in split for c in g["candidates"]}
    assert FAQ_ANSWER[0] not in texts  # nor is it a negative anywhere
    stats = json.loads((out / "stats.json").read_text())
    assert stats["eval_overlap"]["dropped_groups"] == {"faq": 1}
    assert sum(stats["eval_overlap"]["dropped_candidates"].values()) >= 1


def test_output_is_deterministic_for_a_seed(
    built: tuple[Path, dict[str, list[dict[str, Any]]]], tmp_path: Path
) -> None:
    out, _ = built
    again = tmp_path / "again"
    main(["--corpus", str(CORPUS), "--out", str(again)])
    for name in ("train.jsonl", "valid.jsonl"):
        assert (again / name).read_bytes() == (out / name).read_bytes()
    other = tmp_path / "other"
    main(["--corpus", str(CORPUS), "--out", str(other), "--seed", "7"])
    assert (other / "train.jsonl").read_bytes() != (out / "train.jsonl").read_bytes()


def test_limit_per_source_caps_each_source(tmp_path: Path) -> None:
    main(["--corpus", str(CORPUS), "--out", str(tmp_path), "--limit-per-source", "1"])
    projects = [g["project"] for split in _read(tmp_path).values() for g in split]
    assert projects and len(projects) == len(set(projects))


@pytest.mark.parametrize(
    ("heading", "expected"),
    [
        ("Why spaces? I prefer tabs", ("faq", "Why spaces? I prefer tabs")),
        ("How `black` formats code", ("faq", "How black formats code")),
        ("Installing X on Windows", ("heading", "How do I install X on Windows?")),
        ("Setting up the proxy", ("heading", "How do I set up the proxy?")),
        ("Configuration reference", None),
        ("What's new in 2.0", None),
        ("Using", None),
    ],
)
def test_question_of_headings(heading: str, expected: tuple[str, str] | None) -> None:
    assert question_of(heading) == expected


def test_helpers_strip_site_syntax() -> None:
    text = clean_markdown("```{toctree}\n:maxdepth: 2\nintro\n```\n\n```{code-block} python\nx = 1\n```\n")
    assert "toctree" not in text and "intro" not in text
    assert "```python\nx = 1\n```" in text
    assert detokenize("it 's a `` big '' test , is n't it ?") == "It's a \"big\" test, isn't it?"
    tool, pairs = tldr_page("# tar\n\n- [c]reate an archive:\n\n`tar cf {{target.tar}} {{file}}`\n")
    assert (tool, pairs) == ("tar", [("create an archive", "tar cf target.tar file")])


def test_question_like_statements_are_not_questions() -> None:
    assert question_of("When Not To Use It") is None
    assert question_of("What the URLconf searches against") is None
    assert question_of("How to filter directories") == ("faq", "How to filter directories")
    assert question_of("Installing and running mypy") == ("heading", "How do I install and run mypy?")


def test_documentation_negatives_mined_with_citebots_ranker(tmp_path: Path) -> None:
    """--mine-with-ranker: documentation groups' retrieval negatives are the ranker's wrong units.

    The ranker runs over a real (throwaway) citebot index of each project's documents; deterministic
    fake embeddings keep this fast, the mining path is the same with the real model.
    """
    import tempfile

    from retrieval.settings import Settings
    from retrieval.tools.reader_data import build
    from retrieval.tools.reader_mining import RankerMiner
    from retrieval.tools.reader_sources import SourceContext, docs_groups, read_docs
    from tests.conftest import FakeEmbedder

    leftovers = set(Path(tempfile.gettempdir()).glob("citebot-mine-*"))
    miner = RankerMiner(Settings(index_dir=tmp_path / "unused"), embedder=FakeEmbedder())
    groups = docs_groups(SourceContext(CORPUS / "alpha-docs", 0, miner=miner))
    plain = docs_groups(SourceContext(CORPUS / "alpha-docs", 0))
    assert [g.question for g in groups] == [g.question for g in plain] and groups
    mined = [c for g in groups for c in g.candidates if c.origin == "ranker"]
    assert mined and not [c for g in groups for c in g.candidates if c.origin == "retriever"]
    assert all(c.label == 0 for c in mined)
    faq = next(g for g in groups if g.question == "How do I reset the widget cache?")
    texts = {c.piece.text for c in faq.candidates}
    assert not texts & set(FAQ_ANSWER[1:]), "the rest of the answer is never a negative"
    docs, _ = read_docs(CORPUS / "alpha-docs")
    assert {c.piece.text for c in mined} <= {p.text for doc in docs for p in doc}, "units of its documents"
    assert set(Path(tempfile.gettempdir()).glob("citebot-mine-*")) == leftovers, "the mining index is removed"

    splits, stats = build(CORPUS, miner=miner)
    assert stats["negatives_mined_with"] == "citebot's ranker"
    assert any(c.origin == "ranker" for g in splits["train"] + splits["valid"] for c in g.candidates)
