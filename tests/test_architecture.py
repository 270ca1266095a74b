"""The layering of docs/architecture.md, measured on the code's own imports (every import
statement, also those inside functions), and `import talkrig` without side effects."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "talkrig"

# What each stage may import (besides itself); the layers of docs/architecture.md.
ALLOWED = {
    "errors": set(),
    "io": {"errors"},
    "model": {"errors", "io"},
    "render": {"errors", "io", "model"},
    "texture": {"errors", "io", "model", "render"},
    "recon": {"errors", "io", "model", "render"},
    "animate": {"errors", "io", "model"},
    "synth": {"errors", "io", "model", "render", "texture", "recon", "animate"},
    "eval": {"errors", "io", "model", "render", "texture", "recon", "animate", "synth"},
    "data_prep": {"errors", "io", "model", "render", "texture", "recon", "animate", "synth", "eval"},
    "api": {"errors", "io", "model", "render", "texture", "recon", "animate", "synth", "eval", "data_prep"},
    "server": {"errors", "api"},
    "cli": {"errors", "api", "server"},
    "__init__": {"errors", "model"},
}


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every talkrig module ``path`` imports (absolute names; ``from talkrig import api`` counts
    as ``talkrig.api``)."""
    mod = _module(path)
    pkg = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                base = ".".join(up + ([node.module] if node.module else []))
            out.add(base)
            out |= {f"{base}.{a.name}" for a in node.names}
    return {m for m in out if m == "talkrig" or m.startswith("talkrig.")}


def _stage(module: str) -> str:
    parts = module.split(".")
    return "__init__" if len(parts) == 1 else parts[1]


def _graph() -> dict[str, set[str]]:
    files = {_module(p): p for p in ROOT.rglob("*.py")}
    return {m: {i for i in _imports(p) if i in files} for m, p in files.items()}


def test_every_stage_imports_only_the_layers_below_it():
    wrong = []
    for mod, deps in _graph().items():
        stage = _stage(mod)
        for dep in deps:
            target = _stage(dep)
            if target != stage and target not in ALLOWED[stage] and not (stage in ("cli", "server") and dep == "talkrig"):
                wrong.append(f"{mod} -> {dep}")
    assert not wrong, "imports against the layering:\n" + "\n".join(sorted(wrong))


def test_no_import_circles_between_files():
    graph = _graph()
    # a package's __init__ is imported whenever one of its modules is; count only real edges
    state: dict[str, int] = defaultdict(int)
    circles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in graph.get(node, ()):
            if dep == node or node.startswith(dep + "."):
                continue  # a module importing its own package
            if state[dep] == 1:
                circles.append(path[path.index(dep):] + [dep] if dep in path else [node, dep])
            elif state[dep] == 0:
                visit(dep, path + [dep])
        state[node] = 2

    for m in sorted(graph):
        if state[m] == 0:
            visit(m, [m])
    assert not circles, "import circles:\n" + "\n".join(" -> ".join(c) for c in circles)


def test_the_command_line_goes_through_the_api_only():
    for path in (ROOT / "cli").glob("*.py"):
        for dep in _imports(path):
            assert dep in ("talkrig", "talkrig.api", "talkrig.errors", "talkrig.cli") or \
                dep.startswith(("talkrig.errors.", "talkrig.cli.", "talkrig.server.")), f"{path.name} imports {dep}"


def test_the_server_goes_through_the_api_only():
    for path in (ROOT / "server").glob("*.py"):
        for dep in _imports(path):
            assert dep in ("talkrig", "talkrig.api", "talkrig.errors", "talkrig.server") or \
                dep.startswith(("talkrig.errors.", "talkrig.server.")), f"{path.name} imports {dep}"


@pytest.mark.parametrize("module", ["talkrig", "talkrig.api", "talkrig.cli.main", "talkrig.server.app"])
def test_importing_talkrig_changes_no_environment_and_loads_no_torch(module):
    code = ("import os, sys; before = dict(os.environ); import " + module + "; "
            "changed = sorted(k for k in set(before) | set(os.environ) if before.get(k) != os.environ.get(k)); "
            "print(changed, 'torch' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=120, check=True).stdout.strip()
    assert out == "[] False", out
