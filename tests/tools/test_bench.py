"""``citebot bench`` runs end to end at a small size and reports every metric (no timing asserted)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from retrieval.cli import main
from retrieval.ingest.segment import segment
from retrieval.tools.bench import SMALL_SENTENCES, small_folder
from retrieval.tools.corpus_gen import documents, write_corpus
from tests.conftest import SEED_FILE

KEYS = {
    "ingest_sentences_per_s",
    "ingest_sentences_per_s_large",
    "ingest_overhead",
    "ingest_overhead_large",
    "ingest_vs_langchain",
    "query_p50_ms",
    "query_p95_ms",
    "query_p95_ms_no_reader",
    "reader_ms_p50",
    "embed_question_ms_p50",
    "query_p95_ms_large",
    "query_vs_langchain",
    "cold_ask_s",
    "cold_ask_rss_mb",
    "bot_rss_mb_large",
    "index_mb_per_1k_sentences",
    "machine",
}


def test_generated_corpus_is_deterministic_and_segments_as_written(tmp_path: Path) -> None:
    """The same seed gives the same documents, and segmentation finds exactly the sentences generated."""
    first = list(documents(500))
    assert first == list(documents(500))
    assert sum(len(segment(text).sentences) for _, text, _ in first) == 500
    corpus = write_corpus(tmp_path / "c", 500, max_questions=5)
    assert corpus.sentences == 500 and len(corpus.questions) == 5
    assert len(list((tmp_path / "c").rglob("*.txt"))) == corpus.documents


def test_without_docs_the_small_folder_is_generated_inside_the_work_folder(tmp_path: Path) -> None:
    """No --docs: bench writes its own documents and questions under its temp folder, reading nothing else."""
    folder, questions, name = small_folder(tmp_path, None, 7)
    assert folder.is_relative_to(tmp_path) and name.startswith("generated")
    assert sum(len(segment(f.read_text()).sentences) for f in folder.rglob("*.txt")) == SMALL_SENTENCES
    assert len(questions) == 7 and all(q.endswith("?") for q in questions)


def test_a_given_folder_is_used_with_the_questions_beside_it(tmp_path: Path) -> None:
    """--docs DIR: that folder, and the first questions of DIR/../questions.jsonl."""
    docs = tmp_path / "set" / "docs"
    docs.mkdir(parents=True)
    lines = [json.dumps({"question": f"Question {i}?"}) for i in range(5)]
    (docs.parent / "questions.jsonl").write_text("\n".join(lines) + "\n")
    assert small_folder(tmp_path, docs, 3) == (docs, ["Question 0?", "Question 1?", "Question 2?"], str(docs))


@pytest.mark.slow
@pytest.mark.subprocess
@pytest.mark.model
def test_bench_json_has_every_metric(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`citebot bench --sentences N --json` prints one JSON object with all the metrics, each a number."""
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(SEED_FILE, docs / SEED_FILE.name)
    args = [
        "bench",
        "--sentences",
        "300",
        "--docs",
        str(docs),
        "--questions",
        "5",
        "--workdir",
        str(tmp_path),
        "--json",
    ]
    assert main(args) == 0
    res = json.loads(capsys.readouterr().out)
    assert set(res) >= KEYS
    for key in KEYS - {"machine", "reader_ms_p50"}:
        assert isinstance(res[key], float | int) and math.isfinite(res[key]) and res[key] > 0, key
    # No reader model is bundled (CITEBOT_READER=bundled finds none): the reader costs nothing.
    assert res["reader_ms_p50"] == 0.0
    assert res["ingest_sentences_large"] == 300
    assert not list(tmp_path.glob("citebot-bench-*")), "temporary indexes are removed"


@pytest.mark.slow
@pytest.mark.model
def test_compared_model_ratios_are_to_the_measured_model(tmp_path: Path) -> None:
    """`bench --compare minilm`: that model's ingest speed and query p95 as ratios to figures given."""
    from retrieval import Settings
    from retrieval.tools.bench import _model_ratios

    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(SEED_FILE, docs / SEED_FILE.name)
    measured = {"ingest_sentences_per_s": 100.0, "query_p95_ms": 10.0}
    small = Settings(index_dir=tmp_path / "small")
    res = _model_ratios(small, docs, ["Who met whom?"] * 3, measured, "minilm")
    assert res["minilm_engine"] == "onnx"
    assert res["minilm_ingest_ratio"] == res["minilm_ingest_sentences_per_s"] / 100.0
    assert res["minilm_query_p95_ratio"] == res["minilm_query_p95_ms"] / 10.0
    assert (tmp_path / "compare-minilm").is_dir()  # beside the default model's index, not in it


def test_compared_models_are_named_by_preset() -> None:
    """Figures of a compared preset carry its name; a folder's carry `model`."""
    from retrieval.tools.bench import compare_key

    assert compare_key("minilm") == "minilm"
    assert compare_key("multilingual") == "multilingual"
    assert compare_key("/models/mine") == "model"
