"""The package's shape (docs/architecture.md): no import cycles, no stage importing a later one,
and every module importable on its own in a fresh interpreter. Imports are read from the source,
the lazy ones inside functions too, so a cycle hidden behind a function-level import is found."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import edgebench

SRC = Path(edgebench.__file__).resolve().parent.parent

#: the stages, lowest first: a module may import its own stage and the ones before it, never a later
#: one. bench/ drives the pipeline (model -> artifact -> backend -> record -> report), so it sits above
#: the stages it drives; the CLI and the API facade sit on top.
#: The root package holds only __version__ and lazy names resolved on first use, so it imports
#: nothing of its own and sits with the leaves.
LAYERS = (
    ("__init__", "errors", "hashing", "system", "profilers"),
    ("cache",),
    ("models",),
    ("data",),
    ("export",),
    ("backends",),
    ("config",),
    ("results",),
    ("report",),
    ("bench", "train"),
    # the executors the engine is given: a remote target, a fleet of nodes (which may drive targets)
    ("targets",),
    ("cluster",),
    ("api",),
    ("cli", "__main__"),
)

#: packages that must not import each other although the layers alone would let them: the report is
#: a pure function of stored records (no backend), and a model knows no data loader
FORBIDDEN = {("report", "backends"), ("models", "data"), ("bench", "targets"), ("bench", "cluster")}


def _modules() -> dict[str, Path]:
    out = {}
    for path in (SRC / "edgebench").rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The edgebench modules `name` imports anywhere in its source (nearest existing module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target.startswith("edgebench") and target != name:
                found.add(target)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def _stage(module: str) -> str:
    return module.split(".")[1] if "." in module else "__init__"


def _layer(module: str) -> int:
    stage = _stage(module)
    for i, names in enumerate(LAYERS):
        if stage in names:
            return i
    raise AssertionError(f"{module}: stage {stage!r} is in no layer of LAYERS; add it where it belongs")


def test_no_import_cycles():
    assert _cycles(_graph()) == []


def test_no_stage_imports_a_later_stage():
    backward = sorted(f"{m} -> {t}" for m, targets in _graph().items() for t in targets
                      if _stage(m) != _stage(t) and _layer(t) > _layer(m))
    assert backward == []


def test_no_package_imports_a_forbidden_one():
    """Package by package (every module of each, lazy imports included), not only module by module."""
    found = sorted(f"{m} -> {t}" for m, targets in _graph().items() for t in targets
                   if (_stage(m), _stage(t)) in FORBIDDEN)
    assert found == []


def test_no_import_cycle_between_packages():
    """bench/ imported targets/ while targets/ imported bench/: no two modules formed a cycle, so
    the module check could not see it; the package graph does."""
    packages: dict[str, set[str]] = {}
    for m, targets in _graph().items():
        packages.setdefault(_stage(m), set()).update(_stage(t) for t in targets if _stage(t) != _stage(m))
    assert _cycles(packages) == []


def test_the_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_every_module_imports_alone_in_a_fresh_interpreter():
    """Each module imported first in its own interpreter: an order-dependent import (a cycle
    that only bites when entered from one side) fails here."""
    names = sorted(n for n in _modules() if n != "edgebench.__main__")
    # one interpreter per module, as many at a time as there are cores
    code = ("import os, subprocess, sys\n"
            "from concurrent.futures import ThreadPoolExecutor\n"
            "def one(n):\n"
            "    r = subprocess.run([sys.executable, '-c', f'import {n}'], capture_output=True, text=True)\n"
            "    return n + ': ' + (r.stderr.strip().splitlines() or ['?'])[-1] if r.returncode else ''\n"
            "with ThreadPoolExecutor(os.cpu_count() or 2) as pool:\n"
            "    bad = [b for b in pool.map(one, sys.argv[1:]) if b]\n"
            "print('\\n'.join(bad)); sys.exit(1 if bad else 0)\n")
    proc = subprocess.run([sys.executable, "-c", code, *names], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
