"""The report layer reads records only: it imports neither the registry, nor a method, nor the harness
that runs experiments; what it knows about a method comes from the records' ``method_meta``."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import zslbench.report

REPORT = Path(zslbench.report.__file__).parent
FORBIDDEN = ("zslbench.registry", "zslbench.methods", "zslbench.method", "zslbench.runner", "zslbench.sweep",
             "zslbench.check_suite")


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


def test_no_report_module_imports_the_registry_methods_or_the_harness():
    found = {(p.name, m) for p in REPORT.glob("*.py") for m in _imports(p)
             if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)}
    assert found == set()


def test_report_modules_stay_small():
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in REPORT.glob("*.py")}
    assert max(sizes.values()) <= 450, sizes


_SCRIPT = r"""
import sys
from zslbench.report.aggregate import load_results
from zslbench.report.leaderboard import build_leaderboard
from zslbench.report.published import load_published
from zslbench.report.render import render
from zslbench.report.reproduce import build_reproduction
from zslbench.report.tables import build_table

res = load_results(sys.argv[1])
table = build_table(res, published=load_published())
text = render(table, "md")
build_leaderboard(res)
build_reproduction(res, load_published())
assert "VGSE-WAvg" in text and "Sub.Reg." in text, text  # labels from records and from the paper rows
loaded = sorted(m for m in sys.modules if m.startswith(("zslbench.registry", "zslbench.methods", "zslbench.runner",
                                                         "zslbench.sweep")))
print(loaded)
"""


def test_tables_of_the_committed_records_are_built_without_loading_the_registry():
    results = Path(__file__).resolve().parents[1] / "results"
    out = subprocess.run([sys.executable, "-c", _SCRIPT, str(results)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "[]"
