"""Chroma server mode: a real ``chroma run`` on loopback, the ingest and ask paths against it, and errors."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from retrieval import Index, Settings, build_chain, ingest
from retrieval.cli import main
from retrieval.embed.embeddings import SentenceEmbedder
from tests.conftest import SEED_FILE, stop_process

pytestmark = [pytest.mark.slow, pytest.mark.subprocess]  # a `chroma run` server, the CLI

CHROMA = Path(sys.executable).with_name("chroma")
QUESTION = "How many North Korean soldiers entered eastern Russia?"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _heartbeat(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """A real Chroma server on 127.0.0.1 and a free port, stopped at teardown."""
    if not CHROMA.exists():
        pytest.skip("the chroma CLI is not installed in this environment")
    data = tmp_path_factory.mktemp("chroma-server")
    port = _free_port()
    log = (data / "server.log").open("wb")
    proc = subprocess.Popen(
        [str(CHROMA), "run", "--path", str(data / "db"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 90
        while not _heartbeat(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"chroma run did not start: {(data / 'server.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield "127.0.0.1", port
    finally:
        stop_process(proc, timeout=20)
        log.close()


@pytest.fixture
def server_settings(
    settings: Settings, chroma_server: tuple[str, int], request: pytest.FixtureRequest
) -> Settings:
    """Settings pointing at the server, with a collection name of this test's own."""
    host, port = chroma_server
    name = "t" + str(abs(hash(request.node.nodeid)) % 10**8)
    return settings.model_copy(update={"chroma_host": host, "chroma_port": port, "collection": name})


def test_ingest_and_ask_against_a_server(server_settings: Settings, real_embedder: SentenceEmbedder) -> None:
    """Ingest writes vectors to the server (nothing to the local chroma folder) and ask cites verbatim."""
    index = Index(server_settings, embedder=real_embedder)
    try:
        report = ingest(index, [SEED_FILE])
        assert report.added == [str(SEED_FILE.resolve())]
        sentences, chunks = index.store.count()
        assert sentences == report.sentences_embedded > 10 and chunks > 0
        assert not (server_settings.index_dir / "chroma").exists()
        answer = build_chain(server_settings, index=index).invoke(QUESTION)
        assert not answer.refused and answer.citations
        text = SEED_FILE.read_text(encoding="utf-8")
        for c in answer.citations:
            assert text[c.start : c.end] == c.text
    finally:
        index.close()


def test_reingest_against_a_server_is_incremental(
    server_settings: Settings, real_embedder: SentenceEmbedder, seeds_copy: Path
) -> None:
    """A second ingest of unchanged files embeds nothing and leaves the server's rows as they were."""
    index = Index(server_settings, embedder=real_embedder)
    try:
        first = ingest(index, [seeds_copy])
        counts = index.store.count()
        second = ingest(index, [seeds_copy])
        assert first.sentences_embedded > 0 and second.sentences_embedded == 0
        assert index.store.count() == counts
    finally:
        index.close()


@pytest.mark.model  # main() loads the model itself
def test_cli_ingest_and_ask_against_a_server(
    server_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`citebot ingest` and `citebot ask --json` work end to end with CITEBOT_CHROMA_HOST/PORT set."""
    monkeypatch.setenv("CITEBOT_CHROMA_HOST", server_settings.chroma_host)
    monkeypatch.setenv("CITEBOT_CHROMA_PORT", str(server_settings.chroma_port))
    monkeypatch.setenv("CITEBOT_COLLECTION", server_settings.collection)
    assert main(["ingest", str(SEED_FILE)]) == 0
    assert "1 added" in capsys.readouterr().out
    assert main(["ask", "--json", QUESTION]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert not answer["refused"] and answer["citations"]
    assert not (server_settings.index_dir / "chroma").exists()


def _run_cli(index_dir: Path, port: int, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CITEBOT_INDEX_DIR": str(index_dir),
        "CITEBOT_CHROMA_HOST": "127.0.0.1",
        "CITEBOT_CHROMA_PORT": str(port),
        "HF_HUB_OFFLINE": "1",
    }
    return subprocess.run(
        [sys.executable, "-m", "retrieval.cli", *args], env=env, capture_output=True, text=True, timeout=300
    )


def _assert_one_clear_line(proc: subprocess.CompletedProcess[str], port: int) -> None:
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("Error:") and f"127.0.0.1:{port}" in lines[0]
    assert "Traceback" not in proc.stderr


def test_unreachable_server_on_ingest_is_one_clear_line(tmp_path: Path) -> None:
    """`citebot ingest` with no server listening exits 1 with one line naming host and port."""
    port = _free_port()
    _assert_one_clear_line(_run_cli(tmp_path / "index", port, "ingest", str(SEED_FILE)), port)


def test_unreachable_server_on_ask_is_one_clear_line(
    settings: Settings, real_embedder: SentenceEmbedder
) -> None:
    """`citebot ask` on an indexed catalog whose server is down exits 1 with one line naming host and port."""
    index = Index(settings, embedder=real_embedder)  # a catalog that says documents are indexed
    try:
        ingest(index, [SEED_FILE])
    finally:
        index.close()
    port = _free_port()
    _assert_one_clear_line(_run_cli(settings.index_dir, port, "ask", QUESTION), port)
