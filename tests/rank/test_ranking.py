import numpy as np

from retrieval.answer.extractive import extractive_answer, select_citations
from retrieval.models import Evidence, Query, Retrieved
from retrieval.rank.ranker import (
    FEATURES,
    Weights,
    answer_type_match,
    missing_entities,
    normalise,
    question_entities,
)
from retrieval.tools.tune import Case, answer_metrics, cite_at_1, fit_logit


def _ev(i: int, probability: float) -> Evidence:
    return Evidence(
        doc_key="d",
        idx=i,
        doc_id="doc",
        source="doc.txt",
        title="Doc",
        start=i * 10,
        end=i * 10 + 9,
        text=f"Sentence {i}.",
        score=float(-i),
        probability=probability,
        dense=0.5,
        lexical=1.0,
    )


def test_a_clear_winner_is_cited_alone():
    """When the ranker is sure of the best sentence, no second citation is added."""
    chosen = select_citations([_ev(0, 0.97), _ev(1, 0.02)], max_citations=2, confidence=0.95)
    assert [e.idx for e in chosen] == [0]


def test_a_hesitant_ranker_cites_the_runner_up_within_the_cap():
    """When the best sentence is uncertain, the next ones are cited too, up to max_citations."""
    evidence = [_ev(0, 0.5), _ev(1, 0.3), _ev(2, 0.1)]
    assert [e.idx for e in select_citations(evidence, max_citations=2, confidence=0.95)] == [0, 1]
    assert [e.idx for e in select_citations(evidence, max_citations=3, confidence=0.95)] == [0, 1, 2]


def test_weak_evidence_is_a_refusal_without_citations():
    """A retrieval marked not confident gives a refusal with no citations."""
    retrieved = Retrieved(query=Query(question="Anything?"), evidence=[_ev(0, 0.9)], confident=False)
    answer = extractive_answer(retrieved)
    assert answer.refused and answer.citations == []


def test_answer_type_cues():
    """Quantity questions want numbers or dates; who-questions want a name the question lacks."""
    assert answer_type_match("How many troops were sent?", "North Korea sent 1,500 troops.") == 1.0
    assert answer_type_match("How many troops were sent?", "Troops were sent to Russia.") == 0.0
    assert answer_type_match("When was the treaty signed?", "It was signed in June.") == 1.0
    assert answer_type_match("Who is the Kremlin spokesperson?", "The spokesperson is Dmitry Peskov.") == 1.0
    assert answer_type_match("Who is the Kremlin spokesperson?", "The Kremlin has a spokesperson.") == 0.0
    assert answer_type_match("Why did they go?", "Because 3 of them wanted to.") == 0.0


def test_names_the_documents_never_mention_are_found():
    """Capitalised names absent from a document's vocabulary are reported; misspellings and acronyms pass."""
    vocab = frozenset({"gandhi", "satyagraha", "protest", "thoreau"})
    assert question_entities("What did Gandhi tell Kim Jong Un?") == ["Gandhi", "Kim Jong Un"]
    assert missing_entities("What did Gandhi tell Kim Jong Un?", vocab) == ["Kim Jong Un"]
    assert missing_entities("What did Ghandi write about protest?", vocab) == []
    assert missing_entities("What does the UMC oppose?", vocab) == []


def test_normalise_standardises_unbounded_signals_only():
    """Unbounded signals get zero mean; 0..1 signals keep their values."""
    raw = np.random.default_rng(0).random((5, len(FEATURES))) * 10
    raw[:, FEATURES.index("coverage")] = [0.0, 0.2, 0.4, 0.6, 1.0]
    out = normalise(raw)
    assert abs(out[:, FEATURES.index("dense")].mean()) < 1e-9
    assert list(out[:, FEATURES.index("coverage")]) == [0.0, 0.2, 0.4, 0.6, 1.0]
    assert Weights.from_vector(Weights().vector()) == Weights()


def _synthetic_cases(n: int, seed: int) -> list[Case]:
    """Questions whose gold candidate has the highest 'coverage' signal and random other signals."""
    rng = np.random.default_rng(seed)
    cases = []
    for q in range(n):
        feats = rng.normal(size=(20, len(FEATURES)))
        gold = np.zeros(20, dtype=bool)
        gold[rng.integers(20)] = True
        feats[:, FEATURES.index("coverage")] = np.where(gold, 1.0, rng.random(20) * 0.6)
        raw = np.abs(feats)
        cases.append(Case(str(q), True, q % 2, feats, raw, gold, gold.copy()))
    return cases


def test_logit_fit_learns_the_informative_signal():
    """The conditional-logit fit finds the signal that separates gold evidence and ranks it first."""
    cases = _synthetic_cases(200, seed=1)
    w = fit_logit(cases)
    assert int(np.argmax(w)) == FEATURES.index("coverage")
    assert cite_at_1(cases, w) > 0.95
    metrics = answer_metrics(cases, w)
    assert metrics["cite@1"] > 0.9 and metrics["cites_per_answer"] <= 2
