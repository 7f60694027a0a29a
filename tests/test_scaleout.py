"""Scale-out through joblib backends: a real Dask LocalCluster, and a sweep that survives a killed worker."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from zslbench.records import iter_records
from zslbench.sweep import make_specs, plan, run_specs

STABLE = ("run_id", "status", "spec", "selected_hparams", "metrics", "per_class", "curve", "validation")


def _stable(rec):
    out = {k: rec.get(k) for k in STABLE}
    out["validation"] = {k: v for k, v in (out["validation"] or {}).items() if k != "seconds"}
    return json.dumps(out, sort_keys=True)


def test_dask_local_cluster_gives_the_same_records_as_a_local_run(tmp_path):
    pytest.importorskip("dask.distributed")
    specs = make_specs(["random", "ridge_v2s"], ["synth-tiny"], [0, 1])
    run_specs(specs, results_dir=tmp_path / "local", progress=False)
    out = run_specs(specs, results_dir=tmp_path / "dask", jobs=2, backend="dask", progress=False)
    assert sorted(r["status"] for r in out) == ["ok"] * 4
    local = {r["run_id"]: _stable(r) for _, r in iter_records(tmp_path / "local")}
    dask = {r["run_id"]: _stable(r) for _, r in iter_records(tmp_path / "dask")}
    assert local.keys() == dask.keys() and len(local) == 4
    assert local == dask


def test_dask_scheduler_address_is_used(tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, host="127.0.0.1",
                                  dashboard_address=None, processes=True) as cluster:
        specs = make_specs(["ridge_v2s"], ["synth-tiny"], [0])
        out = run_specs(specs, results_dir=tmp_path, jobs=1, backend="dask", scheduler=cluster.scheduler_address,
                        progress=False)
        assert [r["status"] for r in out] == ["ok"]


def _children(pid):
    psutil = pytest.importorskip("psutil")
    return psutil.Process(pid).children(recursive=True)


def test_killed_worker_then_rerun_completes_only_the_missing_runs(tmp_path):
    seeds = [str(s) for s in range(16)]
    cmd = [sys.executable, "-m", "zslbench.cli", "run", "-m", "ridge_v2s", "-d", "synth-tiny", "--seeds", *seeds,
           "--jobs", "2", "--results", str(tmp_path)]
    env = {**os.environ, "ZSLBENCH_PROGRESS": "0"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    runs = tmp_path / "runs"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(runs.glob("*/*/*.json"))) < 2:
        time.sleep(0.05)
    workers = [c for c in _children(proc.pid) if "python" in c.name().lower()]
    assert workers, "no worker process found"
    for w in workers:
        w.send_signal(signal.SIGKILL)  # a worker dies mid-sweep
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)  # and then the whole sweep
    proc.wait(timeout=30)

    done_before = {p: p.stat().st_mtime_ns for p in runs.glob("*/*/*.json")}
    assert 0 < len(done_before) < 16, f"expected a partial sweep, got {len(done_before)} records"
    for p in done_before:  # every record on disk is complete
        json.loads(p.read_text())
    specs = make_specs(["ridge_v2s"], ["synth-tiny"], [int(s) for s in seeds])
    missing = plan(specs, tmp_path).todo
    assert len(missing) == 16 - len(done_before)

    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"{len(missing)} to run, {len(done_before)} already done" in out.stdout
    after = list(runs.glob("*/*/*.json"))
    assert len(after) == 16
    assert all(p.stat().st_mtime_ns == t for p, t in done_before.items())  # finished runs untouched


def test_sigterm_stops_the_sweep_and_its_workers(tmp_path):
    """A terminated sweep must not leave loky workers behind to finish (and record) their runs."""
    psutil = pytest.importorskip("psutil")
    cmd = [sys.executable, "-m", "zslbench.cli", "run", "-m", "cada_vae", "-d", "synth-tiny", "--seeds", "0", "1",
           "--set", "epochs=5000", "--jobs", "2", "--results", str(tmp_path)]  # runs of minutes each
    env = {**os.environ, "ZSLBENCH_PROGRESS": "0"}
    log = tmp_path / "sweep.log"  # a file, not a pipe: orphaned workers would hold a pipe open
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.time() + 120
        workers = []
        while time.time() < deadline and len(workers) < 2:
            workers = [c for c in _children(proc.pid) if "LokyProcess" in " ".join(c.cmdline())]
            time.sleep(0.1)
        assert len(workers) == 2, "the sweep did not start its two workers"
        time.sleep(3)  # let them get into their runs
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        assert proc.returncode == 130, log.read_text()
        assert "re-run the same command to resume" in log.read_text()
        _, alive = psutil.wait_procs(workers, timeout=30)
        assert not alive, f"workers still running after SIGTERM: {[p.pid for p in alive]}"
        assert not list((tmp_path / "runs").glob("*/*/*.json"))  # the killed runs left no records
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_sigkill_mid_sweep_then_resume_gives_the_records_of_an_uninterrupted_run(tmp_path):
    """kill -9 of a sweep at a random point, then the same command: the records equal those of a sweep
    that was never interrupted (every field that does not measure time or the machine)."""
    seeds = [str(s) for s in range(8)]
    cmd = [sys.executable, "-m", "zslbench.cli", "run", "-m", "ridge_v2s", "random", "-d", "synth-tiny",
           "--seeds", *seeds, "--results"]
    env = {**os.environ, "ZSLBENCH_PROGRESS": "0", "ZSLBENCH_THREADS": "1"}
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    subprocess.run([*cmd, str(whole)], capture_output=True, env=env, timeout=300, check=True)

    proc = subprocess.Popen([*cmd, str(killed)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                            start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(killed.glob("runs/*/*/*.json"))) < 3:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    n_before = len(list(killed.glob("runs/*/*/*.json")))
    assert 0 < n_before < 16, f"expected a partial sweep, got {n_before} records"

    out = subprocess.run([*cmd, str(killed)], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"{16 - n_before} to run, {n_before} already done" in out.stdout
    expected = {r["run_id"]: _stable(r) for _, r in iter_records(whole)}
    resumed = {r["run_id"]: _stable(r) for _, r in iter_records(killed)}
    assert len(expected) == 16 and resumed == expected
