"""A server's votes fine-tune the embedding model: votes become groups, one command trains, it loads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from retrieval import NoDocumentsError, build_chain
from retrieval.embed.embeddings import SentenceEmbedder
from retrieval.tools.feedback_groups import groups_from_votes, write_groups
from retrieval.tools.train_embedder import main, read_pairs
from tests.tools.test_refit_feedback import DOC, QUESTION, _export, voted_index  # noqa: F401 - a fixture


def test_votes_become_groups_of_liked_wrong_and_ranked_units(voted_index, tmp_path: Path):  # noqa: F811
    """The liked unit is the positive, the wrong one the hardest negative, the ranker's others follow."""
    liked = "He brings bread and lamp oil for the week."
    wrong = "The keeper rows to the island every Tuesday."
    feedback = _export(tmp_path / "votes.jsonl", liked, wrong)
    counts = write_groups(voted_index, feedback, tmp_path / "data")
    assert counts == {"groups": 1, "positives": 1, "votes_without_units": 0}
    group = json.loads((tmp_path / "data" / "train.jsonl").read_text(encoding="utf-8"))
    assert group["question"] == QUESTION
    by_origin = {c["origin"]: [] for c in group["candidates"]}
    for c in group["candidates"]:
        by_origin[c["origin"]].append(c["text"])
    assert by_origin["positive"] == [liked] and by_origin["ranker"] == [wrong]
    assert set(by_origin["retriever"]) <= set(DOC.splitlines()) - {liked, wrong}
    (pairs,) = read_pairs(tmp_path / "data" / "train.jsonl")  # what train_embedder reads back
    assert list(pairs.labels).count(1) == 1 and pairs.texts[list(pairs.labels).index(1)].endswith(liked)


def test_votes_on_units_no_longer_indexed_are_counted_not_trained(voted_index, tmp_path: Path):  # noqa: F811
    """A vote whose units left the index gives no group; a file without votes is a clear error."""
    line = {"question": QUESTION, "evidence": [{"doc_id": "elsewhere", "start": 0, "end": 5, "text": "x"}]}
    groups, missed = groups_from_votes(voted_index, [line])
    assert groups == [] and missed == 1
    empty = tmp_path / "empty.jsonl"
    empty.write_text(json.dumps({"question": QUESTION}) + "\n", encoding="utf-8")
    with pytest.raises(NoDocumentsError):
        write_groups(voted_index, empty, tmp_path / "data")


@pytest.mark.slow
@pytest.mark.model
def test_one_command_fine_tunes_the_model_in_use_on_votes_and_it_loads(seed_index_copy, tmp_path: Path):
    """`train_embedder --feedback FILE --out DIR`: groups from the index, a trained folder that embeds."""
    chain = build_chain(seed_index_copy.settings, index=seed_index_copy)
    lines = []
    for question in ("Who is the Kremlin spokesperson?", "How many North Korean soldiers entered Russia?"):
        answer = chain.invoke(question)
        cited = [
            {"doc_id": c.doc_id, "start": c.start, "end": c.end, "text": c.text} for c in answer.citations
        ]
        assert cited
        lines.append({"question": question, "evidence": cited[:1], "wrong_evidence": cited[1:2]})
    feedback = tmp_path / "votes.jsonl"
    feedback.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    seed_index_copy.close()  # the command opens the index the settings name, as a user's would

    out = tmp_path / "emb"
    main(["--feedback", str(feedback), "--out", str(out), "--questions-per-step", "2", "--valid-groups", "0"])
    recipe = json.loads((out / "args.json").read_text(encoding="utf-8"))
    assert Path(recipe["init"]).name.startswith("citebot-minilm-docs-")  # the model in use, not MiniLM
    assert recipe["lr"] == 1e-5
    assert len((out / "feedback-data" / "train.jsonl").read_text(encoding="utf-8").splitlines()) == 2
    tuned = SentenceEmbedder(str(out / "model"), engine="torch")
    vectors = tuned.encode(["Who is the Kremlin spokesperson?"])
    assert vectors.shape == (1, 384) and np.isclose(np.linalg.norm(vectors[0]), 1.0, atol=1e-5)
