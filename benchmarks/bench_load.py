"""Time and peak memory of loading a CUB-sized res101.mat (2048 x 11,788 float32), MATLAB v5 vs v7.3.

The files are built in a temporary folder from the real CUB labels and split file
(``../shared/data/xlsa17/CUB``) with random features, then loaded with the suite's loader.

    python benchmarks/bench_load.py [--repeats 3] [--dtype float32|float64]

Reports, per version: file size, the time to hash the files (first identity, then cached), the time of
``read_features`` alone and of the whole ``load_xlsa17`` (hashes cached), and the peak of Python-tracked
allocations (tracemalloc; numpy and h5py buffers are included) during a full load.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

SHARED_CUB = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "xlsa17" / "CUB"


def build(folder: Path, version: str, dtype: str) -> Path:
    from zslbench.data.xlsa17 import read_mat, write_mat

    meta = read_mat(SHARED_CUB / "res101_labels.mat", ["labels", "image_files"])
    n = meta["labels"].size
    rng = np.random.default_rng(0)
    features = rng.random((2048, n), dtype=np.float32).astype(dtype)
    folder.mkdir(parents=True)
    write_mat(folder / "res101.mat", {"features": features, "labels": meta["labels"],
                                      "image_files": meta["image_files"]}, version=version)
    if version == "v5":
        shutil.copyfile(SHARED_CUB / "att_splits.mat", folder / "att_splits.mat")
    else:
        write_mat(folder / "att_splits.mat", read_mat(SHARED_CUB / "att_splits.mat"), version=version)
    return folder


def measure(folder: Path, repeats: int) -> dict[str, float]:
    from zslbench.data import xlsa17

    t0 = time.perf_counter()
    files = xlsa17.resolve_files(folder, name="CUB")
    files.identity()
    hash_first = time.perf_counter() - t0
    t0 = time.perf_counter()
    files.identity()
    hash_cached = time.perf_counter() - t0
    feats, loads = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        X = xlsa17.read_features(folder / "res101.mat", n_expected=11788)
        feats.append(time.perf_counter() - t0)
        del X
        t0 = time.perf_counter()
        ds = xlsa17.load_xlsa17(folder, name="CUB")
        loads.append(time.perf_counter() - t0)
        del ds
    tracemalloc.start()
    ds = xlsa17.load_xlsa17(folder, name="CUB")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    result_mb = ds.features.nbytes / 2**20
    del ds
    return {
        "file_mb": (folder / "res101.mat").stat().st_size / 2**20,
        "hash_first_s": hash_first,
        "hash_cached_s": hash_cached,
        "read_features_s": statistics.median(feats),
        "load_s": statistics.median(loads),
        "peak_mb": peak / 2**20,
        "features_mb": result_mb,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    args = parser.parse_args()
    if not SHARED_CUB.is_dir():
        raise SystemExit(f"{SHARED_CUB} is absent: the benchmark needs the real CUB labels")
    rows = []
    with tempfile.TemporaryDirectory(prefix="zslbench-bench-") as tmp:
        for version in ("v5", "v7.3"):
            t0 = time.perf_counter()
            folder = build(Path(tmp) / version.replace(".", ""), version, args.dtype)
            build_s = time.perf_counter() - t0
            rows.append((version, build_s, measure(folder, args.repeats)))
            shutil.rmtree(folder)
    from tabulate import tabulate

    print(f"CUB-sized res101.mat: 2048 x 11788 {args.dtype}, median of {args.repeats} loads")
    print(tabulate(
        [[v, f"{m['file_mb']:.0f}", f"{b:.1f}", f"{m['hash_first_s']:.2f}", f"{m['hash_cached_s'] * 1e3:.2f}",
          f"{m['read_features_s']:.2f}", f"{m['load_s']:.2f}", f"{m['peak_mb']:.0f}", f"{m['features_mb']:.0f}"]
         for v, b, m in rows],
        headers=["format", "file MB", "build s", "sha256 s", "cached id ms", "read_features s", "load s",
                 "peak MB", "result MB"],
    ))


if __name__ == "__main__":
    main()
