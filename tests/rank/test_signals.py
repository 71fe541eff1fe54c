"""The signal table against a brute-force oracle written independently here, on handmade candidates."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest

from retrieval.rank.cues import Question
from retrieval.rank.signals import FEATURES, SIGNALS, FeatureInputs, compute_features, normalise, softmax

# Two documents: "a" has four sentences, "b" two. The candidates are a1, a2 and b0; a0, a3 and b1 are
# neighbours only; c5 is a dense hit whose row was never read (an incomplete document).
TEXTS = {
    ("a", 0): "Korea is a peninsula.",
    ("a", 1): "North Korea sent 1,500 troops to Russia.",
    ("a", 2): "The troops will train for weeks.",
    ("a", 3): "Officials said little.",
    ("b", 0): "Seoul said Korea sent troops north.",
    ("b", 1): "Nobody confirmed it.",
}
TOKENS = {
    ("a", 0): ["korea", "peninsula"],
    ("a", 1): ["north", "korea", "sent", "1", "500", "troop", "russia"],
    ("a", 2): ["troop", "train", "week"],
    ("a", 3): ["offici", "said", "littl"],
    ("b", 0): ["seoul", "said", "korea", "sent", "troop", "north"],
    ("b", 1): [],
}
DENSE = {
    ("a", 0): 0.41,
    ("a", 1): 0.72,
    ("a", 2): 0.55,
    ("a", 3): 0.20,
    ("b", 0): 0.63,
    ("b", 1): 0.18,
    ("c", 5): 0.05,
}
LEXICAL = {("a", 0): 1.5, ("a", 1): 6.25, ("a", 2): 2.0, ("b", 0): 5.5}  # a3 and b1 have no BM25 score
CHUNK = {("a", 0): 0.6, ("a", 1): 0.6, ("a", 2): 0.6}  # b0 came from another retriever
IDF = {"mani": 0.4, "troop": 1.7, "korea": 1.2, "sent": 0.9, "seoul": 2.5}
KEYS = [("a", 1), ("a", 2), ("b", 0)]
# a2 and a3 are items of a list that a1 introduces; b0 sits under a heading about Seoul's troops.
KINDS = {("a", 2): "list_item", ("a", 3): "list_item"}
CONTEXTS = {("a", 2): TEXTS[("a", 1)], ("a", 3): TEXTS[("a", 1)]}
SECTIONS = {("b", 0): ["seoul", "troop"]}


def inputs(own: list[str], history: list[str] | None = None, question: str = "") -> FeatureInputs:
    return FeatureInputs(
        question=Question(question or "How many troops did Korea send?"),
        own_tokens=own,
        history_tokens=history or [],
        keys=KEYS,
        texts=TEXTS,
        tokens=TOKENS,
        dense=DENSE,
        lexical=LEXICAL,
        chunk=CHUNK,
        idf=IDF,
        kinds=KINDS,
        contexts=CONTEXTS,
        sections=SECTIONS,
    )


NONE = {("a", 1): 0.0, ("a", 2): 0.0, ("b", 0): 0.0}


def oracle(
    inp: FeatureInputs,
    answer_type: dict[tuple[str, int], float],
    code: dict[tuple[str, int], float] = NONE,
    polar: dict[tuple[str, int], float] = NONE,
) -> np.ndarray:
    """Every signal of every candidate, computed the plain way from the definitions in the README."""
    q = list(inp.own_tokens)
    if len(set(q)) < 2:  # a bare follow-up borrows the previous question's terms
        q += list(inp.history_tokens)
    terms = set(q)
    mass = sum(inp.idf[t] for t in terms) or 1.0
    pairs = {(q[n], q[n + 1]) for n in range(len(q) - 1)}

    def coverage(key: tuple[str, int] | None) -> float:
        words = set(inp.tokens.get(key, [])) if key else set()
        return sum(inp.idf[t] for t in terms if t in words) / mass

    def window(values: dict, d: str, i: int) -> float:
        num, den = values.get((d, i), 0.0), 1.0
        for j in (i - 1, i + 1):
            if (d, j) in values:
                num, den = num + values[(d, j)] / 2, den + 0.5
        return num / den

    lowest_dense = min(inp.dense.values())
    lowest_chunk = min(inp.chunk.values())
    rows = []
    for d, i in inp.keys:
        toks = inp.tokens[(d, i)]
        around = set(toks) | set(inp.tokens.get((d, i - 1), [])) | set(inp.tokens.get((d, i + 1), []))
        own_pairs = {(toks[n], toks[n + 1]) for n in range(len(toks) - 1)}
        row = {
            "dense": inp.dense[(d, i)],
            "dense_window": window(dict(inp.dense), d, i),
            "chunk": inp.chunk.get((d, i), lowest_chunk),
            "doc": max(v for (doc, _), v in inp.dense.items() if doc == d),
            "lexical": inp.lexical.get((d, i), 0.0),
            "lexical_window": window(dict(inp.lexical), d, i),
            "coverage": coverage((d, i)),
            "coverage_window": sum(inp.idf[t] for t in terms if t in around) / mass,
            "answer_type": answer_type[(d, i)],
            "dense_prev": inp.dense.get((d, i - 1), lowest_dense),
            "dense_next": inp.dense.get((d, i + 1), lowest_dense),
            "coverage_prev": coverage((d, i - 1)),
            "coverage_next": coverage((d, i + 1)),
            "bigram": len(pairs & own_pairs) / len(pairs) if pairs else 0.0,
            "novelty": sum(t not in terms for t in toks) / len(toks) if toks else 0.0,
            "length": math.log(1 + len(toks)),
            "section": sum(inp.idf[t] for t in terms if t in set(inp.sections.get((d, i), []))) / mass,
            "code_overlap": code[(d, i)],
            "prose": 0.0 if (d, i) in inp.kinds else 1.0,
            "polarity": polar[(d, i)],
            "reader": 0.0,  # the ranker fills it from the reader model (tests/rank/test_reader_signal.py)
        }
        rows.append([row[name] for name in FEATURES])
    return np.array(rows)


def test_every_signal_matches_the_oracle():
    """Each signal of each handmade candidate equals a plain, independent computation of its definition."""
    inp = inputs(["mani", "troop", "korea", "sent"])
    # "How many" wants a number: only a1 ("1,500") holds one.
    expected = oracle(inp, {("a", 1): 1.0, ("a", 2): 0.0, ("b", 0): 0.0})
    got = compute_features(inp)
    assert got.shape == (len(KEYS), len(SIGNALS))
    for j, name in enumerate(FEATURES):
        assert got[:, j] == pytest.approx(expected[:, j], abs=1e-12), name


def test_a_bare_follow_up_borrows_the_previous_questions_terms():
    """With fewer than two distinct terms of its own, coverage also counts the previous question's terms."""
    inp = inputs(["seoul"], history=["troop", "sent"], question="And Seoul?")
    expected = oracle(inp, {("a", 1): 0.0, ("a", 2): 0.0, ("b", 0): 0.0})
    got = compute_features(inp)
    assert got == pytest.approx(expected, abs=1e-12)
    b0 = KEYS.index(("b", 0))
    assert got[b0, FEATURES.index("coverage")] == pytest.approx(1.0)  # b0 holds seoul, troop and sent


def test_normalise_standardises_exactly_the_unbounded_signals():
    """Standardised signals get mean 0 and population std 1; 0..1 signals keep their raw values."""
    raw = compute_features(inputs(["mani", "troop", "korea", "sent"]))
    out = normalise(raw)
    for j, signal in enumerate(SIGNALS):
        col = list(raw[:, j])
        if signal.scale == "unit":
            assert list(out[:, j]) == col
            assert all(0.0 <= v <= 1.0 for v in col), signal.name
        elif statistics.pstdev(col) > 1e-9:
            mean, std = statistics.fmean(col), statistics.pstdev(col)
            assert out[:, j] == pytest.approx([(v - mean) / std for v in col], abs=1e-9), signal.name


def test_softmax_is_a_probability_that_keeps_the_order():
    """Scores become probabilities summing to 1, largest score most probable, even for huge scores."""
    p = softmax(np.array([1000.0, 999.0, 0.0]))
    assert p.sum() == pytest.approx(1.0)
    assert p[0] == pytest.approx(math.e / (math.e + 1)) and p[2] < 1e-300 + 1e-12


def test_signal_names_are_unique():
    """The table has one entry per signal; names are the weights file's keys."""
    assert len(set(FEATURES)) == len(FEATURES) == len(SIGNALS)


def test_the_retired_rule_signals_are_gone():
    """Issue 23 removed the question-shape and heading-times-words rules (they lost on unseen documents)."""
    assert "shape" not in FEATURES and "section_coverage" not in FEATURES


def test_pasted_identifiers_count_where_they_occur_verbatim():
    """Pasted tokens (north_korea, --troops) count only where they occur verbatim, as a share of them."""
    inp = inputs(["troop", "korea", "sent"], question="Did north_korea send --troops?")
    expected = oracle(inp, NONE, code={("a", 1): 0.0, ("a", 2): 0.0, ("b", 0): 0.0})
    got = compute_features(inp)
    assert got == pytest.approx(expected, abs=1e-12)
    texts = dict(TEXTS)
    texts[("a", 1)] = "Run north_korea --troops to send them."
    moved = FeatureInputs(**{**inp.__dict__, "texts": texts})
    col = compute_features(moved)[:, FEATURES.index("code_overlap")]
    assert list(col) == [1.0, 0.0, 0.0]


def test_a_yes_no_question_favours_sentences_that_say_yes_or_no():
    """ "Will the troops ...?" marks the sentence with "only" (a yes or no), not the plain statements."""
    texts = dict(TEXTS)
    texts[("a", 2)] = "The troops will only train for weeks."
    will = Question("Will the troops train?")
    inp = FeatureInputs(**{**inputs(["troop", "korea"]).__dict__, "texts": texts, "question": will})
    expected = oracle(inp, NONE, polar={("a", 1): 0.0, ("a", 2): 1.0, ("b", 0): 0.0})
    assert compute_features(inp) == pytest.approx(expected, abs=1e-12)
    how = FeatureInputs(**{**inp.__dict__, "question": Question("How do the troops train?")})
    assert not compute_features(how)[:, FEATURES.index("polarity")].any()


def test_a_foreign_candidate_counts_only_what_holds_across_languages():
    """Rows of a document in another language keep the embedding's signals; every word signal is 0."""
    rng = np.random.default_rng(7)
    raw = rng.uniform(0.1, 1.0, size=(4, len(FEATURES)))
    foreign = np.array([False, True, False, True])
    plain, masked = normalise(raw), normalise(raw, foreign)
    across = {"dense", "dense_window", "chunk", "doc", "dense_prev", "dense_next"}
    assert {s.name for s in SIGNALS if s.across_languages} == across
    for j, name in enumerate(FEATURES):
        assert np.array_equal(masked[~foreign, j], plain[~foreign, j])  # native rows untouched
        if name in across:
            assert np.array_equal(masked[foreign, j], plain[foreign, j])
        else:
            assert not masked[foreign, j].any(), name
    assert np.array_equal(normalise(raw, np.zeros(4, dtype=bool)), plain)
