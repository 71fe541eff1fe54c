"""citebot's own embedding model: unpacked once from the package, the same model wherever it is unpacked."""

import threading
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from retrieval import Settings
from retrieval.embed import bundled
from retrieval.embed.embeddings import SentenceEmbedder
from retrieval.embed.presets import resolve_model
from retrieval.errors import ConfigurationError
from retrieval.settings import minilm_model


def test_the_default_setting_selects_the_bundled_model(tmp_path: Path):
    """Empty and `citebot` give the unpacked folder; `minilm` gives the original all-MiniLM-L6-v2."""
    folder = resolve_model(Settings(cache_dir=tmp_path))
    assert Path(folder).name == bundled.FOLDER_PREFIX + bundled.weights_hash()
    assert resolve_model(Settings(embedding_model="citebot", cache_dir=tmp_path)) == folder
    assert resolve_model(Settings(embedding_model=" MiniLM ", cache_dir=tmp_path)) == minilm_model()
    assert resolve_model(Settings(embedding_model="/models/mine", cache_dir=tmp_path)) == "/models/mine"


def test_the_weights_are_widened_to_float32_and_nothing_else_changes(tmp_path: Path):
    """The unpacked folder holds MiniLM's weights plus the packaged int8 differences; other files as is.

    A tensor without a difference (MiniLM's ``position_ids`` buffer) is the base's own.
    """
    folder = bundled.model_dir(tmp_path)
    delta = load_file(str(bundled.bundled_folder() / bundled.DELTA))
    base = load_file(str(Path(minilm_model()) / "model.safetensors"))
    wide = load_file(str(folder / "model.safetensors"))
    changed = {n for n in delta if not n.endswith(".scale")}
    assert wide.keys() == base.keys() and len(changed) > 100
    for name in wide.keys() - changed:
        assert np.array_equal(wide[name], base[name])
    moved = 0
    for name in changed:
        value = wide[name]
        assert delta[name].dtype == np.int8 and value.dtype == np.float32
        assert np.array_equal(value, base[name] + delta[name].astype(np.float32) * delta[name + ".scale"])
        moved += int(delta[name].any())
    assert moved > 50  # fine-tuning changed most tensors
    for name in ("tokenizer.json", "config.json", "modules.json", "1_Pooling/config.json", "README.md"):
        assert (folder / name).read_bytes() == (bundled.bundled_folder() / name).read_bytes()


def test_threads_unpacking_at_once_leave_one_finished_folder(tmp_path: Path):
    """Eight threads ask for the model at once: all get the same finished folder, no temporary one stays."""
    got: list[Path] = []
    errors: list[BaseException] = []

    def unpack() -> None:
        try:
            got.append(bundled.model_dir(tmp_path))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=unpack) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(got)) == 1
    folders = [p.name for p in (tmp_path / "models").iterdir() if p.is_dir()]
    assert folders == [got[0].name]  # no temporary .building- folder left behind


def test_a_half_written_folder_is_replaced(tmp_path: Path):
    """A folder a killed process left unfinished (no marker file) is built again, not loaded."""
    target = tmp_path / "models" / (bundled.FOLDER_PREFIX + bundled.weights_hash())
    target.mkdir(parents=True)
    (target / "model.safetensors").write_bytes(b"half")  # what widen writes, cut short
    assert bundled.model_dir(tmp_path) == target
    assert len(load_file(str(target / "model.safetensors"))) > 100


def test_an_unwritable_cache_is_a_clear_error(tmp_path: Path):
    """No place to unpack: one ConfigurationError naming the setting to change."""
    blocked = tmp_path / "file"
    blocked.write_text("not a folder", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="CITEBOT_CACHE_DIR"):
        bundled.model_dir(blocked)


@pytest.mark.model
def test_the_model_finds_the_answer_and_runs_on_onnx(real_embedder: SentenceEmbedder):
    """The default model runs on ONNX Runtime and puts the answering sentence above a topical neighbour."""
    assert real_embedder.active_engine == "onnx"
    assert Path(real_embedder.model_name).name.startswith(bundled.FOLDER_PREFIX)
    question = real_embedder.encode(["How do I install the command line tool?"])[0]
    units = real_embedder.encode(
        [
            "Run `pip install citebot` to install the command line tool.",
            "The command line tool prints its answers in colour.",
        ],
        role="passage",
    )
    scores = units @ question
    assert scores[0] > scores[1]


def test_pack_embedder_writes_int8_differences_and_keeps_the_card(tmp_path: Path):
    """Packing a trained folder: int8 differences from its base, its other files, our card kept."""
    from safetensors.numpy import save_file

    from retrieval.tools.pack_embedder import main

    base, trained = tmp_path / "base", tmp_path / "model"
    base.mkdir()
    (trained / "1_Pooling").mkdir(parents=True)
    start = {"w": np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4), "b": np.ones(4, dtype=np.float32)}
    weights = {
        "w": start["w"] + np.float32(0.01) * np.arange(12, dtype=np.float32).reshape(3, 4),
        "b": start["b"],
        "pooler": np.zeros(4, dtype=np.float32),  # saved by training, unknown to the base: left out
    }
    save_file(start, str(base / "model.safetensors"))
    save_file(weights, str(trained / "model.safetensors"))
    (trained / "config.json").write_text("{}", encoding="utf-8")
    (trained / "1_Pooling" / "config.json").write_text('{"mean": true}', encoding="utf-8")
    (trained / "README.md").write_text("the base model's card", encoding="utf-8")
    into = tmp_path / "bundled"
    into.mkdir()
    (into / "README.md").write_text("citebot's card", encoding="utf-8")
    (into / "stale.json").write_text("{}", encoding="utf-8")

    assert main([str(trained), "--into", str(into), "--base", str(base)]) == 0
    delta = load_file(str(into / bundled.DELTA))
    assert delta["w"].dtype == np.int8 and delta.keys() == {"w", "w.scale"}  # unchanged: not stored
    bundled.add_delta(base / "model.safetensors", into / bundled.DELTA, tmp_path / "wide", mismatch="")
    rebuilt = load_file(str(tmp_path / "wide"))
    assert np.allclose(rebuilt["w"], weights["w"], atol=0.11 / 254)  # half a step of the widest row
    assert np.array_equal(rebuilt["b"], weights["b"]) and rebuilt.keys() == {"w", "b"}
    assert (into / "README.md").read_text(encoding="utf-8") == "citebot's card"
    assert (into / "1_Pooling" / "config.json").is_file() and not (into / "stale.json").exists()
    assert not (into / "model.safetensors").exists()


def test_another_base_model_is_refused_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Differences taken from one MiniLM are never added to another: one error naming the way out."""
    fake = tmp_path / "other-minilm"
    fake.mkdir()
    (fake / "model.safetensors").write_bytes(b"not the pinned model")
    monkeypatch.setattr(bundled, "minilm_model", lambda: str(fake))
    with pytest.raises(ConfigurationError, match="CITEBOT_EMBEDDING_MODEL=minilm"):
        bundled.model_dir(tmp_path / "cache")


def _unpack_in_child(cache: str) -> str:
    return str(bundled.model_dir(Path(cache)))


@pytest.mark.subprocess
def test_processes_unpacking_at_once_share_one_folder(tmp_path: Path):
    """Three processes unpack into one cache at the same moment: one folder, the same for all."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(3) as pool:
        got = pool.map(_unpack_in_child, [str(tmp_path)] * 3)
    assert len(set(got)) == 1
    assert [p.name for p in (tmp_path / "models").iterdir() if p.is_dir()] == [Path(got[0]).name]
    assert len(load_file(str(Path(got[0]) / "model.safetensors"))) > 100


def test_the_version_covers_every_file_but_the_card(tmp_path: Path):
    """A new tokenizer or config is a new version (a new cache folder); a new card is not."""
    import shutil

    copy = tmp_path / "model"
    shutil.copytree(bundled.bundled_folder(), copy)
    first = bundled.weights_hash(copy)
    assert first == bundled.weights_hash()
    (copy / "README.md").write_text("another card", encoding="utf-8")
    assert bundled.weights_hash(copy) == first
    (copy / "tokenizer_config.json").write_text("{}", encoding="utf-8")
    assert bundled.weights_hash(copy) != first


def test_missing_bundled_weights_say_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A broken install (no weights in the package) is one clear error naming the `minilm` way out."""
    empty = tmp_path / "package-folder"
    empty.mkdir()
    monkeypatch.setattr(bundled, "bundled_folder", lambda: empty)
    with pytest.raises(ConfigurationError, match="CITEBOT_EMBEDDING_MODEL=minilm"):
        bundled.model_dir(tmp_path / "cache")
