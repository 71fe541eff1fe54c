"""Layers point one way: the bot uses only retrieval's public names; the core never imports the bot; and
inside the core, no module imports from a layer above its own."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

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


@pytest.mark.subprocess
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


#: retrieval's layers, lowest first. A module may import from its own layer and from lower ones, never
#: from a higher one: the shared base (data shapes, settings, pure text functions) knows no pipeline
#: stage, ingestion knows nothing of answering, ranking nothing of web sources, and only the front ends
#: see everything. Each name is a top-level module or subpackage of retrieval.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("atomic", "errors", "links", "markup", "models", "resources", "settings"),
    ("embed",),
    ("index",),
    ("ingest",),  # writes parsed documents into the index
    ("rank",),
    ("answer",),
    ("chain",),
    ("sources",),  # web pages and sources files, synced through ingest
    ("library",),  # the facade front ends use: documents, uploads, web pages, answers
    ("cli", "tools", "__init__"),  # front ends, developer tools, and the package's public names
)
#: Upward imports that stay for now, each with its reason: (importing file, imported module) -> why.
KNOWN_UPWARD: dict[tuple[str, str], str] = {
    ("retrieval/settings.py", "retrieval.ingest.isolation"): (
        "Settings.parse_limits() builds ingest's ParseLimits from three settings (called inside the "
        "function, so importing settings loads no ingest code); moving ParseLimits down would end it"
    ),
}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(nodes: Iterable[ast.AST]) -> Iterator[ast.Import | ast.ImportFrom]:
    """The imports among ``nodes`` that can run: at the top, in functions and classes, not type-only."""
    for node in nodes:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _runtime_imports(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        yield from _runtime_imports(ast.iter_child_nodes(node))


def _imported_modules(path: Path, root: Path, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The absolute names of the modules ``node`` imports, relative imports resolved against ``path``."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level == 0:
        base = node.module or ""
    else:
        package = list(path.relative_to(root.parent).with_suffix("").parts)[:-1]
        base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
    # `from . import markup` imports a module; `from retrieval import Library` a name of the package.
    if base == root.name:
        return [f"{base}.{alias.name}" for alias in node.names]
    return [base] if base else []


def _unit_of_module(module: str, root: Path) -> str | None:
    """The layer name of an imported module: its top-level module or subpackage of the package at
    ``root``, "__init__" for a name of the package itself, None for a module outside it."""
    parts = module.split(".")
    if parts[0] != root.name:
        return None
    if len(parts) == 1 or not ((root / parts[1]).is_dir() or (root / f"{parts[1]}.py").is_file()):
        return "__init__"
    return parts[1]


def _unit_of_file(path: Path, root: Path) -> str:
    """The layer name of a file of the package at ``root``: its top-level module or subpackage."""
    parts = path.relative_to(root).parts
    return "__init__" if parts == ("__init__.py",) else parts[0].removesuffix(".py")


def upward_imports(root: Path) -> list[str]:
    """Each import in the package at ``root`` of a module in a higher layer, as "file:line ..."."""
    rank = {name: i for i, layer in enumerate(LAYERS) for name in layer}
    found = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root.parent).as_posix()
        own = _unit_of_file(path, root)
        if own not in rank:
            continue  # test_every_module_of_the_core_has_a_layer names it
        for node in _runtime_imports(ast.parse(path.read_text(encoding="utf-8")).body):
            for module in _imported_modules(path, root, node):
                target = _unit_of_module(module, root)
                if target is None or rank[target] <= rank[own] or (relative, module) in KNOWN_UPWARD:
                    continue
                found.append(
                    f"{relative}:{node.lineno}: {own} (layer {rank[own]}) imports {module} "
                    f"({target}, layer {rank[target]})"
                )
    return found


def _units(root: Path) -> set[str]:
    """The package's top-level modules and subpackages, by the names LAYERS uses."""
    return {_unit_of_file(p, root) for p in root.rglob("*.py")}


def test_every_module_of_the_core_has_a_layer() -> None:
    """Each top-level module and subpackage of retrieval is placed in LAYERS exactly once."""
    placed = [name for layer in LAYERS for name in layer]
    assert len(placed) == len(set(placed)), "a name is in two layers"
    missing = sorted(_units(REPO / "retrieval") - set(placed))
    assert missing == [], f"place these in LAYERS (tests/bot/test_layering.py): {missing}"


def test_no_module_of_the_core_imports_from_a_layer_above_it() -> None:
    """Ingest imports nothing from answer, rank nothing from sources, the base nothing but the base...

    Every import counts: absolute and relative, at the top of a module or inside a function; only
    imports under ``if TYPE_CHECKING:`` are left out, since they never run (``sources/sync.py`` names
    the ``Library`` it is handed that way).
    """
    upward = upward_imports(REPO / "retrieval")
    assert upward == [], "imports from a higher layer (see LAYERS):\n" + "\n".join(upward)
