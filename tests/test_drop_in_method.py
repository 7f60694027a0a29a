"""Adding a method is one file: drop it into a copy of methods/, point ZSLBENCH_METHODS_DIR there, and it
runs, appears in a report table with its own label and passes the regression check - with no other file
of the package touched."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import zslbench.methods

REPO = Path(__file__).resolve().parents[1]

NEW_METHOD = '''"""A method added by dropping this one file into a copy of methods/."""

from __future__ import annotations

import numpy as np

from zslbench.method import Method, Param, TrainView
from zslbench.registry import register_method


@register_method("drop_in_prototypes")
class DropInPrototypes(Method):
    """Seen-class feature means (S, d) mapped from descriptors by ridge; cosine to predicted prototypes."""

    label = "Drop-in prototypes"
    family = "linear"

    version = 1
    access = "inductive"
    space = {"alpha": Param(1.0, low=1e-3, high=1e3, log=True, help="ridge penalty")}
    test_params = {"alpha": 1.0}

    def fit(self, view: TrainView, *, rng: np.random.Generator) -> "DropInPrototypes":
        means = np.stack([view.features[view.labels == c].mean(axis=0) for c in view.seen])
        A = view.descriptors[view.seen]
        W = np.linalg.solve(A.T @ A + self.alpha * np.eye(A.shape[1]), A.T @ means)
        protos = view.descriptors @ W
        self.protos_ = protos / (np.linalg.norm(protos, axis=1, keepdims=True) + 1e-12)
        return self

    def scores(self, X: np.ndarray, classes: np.ndarray) -> np.ndarray:
        Xn = X / (np.linalg.norm(X, axis=1, keepdims=True) + 1e-12)
        return Xn @ self.protos_[classes].T
'''


def _tree_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*.py")):
        h.update(str(path.relative_to(folder)).encode() + path.read_bytes())
    return h.hexdigest()


def _zslbench(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    script = Path(sys.executable).with_name("zslbench")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "zslbench.cli"]
    return subprocess.run(cmd + args, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)


def test_a_method_file_dropped_into_a_copy_of_methods_runs_reports_and_passes_the_check(tmp_path):
    installed = Path(zslbench.methods.__file__).parent
    baseline = REPO / "results" / "baseline.json"
    before = (_tree_digest(installed), baseline.read_bytes())

    folder = tmp_path / "my_methods"
    shutil.copytree(installed, folder, ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "drop_in.py").write_text(NEW_METHOD, encoding="utf-8")
    env = {**os.environ, "ZSLBENCH_METHODS_DIR": str(folder), "ZSLBENCH_THREADS": "1", "ZSLBENCH_PROGRESS": "0"}

    listed = _zslbench(["ls", "methods"], env, tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "drop_in_prototypes" in listed.stdout and "icis" in listed.stdout  # the copies still register

    results = tmp_path / "results"
    ran = _zslbench(["run", "-m", "drop_in_prototypes", "-d", "synth-tiny", "--seeds", "0",
                     "--results", str(results)], env, tmp_path)
    assert ran.returncode == 0, ran.stderr
    [path] = (results / "runs" / "synth-tiny" / "drop_in_prototypes").glob("*.json")
    record = json.loads(path.read_text())
    assert record["status"] == "ok" and record["method_meta"]["label"] == "Drop-in prototypes"

    table = _zslbench(["report", "--results", str(results), "--layout", "gbu"], env, tmp_path)
    assert table.returncode == 0, table.stderr
    row = next(line for line in table.stdout.splitlines() if line.startswith("| Drop-in prototypes"))
    assert any(ch.isdigit() for ch in row.split("|")[3])  # a number in its first cell, not a dash

    # The report needs no registry: without the env var the method is unknown, yet the label stays.
    plain = {k: v for k, v in env.items() if k != "ZSLBENCH_METHODS_DIR"}
    table_plain = _zslbench(["report", "--results", str(results), "--layout", "gbu"], plain, tmp_path)
    assert "| Drop-in prototypes" in table_plain.stdout

    checked = _zslbench(["check", "--baseline", str(baseline), "-m", "drop_in_prototypes",
                         "--results", str(tmp_path / "check")], env, tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "PASSED" in checked.stdout
    assert "new" in checked.stdout and "drop_in_prototypes" in checked.stdout  # reported, not failing

    assert (_tree_digest(installed), baseline.read_bytes()) == before  # no other file touched


def test_a_methods_dir_that_is_not_a_folder_is_one_clear_error(tmp_path):
    env = {**os.environ, "ZSLBENCH_METHODS_DIR": str(tmp_path / "nowhere")}
    out = _zslbench(["ls", "methods"], env, tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [f"zslbench: error: ZSLBENCH_METHODS_DIR={tmp_path / 'nowhere'}: "
                                               "not a folder of method files"]
