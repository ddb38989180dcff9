"""Measure the bundle: every solution notebook, every NESTML module, `make test`.

    .venv/bin/python benchmarks/run_benchmarks.py [--repeats 3] [--skip-make-test]

Writes benchmarks/RESULTS.md. Not a test: machines are noisy, so figures are medians
over repeats (notebooks) and are compared with the reference figures of the upstream
materials measured on this kind of machine (docs/science-notes.md) as ratios, not asserted.
Run it on an otherwise idle machine: NEST's threads busy-wait.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from nest_workshop.core import nestml
from nest_workshop.core.kernel import available_cores
from nest_workshop.core.nestml import MANIFEST_NAME, read_manifest
from nest_workshop.tools import exercises, notebook_runner

ROOT = Path(__file__).resolve().parents[1]
MATERIALS = ROOT / "materials"

# Reference figures of the upstream materials on this kind of machine (docs/science-notes.md):
# (what, wall seconds, peak GB, the result it reached)
REFERENCES = {
    "eprop/01_pattern_generation_solution.ipynb": (
        "NEST e-prop sine-wave regression, 200 iterations",
        56.0,
        0.33,
        "loss 107.7 -> 75.7",
    ),
    "eprop/02_evidence_accumulation_solution.ipynb": (
        "NEST e-prop evidence accumulation, 50 iterations, 2 threads",
        306.0,
        3.5,
        "test error 0.25",
    ),
    "astrocytes/02_pools_and_network_solution.ipynb": (
        "NEST astrocyte Brunel network, fixed in-degree (one run)",
        129.0,
        1.9,
        "-",
    ),
    "sequence_learning/02_learning_and_replay_solution.ipynb": (
        "NESTML sequence-learning tutorial as published",
        257.0,
        5.4,
        "does not learn",
    ),
}
TRAINING = {
    "eprop/01_pattern_generation_solution.ipynb",
    "eprop/02_evidence_accumulation_solution.ipynb",
    "sequence_learning/02_learning_and_replay_solution.ipynb",
}


def bench_notebooks(repeats: int) -> list[str]:
    rows = [
        "| notebook | result | wall (s), median | runs | peak memory (GB) | target | reference | ratio (time) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for solution in exercises.find_solutions(MATERIALS):
        name = str(solution.relative_to(MATERIALS))
        runs = [notebook_runner.run_notebook(solution)]
        # short notebooks vary with the machine's mood: take a median
        while runs[-1].passed and runs[-1].wall_s < 120 and len(runs) < repeats:
            runs.append(notebook_runner.run_notebook(solution))
        wall = statistics.median(r.wall_s for r in runs)
        peak = max(r.peak_memory_gb for r in runs)
        result = "pass" if all(r.passed for r in runs) else "FAIL " + next(r.error for r in runs if not r.passed)
        target = 180 if name in TRAINING else 60
        met = "met" if wall < target and peak < 1.0 else "MISSED"
        reference = REFERENCES.get(name)
        ref_text = f"{reference[0]}: {reference[1]:.0f} s, {reference[2]} GB ({reference[3]})" if reference else "-"
        ratio = f"{wall / reference[1]:.2f}" if reference else "-"
        rows.append(
            f"| {name} | {result} | {wall:.1f} | {len(runs)} | {peak:.2f} | < {target} s, < 1 GB: {met} | {ref_text} | {ratio} |"
        )
        print(rows[-1], flush=True)
    return rows


def bench_nestml() -> list[str]:
    rows = ["| module | code generation (s) | compilation (s) | cached load (s), median of 5 |", "|---|---|---|---|"]
    for manifest in sorted(MATERIALS.rglob(MANIFEST_NAME)):
        for spec in read_manifest(manifest):
            label = f"{manifest.parent.name}: {', '.join(Path(s).name for s in spec['sources'])}"
            with tempfile.TemporaryDirectory() as cache:
                built = nestml.build(**spec, cache_dir=cache, load=False)
                loads = []
                for _ in range(5):
                    code = (
                        "import time, sys; from nest_workshop import reset_kernel; from nest_workshop.core import nestml; "
                        "reset_kernel(threads=1); "
                        "t = time.perf_counter(); m = nestml.build(**eval(sys.argv[1]), cache_dir=sys.argv[2]); "
                        "assert not m.built; print(time.perf_counter() - t)"
                    )
                    out = subprocess.run(
                        [sys.executable, "-c", code, repr(spec), cache], capture_output=True, text=True, check=True
                    )
                    loads.append(float(out.stdout.strip().splitlines()[-1]))
            rows.append(
                f"| {label} | {built.timings['codegen_s']:.1f} | {built.timings['compile_s']:.1f} | "
                f"{statistics.median(loads):.3f} |"
            )
            print(rows[-1], flush=True)
    return rows


def bench_make_test() -> list[str]:
    """`make test` on a fresh clone of the committed main: cold (new venv, new NESTML
    cache), then warm (second run). pip's download cache is left as it is."""
    rows = ["| run | wall (s) |", "|---|---|"]
    with tempfile.TemporaryDirectory() as folder:
        clone = Path(folder) / "clone"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        env = {**os.environ, "NEST_WORKSHOP_CACHE": str(clone / ".nestml-cache")}
        for label in ("cold (fresh clone: set-up, NESTML builds, all tests)", "warm (second run)"):
            started = time.perf_counter()
            proc = subprocess.run(["make", "test"], cwd=clone, env=env, capture_output=True, text=True)
            wall = time.perf_counter() - started
            status = "" if proc.returncode == 0 else f" (FAILED: {proc.stdout.strip().splitlines()[-1]})"
            rows.append(f"| {label}{status} | {wall:.0f} |")
            print(rows[-1], flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs of notebooks shorter than 2 minutes (median)")
    parser.add_argument("--skip-make-test", action="store_true")
    args = parser.parse_args()
    compiler = shutil.which("g++") or "g++"
    machine = (
        f"{available_cores()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}, {nestml._compiler_version(compiler)}"
    )
    lines = [
        "# Benchmark results",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on {machine}, with `{' '.join(['benchmarks/run_benchmarks.py'] + sys.argv[1:])}`.",
        "",
        "## Notebooks (solution versions, fresh kernel each, default configuration)",
        "",
    ]
    lines += bench_notebooks(args.repeats)
    lines += ["", "## NESTML modules (cold build into an empty cache; cached load in a new process)", ""]
    lines += bench_nestml()
    if not args.skip_make_test:
        lines += ["", "## `make test`", ""]
        lines += bench_make_test()
    (Path(__file__).with_name("RESULTS.md")).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
