"""The package's shape: no import cycle, method files import only the method contract, the registry, the
toolbox and each other, and no module grows past about 450 lines."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 450
OVER_THE_LIMIT: set[str] = set()
"""Modules allowed over MAX_LINES (none now; a file named here must say why)."""
METHOD_IMPORTS = {"zslbench.method", "zslbench.registry", "zslbench.toolbox"}


def _modules() -> dict[str, Path]:
    """Module name -> file, for zslbench/ and methods/ (installed as zslbench.methods)."""
    out = {}
    for base, package in ((ROOT / "zslbench", "zslbench"), (ROOT / "methods", "zslbench.methods")):
        for path in sorted(base.rglob("*.py")):
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join([package, *parts])] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package modules that ``name`` imports anywhere in its file (function-level imports included)."""
    is_package = path.name == "__init__.py"
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        out |= {t for t in targets if t in modules and t != name}
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_import_graph_has_no_cycle():
    graph = _graph()
    assert "zslbench.config" in graph and "zslbench.methods.gcn" in graph
    assert "zslbench.methods._class_graph" in graph["zslbench.methods.gcn"]  # the scan sees imports
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_methods_import_only_the_contract_the_registry_and_the_toolbox():
    bad = {}
    for name, deps in _graph().items():
        if name.startswith("zslbench.methods."):
            other = {d for d in deps if d not in METHOD_IMPORTS and not d.startswith("zslbench.methods")}
            if other:
                bad[name] = sorted(other)
    assert bad == {}


def test_no_module_is_over_the_size_limit():
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in _modules().values()}
    over = {f: n for f, n in sizes.items() if n > MAX_LINES and f not in OVER_THE_LIMIT}
    assert over == {}, f"split these along their seams (limit {MAX_LINES} lines)"
    back_under = sorted(f for f in OVER_THE_LIMIT if f in sizes and sizes[f] <= MAX_LINES)
    assert back_under == [], "under the limit now: remove them from OVER_THE_LIMIT"
