"""The wheel carries prompts/ and seeds/, and an installed citebot answers from them outside the checkout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.subprocess  # pip builds the wheel, a fresh interpreter runs it

REPO = Path(__file__).resolve().parents[1]
QUESTION = "How many North Korean soldiers entered eastern Russia?"
# What a checkout holds that is not source: never copied into the build folder.
_NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", ".citebot", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "tests"
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`pip wheel --no-deps .` of a copy of this checkout (a build leaves build/ and egg-info behind)."""
    src = tmp_path_factory.mktemp("src") / "citebot"
    shutil.copytree(REPO, src, symlinks=True, ignore=_NOT_SOURCE)
    out = tmp_path_factory.mktemp("wheel")
    # No build isolation: the installed setuptools builds it, so the test needs no network.
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            ".",
            "-w",
            str(out),
        ],
        cwd=src,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (built,) = out.glob("citebot-*.whl")
    return built


@pytest.mark.slow
def test_the_wheel_carries_every_prompt_and_seed(wheel: Path) -> None:
    """Each prompts/*.md and seeds/*.txt is in the wheel under retrieval/_bundled, byte for byte."""
    expected = {f"retrieval/_bundled/prompts/{p.name}": p for p in (REPO / "prompts").glob("*.md")}
    expected |= {f"retrieval/_bundled/seeds/{p.name}": p for p in (REPO / "seeds").glob("*.txt")}
    assert any("/prompts/" in name for name in expected) and any("/seeds/" in name for name in expected)
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        assert set(expected) <= names, sorted(set(expected) - names)
        for name, path in expected.items():
            assert zf.read(name) == path.read_bytes(), name
        assert "retrieval/py.typed" in names
        # the embedding models' fine-tuning, as differences from the bases their packages install
        for model in ("citebot_model", "multilingual_model"):
            folder = f"retrieval/embed/{model}"
            assert {f"{folder}/delta.safetensors", f"{folder}/README.md"} <= names


@pytest.mark.slow
def test_the_installed_wheel_answers_from_its_bundled_seeds(wheel: Path, tmp_path: Path) -> None:
    """Installed with --target and run from elsewhere, `ask` indexes the bundled seeds and cites "3,000"."""
    target = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITEBOT_") and k != "PYTHONPATH"}
    env |= {
        "PYTHONPATH": str(target),
        "CITEBOT_INDEX_DIR": str(tmp_path / "fresh-index"),
        "CITEBOT_CACHE_DIR": os.environ["CITEBOT_CACHE_DIR"],  # the session's graph cache (conftest)
        "HF_HUB_OFFLINE": "1",
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, *args], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=600
        )

    where = run(
        "-c", "import retrieval, retrieval.resources as r; print(retrieval.__file__); print(r.seeds_dir())"
    )
    assert where.returncode == 0, where.stderr
    module_file, seeds = (Path(line) for line in where.stdout.split())
    assert module_file.is_relative_to(target) and seeds.is_relative_to(target), where.stdout

    asked = run("-m", "retrieval.cli", "ask", QUESTION)
    assert asked.returncode == 0, asked.stderr[-3000:]
    assert "Traceback" not in asked.stderr
    assert "at least 3,000" in asked.stdout and "Sources:" in asked.stdout, asked.stdout

    as_json = run("-m", "retrieval.cli", "ask", "--json", QUESTION)
    assert as_json.returncode == 0, as_json.stderr[-3000:]
    cited = json.loads(as_json.stdout)["citations"][0]
    assert "3,000" in cited["text"]
    assert Path(cited["source"]).is_relative_to(target), cited["source"]  # the installed copy's seed
