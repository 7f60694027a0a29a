"""What a run record says about where and how it ran: peak memory, CPU time and load, library versions,
git revision."""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import zslbench


class PeakMemory:
    """Peak resident memory (MiB) of this process while the block runs, sampled every 20 ms."""

    def __enter__(self) -> "PeakMemory":
        self.peak_mb = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(0.02):
            self.peak_mb = max(self.peak_mb, self._rss())

    @staticmethod
    def _rss() -> float:
        try:
            with open("/proc/self/statm") as fh:
                return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
        except OSError:  # not Linux: the process high-water mark is the best we have
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, self._rss())


@lru_cache(maxsize=1)
def provenance_static() -> dict[str, Any]:
    import importlib.metadata as md

    libs = {}
    for name in ("numpy", "scipy", "scikit-learn", "torch", "pandas", "joblib", "h5py"):
        try:
            libs[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    return {
        "zslbench_version": zslbench.__version__,
        "git_revision": git_revision(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_identity(),
        "libraries": libs,
    }


def cpu_identity() -> dict[str, str | None]:
    """The CPU model and the instruction set torch's kernels dispatch to (e.g. "AVX512").

    Float results of the same code and libraries differ between CPUs whose BLAS and vector kernels
    differ, so a record says which CPU made it.
    """
    model = None
    try:
        with open("/proc/cpuinfo") as fh:
            model = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), None)
    except OSError:
        pass
    try:
        import torch

        capability = torch.backends.cpu.get_cpu_capability()
    except (ImportError, AttributeError):
        capability = None
    return {"model": model or platform.processor() or None, "torch_capability": capability}


def mixed_checkout_problem() -> str | None:
    """Why this process would run one checkout's harness with another's methods (None when it would not).

    ``zslbench.methods`` is the top-level ``methods/`` beside ``zslbench/`` in a checkout (editable install)
    and ``zslbench/methods`` in an installed wheel. PYTHONPATH naming a second checkout over an editable
    install of the first imports ``zslbench`` from the second and its methods from the first; a record
    made so would name only the second's git revision.
    """
    import zslbench.methods as methods_package

    package = Path(zslbench.__file__).resolve().parent
    methods = Path(methods_package.__file__).resolve().parent
    if methods in (package / "methods", package.parent / "methods"):
        return None
    return (f"zslbench is imported from {package} but its methods from {methods}: two checkouts (PYTHONPATH "
            f"over an editable install?); install the checkout you run (pip install -e .) or drop PYTHONPATH")


def git_revision() -> str | None:
    """HEAD of the checkout the package runs from, with "-dirty" when tracked files are modified."""
    root = Path(zslbench.__file__).resolve().parents[1]
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return rev + ("-dirty" if dirty else "")


def cpu_context(cpu_seconds: float) -> dict[str, Any]:
    """What a run's wall times mean on this machine: its CPU time, thread count and the machine's load.

    ``cpu_seconds`` is the CPU time of the process that ran the spec (all its threads). With
    ``torch_threads`` threads and no contention, total_seconds is roughly cpu_seconds / torch_threads;
    a much larger wall time, or a ``load_average`` above ``cpu_count``, means the run shared the CPU
    (parallel jobs) and its wall times overstate its cost.
    """
    import torch

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"cpu_seconds": cpu_seconds, "torch_threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(), "load_average": load}
