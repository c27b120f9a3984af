"""The package layout: imports run only downwards along the data path, no circles, every file in the extension."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "MedColorLib"
# lowest first; a module may import only from its own room or a lower one (cli and slicer are both edges)
LEVELS = [
    {"errors"}, {"options", "types"}, {"io"}, {"prepare"}, {"engine"}, {"baselines"}, {"metrics"},
    {"reference"}, {"pipeline"}, {"training"}, {"evaluation"}, {"cli", "slicer"}, {"__init__", "__main__"},
]
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    return {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
            for p in PACKAGE.rglob("*.py")}


def _imports(path: Path) -> set[str]:
    """Every MedColorLib module this file imports, anywhere in it (lazy imports included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}: relative import; use absolute MedColorLib.* imports")
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("MedColorLib"):
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("MedColorLib")}
    return found


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _level(module: str) -> int:
    room = _room(module)
    return next(i for i, rooms in enumerate(LEVELS) if room in rooms)


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    return {m: {t for t in _imports(p) if t in mods and t != m and t != "MedColorLib"} for m, p in mods.items()}


def test_every_room_has_a_level():
    assert {_room(m) for m in _modules()} <= set().union(*LEVELS)


def test_no_module_imports_a_higher_room():
    wrong = [f"{m} -> {t}" for m, targets in _graph().items() for t in targets
             if _level(t) > _level(m) or (_level(t) == _level(m) and _room(t) != _room(m))]
    assert not wrong, "imports against the data path:\n" + "\n".join(wrong)


def test_no_import_circles():
    graph, state, cycles = _graph(), {}, []

    def visit(v: str, path: list[str]) -> None:
        state[v] = "open"
        for w in sorted(graph[v]):
            if state.get(w) == "open":
                cycles.append(path[path.index(w):] + [w])
            elif w not in state:
                visit(w, path + [w])
        state[v] = "done"

    for v in sorted(graph):
        if v not in state:
            visit(v, [v])
    assert not cycles, " ; ".join(" -> ".join(c) for c in cycles)


def test_the_checks_catch_a_bad_import(tmp_path, monkeypatch):
    # the walk above would pass vacuously if it never saw an import: an engine module importing the CLI must fail
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from MedColorLib.cli.main import dispatch\n")
    assert "MedColorLib.cli.main" in _imports(bad)
    assert _level("MedColorLib.cli.main") > _level("MedColorLib.engine.optimise")


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_files_stay_small(path):
    assert len(path.read_text().splitlines()) <= MAX_LINES


def test_only_the_slicer_room_imports_slicer():
    for m, p in _modules().items():
        tree = ast.parse(p.read_text())
        names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and not n.level}
        if {"slicer", "vtk", "qt", "ctk"} & names:
            assert _room(m) == "slicer", f"{m} imports Slicer/VTK/Qt"


def test_every_python_file_is_installed_with_the_extension():
    text = (PACKAGE / "CMakeLists.txt").read_text()
    block = re.search(r"set\(MODULE_PYTHON_SCRIPTS\s+(.*?)\)", text, re.S).group(1).split()
    listed = set(block)
    present = {str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")}
    assert present - listed == set(), "missing from MedColorLib/CMakeLists.txt"
    assert listed - present == set(), "listed but absent"
