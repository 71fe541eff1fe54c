"""The answer policy: when to refuse, what to cite, and that every answer path follows it."""

from __future__ import annotations

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from retrieval import Settings, build_chain
from retrieval.answer.extractive import REFUSAL, extractive_answer
from retrieval.answer.generative import GenerativeAnswerer
from retrieval.answer.policy import AnswerPolicy
from retrieval.models import Evidence, Query
from retrieval.rank.ranker import Retrieved
from retrieval.rank.weights import Thresholds, load_weights

THRESHOLDS = Thresholds(min_support=0.45, coverage_weight=0.5)


def _ev(i: int, probability: float, *, dense: float = 0.5, coverage: float = 0.5) -> Evidence:
    return Evidence(
        doc_key="d",
        idx=i,
        doc_id="doc",
        source="doc.txt",
        title="Doc",
        start=i * 20,
        end=i * 20 + 12,
        text=f"Sentence {i} here.",
        score=float(-i),
        probability=probability,
        dense=dense,
        lexical=1.0,
        coverage_window=coverage,
    )


def _retrieved(*evidence: Evidence, unknown: list[str] | None = None) -> Retrieved:
    return Retrieved(
        query=Query(question="What happened?"), evidence=list(evidence), unknown_names=unknown or []
    )


def test_a_clear_winner_is_cited_alone():
    """When the ranker is sure of the best sentence, no second citation is added."""
    decision = AnswerPolicy(THRESHOLDS).decide(_retrieved(_ev(0, 0.97), _ev(1, 0.02)))
    assert [e.idx for e in decision.cited] == [0] and not decision.refused


def test_a_hesitant_ranker_cites_the_runner_up_within_the_cap():
    """When the best sentence is uncertain, the next ones are cited too, up to max_citations."""
    r = _retrieved(_ev(0, 0.5), _ev(1, 0.3), _ev(2, 0.1), _ev(3, 0.05))
    assert [e.idx for e in AnswerPolicy(THRESHOLDS, max_citations=2).decide(r).cited] == [0, 1]
    assert [e.idx for e in AnswerPolicy(THRESHOLDS, max_citations=3).decide(r).cited] == [0, 1, 2]
    lenient = AnswerPolicy(THRESHOLDS, max_citations=3, citation_confidence=0.8)
    assert [e.idx for e in lenient.decide(r).cited] == [0, 1]  # 0.5 + 0.3 reaches 0.8


@pytest.mark.parametrize(
    ("dense", "coverage", "answers"),
    [(0.45, 0.0, True), (0.44, 0.0, False), (0.2, 0.52, True), (0.2, 0.48, False), (0.0, 0.9, True)],
)
def test_support_is_dense_plus_half_the_window_coverage(dense: float, coverage: float, answers: bool):
    """The best sentence answers when dense + coverage_weight * coverage_window reaches min_support."""
    decision = AnswerPolicy(THRESHOLDS).decide(_retrieved(_ev(0, 0.9, dense=dense, coverage=coverage)))
    assert decision.refused is not answers
    if not answers:
        assert "weak" in decision.reason


def test_only_the_best_sentence_decides_support():
    """Strong evidence below a weak best sentence doesn't save the answer."""
    r = _retrieved(_ev(0, 0.6, dense=0.1, coverage=0.1), _ev(1, 0.4, dense=0.9, coverage=1.0))
    assert AnswerPolicy(THRESHOLDS).decide(r).refused


def test_weak_support_refuses_within_one_language_only():
    """A translation's cosine is lower and no word can match: across languages weak support is no refusal."""
    weak = _ev(0, 0.9, dense=0.3, coverage=0.0)
    german = weak.model_copy(update={"language": "de", "text": "Der Wärter rudert jeden Dienstag zur Insel."})
    english_question = Query(question="When does the keeper row to the island?")
    across = Retrieved(query=english_question, evidence=[german], unknown_names=[])
    assert not AnswerPolicy(THRESHOLDS).decide(across).refused
    german_question = Query(question="Wann rudert der Wärter zur Insel hinüber?")
    within = Retrieved(query=german_question, evidence=[german], unknown_names=[])
    assert "weak" in AnswerPolicy(THRESHOLDS).decide(within).reason
    english = weak.model_copy(update={"language": "en"})
    assert AnswerPolicy(THRESHOLDS).decide(Retrieved(query=english_question, evidence=[english])).refused


def test_a_name_the_best_document_never_mentions_is_a_refusal():
    """However strong the evidence, a question naming someone the document never mentions is refused."""
    decision = AnswerPolicy(THRESHOLDS).decide(_retrieved(_ev(0, 0.99, dense=0.9), unknown=["Gandhi"]))
    assert decision.refused and "Gandhi" in decision.reason


def test_no_evidence_is_a_refusal():
    """An empty ranking is refused without looking further."""
    assert AnswerPolicy(THRESHOLDS).decide(_retrieved()).refused


def test_the_extractive_answer_quotes_what_the_policy_cites():
    """The extractive answer is the cited sentences, numbered in order; a refusal has no citations."""
    policy = AnswerPolicy(THRESHOLDS)
    answer = extractive_answer(_retrieved(_ev(0, 0.5), _ev(1, 0.3)), policy)
    assert answer.answer == "Sentence 0 here. [1] Sentence 1 here. [2]"
    assert [(c.n, c.start, c.score) for c in answer.citations] == [(1, 0, 0.5), (2, 20, 0.3)]
    refused = extractive_answer(_retrieved(_ev(0, 0.9, dense=0.0, coverage=0.0)), policy)
    assert refused.refused and refused.answer == REFUSAL and refused.citations == []


def test_the_policy_follows_the_settings():
    """from_settings takes max_citations and citation_confidence from settings, thresholds from the file."""
    policy = AnswerPolicy.from_settings(Settings(max_citations=4, citation_confidence=0.5))
    bundled = load_weights().thresholds
    assert (policy.max_citations, policy.citation_confidence, policy.thresholds) == (4, 0.5, bundled)


def test_the_model_fallback_honours_max_citations_and_citation_confidence():
    """When nothing the model wrote survives, the quotes follow the settings' citation choice."""
    r = _retrieved(_ev(0, 0.4), _ev(1, 0.3), _ev(2, 0.2), _ev(3, 0.1))

    def fallback(settings: Settings) -> list[int]:
        model = GenericFakeChatModel(messages=iter([AIMessage(content="It was about 300 [12].")]))
        answerer = GenerativeAnswerer(settings, model=model)
        answer = answerer(r)
        assert answerer.stats["fallback"] == 1 and not answer.refused
        return [c.start // 20 for c in answer.citations]

    base = {"llm": "openai", "llm_output": "text"}
    assert fallback(Settings(**base)) == [0, 1]  # the defaults: at most 2
    assert fallback(Settings(**base, max_citations=3)) == [0, 1, 2]
    assert fallback(Settings(**base, max_citations=4, citation_confidence=0.65)) == [0, 1]
    assert fallback(Settings(**base, max_citations=4, citation_confidence=0.3)) == [0]


def test_the_model_is_not_asked_when_the_policy_refuses():
    """A refusal by the policy (here: an unknown name) is the answer, and the model is never called."""
    model = GenericFakeChatModel(messages=iter([]))  # raises if asked
    answerer = GenerativeAnswerer(Settings(llm="openai", llm_output="text"), model=model)
    answer = answerer(_retrieved(_ev(0, 0.99, dense=0.9), unknown=["Gandhi"]))
    assert answer.refused and answerer.stats["refused_retrieval"] == 1


@pytest.mark.slow
def test_the_chain_refuses_and_answers_on_the_seed_article(seed_index):
    """End to end with the real model: off-topic and unknown-name questions refused, answerable ones cited."""
    chain = build_chain(seed_index.settings, index=seed_index)
    assert chain.invoke("What is the capital of France?").refused
    assert chain.invoke("What did Gandhi say about Kim Jong Un?").refused
    answer = chain.invoke("Who is the Kremlin spokesperson?")
    assert not answer.refused and len(answer.citations) == 1
    assert "Peskov" in answer.citations[0].text
