"""One-off migration: add the ``method_meta`` block to records written before the runner recorded it.

    .venv/bin/python results/add_method_meta.py results        # every record under results/runs

For each record without ``method_meta``, the block (:meth:`zslbench.method.Method.report_meta` of the
registered method) is inserted after ``synthetic``, where the runner puts it; nothing else changes: the
script first checks that re-writing the record as read gives back its exact bytes, and leaves any file
for which it does not (or whose method is not registered) untouched, saying so. Run ids are the hash of
``spec``, which is not touched. Safe to re-run: records that have the block are skipped.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from zslbench.records import record_files, write_atomically
from zslbench.registry import METHODS, RegistryError


def _dump(record: dict) -> bytes:
    return json.dumps(record, indent=1, sort_keys=False, allow_nan=False).encode()


def migrate(results_dir: Path) -> tuple[int, int, list[str]]:
    """(records changed, records already with the block, problems)."""
    changed, had, problems = 0, 0, []
    for path in record_files(results_dir):
        raw = path.read_bytes()
        record = json.loads(raw)
        if "method_meta" in record:
            had += 1
            continue
        if _dump(record) != raw:
            problems.append(f"{path}: not byte-identical when re-written as read; left as it is")
            continue
        try:
            meta = METHODS.get(record["spec"]["method"]).report_meta()
        except RegistryError as exc:
            problems.append(f"{path}: {exc}; left as it is")
            continue
        out: dict = {}
        for key, value in record.items():
            out[key] = value
            if key == "synthetic":
                out["method_meta"] = meta
        out.setdefault("method_meta", meta)
        write_atomically(path, _dump(out))
        changed += 1
    return changed, had, problems


if __name__ == "__main__":
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "results")
    n, had, problems = migrate(root)
    for line in problems:
        print(line, file=sys.stderr)
    print(f"{n} record(s) given a method_meta block; {had} had one; {len(problems)} left untouched")
    sys.exit(1 if problems else 0)
