"""Shared fixtures: every test gets its own index folder; the real model loads once per session."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from retrieval import Index, Settings
from retrieval.embed.embeddings import SentenceEmbedder
from retrieval.resources import seeds_dir

#: Four CC BY-SA Wikipedia articles (tests/data/README.md): real prose that ships with the tests.
WIKI_DIR = Path(__file__).resolve().parent / "data" / "wiki"
# Resolved: retrieval/_bundled/seeds links to seeds/, and ingest records the real path as the source.
SEED_FILE = next(seeds_dir().glob("*.txt")).resolve()


def stop_process(proc: subprocess.Popen, timeout: float = 20) -> None:
    """Stop a server a test started: politely first, then for sure."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class FakeEmbedder(SentenceEmbedder):
    """Deterministic bag-of-hashed-words vectors: fast unit tests without the model."""

    def __init__(self, dim: int = 64) -> None:
        super().__init__("fake-hash-embedder")
        self._dim = dim

    @property
    def dimension(self) -> int:
        return self._dim

    def encode(self, texts: list[str], *, show_progress: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                h = int(hashlib.md5(word.encode()).hexdigest(), 16)
                out[row, h % self._dim] += 1.0 if (h >> 8) & 1 else -1.0
            out[row] /= np.linalg.norm(out[row]) or 1.0
        return out


@pytest.fixture(scope="session")
def graph_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ONNX graph cache for the whole session (built once), not the developer's ~/.cache."""
    return tmp_path_factory.mktemp("citebot-cache")


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, graph_cache: Path) -> None:
    """Point every path citebot reads at a temp dir, and drop settings leaking from the environment."""
    for key in list(os.environ):
        if key.startswith("CITEBOT_") or key == "DISCORD_TOKEN":
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("CITEBOT_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("CITEBOT_CACHE_DIR", str(graph_cache))
    monkeypatch.chdir(tmp_path)  # no stray .env is read


@pytest.fixture(scope="session")
def real_embedder(graph_cache: Path) -> SentenceEmbedder:
    """The bundled all-MiniLM-L6-v2, loaded once for the whole session (its ONNX graph exported once)."""
    emb = SentenceEmbedder(Settings().resolved_model(), cache_dir=graph_cache)
    emb.encode(["warm up"])
    return emb


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(index_dir=tmp_path / "index")


@pytest.fixture
def index(settings: Settings, real_embedder: SentenceEmbedder) -> Iterator[Index]:
    """An empty index in a temp folder with the real model and an embedded Chroma."""
    idx = Index(settings, embedder=real_embedder)
    yield idx
    idx.close()


@pytest.fixture
def fake_index(settings: Settings, fake_embedder: FakeEmbedder) -> Iterator[Index]:
    """An empty index with fake embeddings, for fast unit tests."""
    idx = Index(settings, embedder=fake_embedder)
    yield idx
    idx.close()


@pytest.fixture
def seeds_copy(tmp_path: Path) -> Path:
    """A writable copy of seeds/."""
    dest = tmp_path / "seeds"
    shutil.copytree(seeds_dir(), dest)
    return dest
