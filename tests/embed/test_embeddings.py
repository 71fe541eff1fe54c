"""The two embedding engines agree, identical texts are embedded once, and asking never imports torch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from retrieval import Index, Settings
from retrieval.embed.embeddings import SentenceEmbedder
from retrieval.embed.onnx_encoder import load
from retrieval.embed.onnx_export import MIN_COSINE
from retrieval.errors import ConfigurationError
from tests.conftest import SEED_FILE

QUESTION = "How many North Korean soldiers entered eastern Russia?"


def test_onnx_encoder_matches_torch(real_embedder: SentenceEmbedder, graph_cache: Path) -> None:
    """The exported graph's vectors equal sentence-transformers' to cosine 1e-5, long texts included."""
    fast = load(real_embedder.model_name, cache_dir=graph_cache)
    assert fast is not None
    text = SEED_FILE.read_text(encoding="utf-8")
    texts = [
        QUESTION,
        "x",
        "Ünïcödé, emoji 🙂 and numbers 1,234.5!",
        text[:300],
        text,
        *text.split(". "),
    ]
    torch_vecs = real_embedder.model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    for budget in (1, 64, 4096):  # padding inside a batch must not change a text's vector
        onnx_vecs = fast.encode(texts, batch_tokens=budget)
        cos = (onnx_vecs * torch_vecs).sum(axis=1)
        assert cos.min() >= MIN_COSINE
        assert np.allclose(np.linalg.norm(onnx_vecs, axis=1), 1.0, atol=1e-5)
    assert fast.encode([]).shape == (0, 384)


def test_unsupported_model_falls_back_to_torch(tmp_path: Path) -> None:
    """A model folder the ONNX encoder doesn't understand yields None; `auto` uses torch, `onnx` refuses."""
    (tmp_path / "modules.json").write_text(json.dumps([{"type": "sentence_transformers.models.Transformer"}]))
    assert load(str(tmp_path)) is None
    assert load(str(tmp_path / "missing")) is None
    assert SentenceEmbedder(str(tmp_path))._onnx_encoder() is None
    with pytest.raises(ConfigurationError, match="CITEBOT_EMBEDDING_ENGINE"):
        SentenceEmbedder(str(tmp_path), engine="onnx").encode(["a question"])


def test_torch_engine_is_honoured(real_embedder: SentenceEmbedder) -> None:
    """`engine="torch"` embeds on sentence-transformers even for a model ONNX Runtime could run."""
    emb = SentenceEmbedder(real_embedder.model_name, engine="torch")
    emb._model = real_embedder.model  # the loaded torch model, to save loading it twice
    assert emb.active_engine == "torch" and real_embedder.active_engine == "onnx"
    assert float(emb.encode([QUESTION])[0] @ real_embedder.encode([QUESTION])[0]) > 1 - 1e-5


def test_duplicates_are_embedded_once(real_embedder: SentenceEmbedder) -> None:
    """Repeated texts in one call get the same row, and the result keeps the caller's order and length."""
    texts = ["alpha beta", "gamma", "alpha beta", "gamma", "delta"] * 3
    vecs = real_embedder.encode(texts)
    assert vecs.shape == (15, 384)
    assert np.array_equal(vecs[0], vecs[2]) and np.array_equal(vecs[1], vecs[13])
    assert float(vecs[0] @ vecs[4]) < 0.99


@pytest.mark.slow
@pytest.mark.subprocess
def test_ask_does_not_import_torch(settings: Settings, seed_index_copy: Index) -> None:
    """`citebot ask` on an existing index answers with citations without importing torch."""
    seed_index_copy.close()  # the seed article, indexed in settings.index_dir
    code = (
        "import sys; from retrieval.cli import main; rc = main(['ask', '--json', sys.argv[1]]); "
        "sys.stderr.write('TORCH' if 'torch' in sys.modules else 'NO-TORCH'); sys.exit(rc)"
    )
    env = {**os.environ, "CITEBOT_INDEX_DIR": str(settings.index_dir), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", code, QUESTION], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.endswith("NO-TORCH"), proc.stderr
    answer = json.loads(proc.stdout)
    assert not answer["refused"] and answer["citations"]


@pytest.mark.subprocess
def test_a_cached_graph_answers_without_torch(real_embedder: SentenceEmbedder, graph_cache: Path) -> None:
    """A process that loads the cached graph embeds a question like this one, and never imports torch."""
    here = load(real_embedder.model_name, cache_dir=graph_cache)
    assert here is not None and list((graph_cache / "onnx").glob("*.onnx"))
    code = (
        "import sys, json; from pathlib import Path; from retrieval.embed.onnx_encoder import load; "
        "enc = load(sys.argv[1], cache_dir=Path(sys.argv[2])); "
        "print(json.dumps([enc.encode([sys.argv[3]])[0].tolist(), 'torch' in sys.modules]))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, real_embedder.model_name, str(graph_cache), QUESTION],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert proc.returncode == 0, proc.stderr
    vector, torch_imported = json.loads(proc.stdout)
    assert torch_imported is False
    assert np.allclose(vector, here.encode([QUESTION])[0], atol=1e-6)


def test_onnx_graph_is_cached_and_a_damaged_cache_is_rebuilt(
    real_embedder: SentenceEmbedder, graph_cache: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A cached graph is read back as it is; a damaged one is exported again, in place, with a warning."""
    (built,) = (graph_cache / "onnx").glob("*.onnx")
    cached = tmp_path / "onnx" / built.name
    cached.parent.mkdir()
    shutil.copyfile(built, cached)
    reference = real_embedder.encode([QUESTION])
    again = load(real_embedder.model_name, cache_dir=tmp_path)
    assert again is not None and np.array_equal(again.encode([QUESTION]), reference)
    assert cached.read_bytes() == built.read_bytes()  # read, not exported again
    cached.write_bytes(b"not an onnx graph")
    with caplog.at_level("WARNING", logger="retrieval.embed"):
        repaired = load(real_embedder.model_name, cache_dir=tmp_path)
    assert repaired is not None
    assert float(repaired.encode([QUESTION])[0] @ reference[0]) >= MIN_COSINE
    assert "unreadable" in caplog.text
    assert cached.stat().st_size > 1_000_000  # exported again in place
    assert [p.name for p in (tmp_path / "onnx").iterdir()] == [cached.name]


def test_an_unwritable_cache_only_costs_time(
    real_embedder: SentenceEmbedder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A cache folder that can't be created still gives a working encoder, with a warning."""
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder would go")
    with caplog.at_level("WARNING", logger="retrieval.embed"):
        fast = load(real_embedder.model_name, cache_dir=blocked)
    assert fast is not None and fast.encode([QUESTION]).shape == (1, 384)
    assert "cannot keep the ONNX graph" in caplog.text
    assert not list(tmp_path.rglob("*.tmp"))


def test_damaged_weights_fall_back_without_a_traceback(
    real_embedder: SentenceEmbedder, tmp_path: Path
) -> None:
    """Weights ONNX can't read give None (torch gets its turn); `engine="onnx"` says so in one line."""
    model = tmp_path / "model"
    shutil.copytree(real_embedder.model_name, model)
    (model / "model.safetensors").write_bytes(b"\x00" * 64)
    assert load(str(model), cache_dir=tmp_path / "cache") is None
    emb = SentenceEmbedder(str(model), engine="onnx", cache_dir=tmp_path / "cache")
    with pytest.raises(ConfigurationError, match="can't run on ONNX Runtime"):
        emb.encode([QUESTION])
    with pytest.raises(ConfigurationError, match="can't run on ONNX Runtime"):
        emb.encode([QUESTION])  # tried once, not rebuilt on every call
    with pytest.raises(ConfigurationError, match="CPU only"):
        SentenceEmbedder(real_embedder.model_name, engine="onnx", device="cuda").encode([QUESTION])


def test_models_that_lowercase_or_prompt_stay_on_torch(
    real_embedder: SentenceEmbedder, tmp_path: Path
) -> None:
    """sentence-transformers changes the text before tokenizing for these: the ONNX graph would not."""
    for name, content in [
        ("sentence_bert_config.json", {"max_seq_length": 256, "do_lower_case": True}),
        ("config_sentence_transformers.json", {"prompts": {"query": "q: "}, "default_prompt_name": "query"}),
    ]:
        model = tmp_path / name.split(".")[0]
        shutil.copytree(real_embedder.model_name, model)
        (model / name).write_text(json.dumps(content))
        assert load(str(model)) is None
