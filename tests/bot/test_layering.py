"""Layers point one way: the bot uses only retrieval's public names; the core never imports the bot."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import retrieval

REPO = Path(__file__).resolve().parents[2]


def imports(folder: Path) -> list[tuple[Path, int, str, list[str]]]:
    """Every import in a package: (file, line, module, names imported from it)."""
    found: list[tuple[Path, int, str, list[str]]] = []
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found += [(path, node.lineno, alias.name, []) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.append((path, node.lineno, node.module, [a.name for a in node.names]))
    return found


def test_the_bot_imports_only_names_in_retrievals_public_api() -> None:
    """bot/** imports `from retrieval import <name in __all__>` only: no subpackage, no private module."""
    problems = []
    for path, line, module, names in imports(REPO / "bot"):
        if module == "retrieval":
            problems += [f"{path.name}:{line} {n}" for n in names if n not in retrieval.__all__]
        elif module.startswith("retrieval."):
            problems.append(f"{path.name}:{line} imports {module}")
    assert problems == []


def test_the_core_never_imports_the_bot() -> None:
    """retrieval/** has no import of the bot package, and importing the CLI loads neither bot nor discord."""
    found = imports(REPO / "retrieval")
    offenders = [f"{p.name}:{line}" for p, line, module, _ in found if module.split(".")[0] == "bot"]
    assert offenders == []
    probe = (
        "import sys, retrieval, retrieval.cli; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'bot', 'discord'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]"
