"""Measure the compute a participant waits for, cell by cell: the figures behind the day's schedule.

    .venv/bin/python benchmarks/session_compute.py [PART ...]

For every notebook `materials/schedule.toml` lists (of the given parts, or all), runs the
solution notebook top to bottom in a fresh kernel at the default thread count (this
machine's cores, unless NEST_WORKSHOP_THREADS says otherwise) and records each code cell's
wall time, keyed by its code (`schedule.code_key`: a reworded comment keeps the figure, a
changed line needs a new one). For a part whose notebook has a cell tagged
`nestml-exercise-build` (the participant builds their edited model), it also times a cold
build of the part's NESTML module into an empty cache: what a participant whose text differs
from the shipped model waits for.

Writes benchmarks/results/session_compute.json (figures of other parts are kept), which
`nest-workshop schedule` and tests/test_schedule.py read. NEST's threads busy-wait: run it
on an otherwise idle machine. The notebooks' NESTML modules should be cached (`make build`),
as they are on a participant's machine before the day.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import nbformat

from nest_workshop.core import nestml
from nest_workshop.core.kernel import available_cores
from nest_workshop.core.nestml import MANIFEST_NAME, read_manifest
from nest_workshop.tools import notebook_runner, schedule

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / schedule.COMPUTE_FILE


def measure_notebook(path: Path) -> dict[str, float]:
    run = notebook_runner.run_notebook(path)
    if not run.passed:
        raise SystemExit(f"{path.name} failed ({run.error}): fix it before measuring")
    nb = nbformat.read(path, as_version=4)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    # the runner times every cell (Markdown ones in microseconds); keep the code cells'
    times = defaultdict(list)
    for cell, seconds in zip(nb.cells, run.cell_seconds):
        if cell.cell_type == "code":
            times[schedule.code_key(cell.source)].append(seconds)
    assert sum(len(v) for v in times.values()) == len(code_cells)
    print(f"  {path.relative_to(ROOT / 'materials')}: {run.wall_s:.1f} s in all")
    return {key: round(statistics.mean(values), 2) for key, values in times.items()}


def cold_build_s(part: str) -> float:
    manifest = ROOT / "materials" / part / MANIFEST_NAME
    modules = read_manifest(manifest)
    if len(modules) != 1:
        raise SystemExit(f"{manifest}: a part with a {schedule.BUILD_TAG} cell must build exactly one module")
    with tempfile.TemporaryDirectory() as cache:
        started = time.perf_counter()
        module = nestml.build(**modules[0], load=False, cache_dir=cache)
        wall = time.perf_counter() - started
    assert module.built
    print(f"  {part}: cold build of its NESTML module {wall:.1f} s")
    return round(wall, 1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="*", help="parts to measure (default: all)")
    args = parser.parse_args(argv)
    day = schedule.load_day(ROOT)
    parts = args.parts or [p.part for p in day.parts]
    data = schedule.load_compute(ROOT)
    data.setdefault("notebooks", {})
    data.setdefault("builds", {})
    data.setdefault("runs", {})
    for name in parts:
        part = day.part(name)
        print(f"{name}:")
        for nb in part.notebooks:
            data["notebooks"][str(nb.path.relative_to(ROOT / "materials"))] = measure_notebook(nb.path)
        tagged = any(
            schedule.BUILD_TAG in c.metadata.get("tags", [])
            for nb in part.notebooks
            for c in nbformat.read(nb.path, as_version=4).cells
        )
        if tagged:
            data["builds"][name] = cold_build_s(name)
        else:
            data["builds"].pop(name, None)
        data["runs"][name] = {
            "measured": time.strftime("%Y-%m-%d"),
            "machine": f"{platform.machine()}, {available_cores()} cores, Python {platform.python_version()}",
            "threads": os.environ.get("NEST_WORKSHOP_THREADS", "default (the machine's cores)"),
        }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
