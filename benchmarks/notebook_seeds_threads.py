"""Run a solution notebook at several thread counts and seeds; record its self-checks.

NEST draws a different random network for each number of virtual processes, so a
participant with 4 or 8 cores runs another network than CI does; and a check that holds
for one seed may fail for the next. This script executes the notebook itself (not a copy
of its cells): every `seed=1` (and a line `SEED = 1` or `seed = 1`, the parameters cell's) in its code cells becomes `seed=S` (kernel, task and
trainer seeds alike; other seeds, such as the held-out trials' `seed=1000`, stay), and
NEST_WORKSHOP_THREADS sets the threads. Each self-check line the notebook prints is
kept, with its measured value, and a run that raises is recorded with its error. The
wall time and peak memory (this process and the kernel) of the core path (the cells
before the first "Going further" heading) and of the whole notebook are recorded too;
the first cells include the kernel's start and NEST's import.

More threads than cores busy-wait badly; OMP_WAIT_POLICY=passive (set here for the
kernels when threads outnumber cores) keeps such runs fast without changing a spike.

    .venv/bin/python benchmarks/notebook_seeds_threads.py materials/eprop/01_pattern_generation_solution.ipynb \\
        [--threads 1 2 4 8] [--seeds 1 2 3]

Results: benchmarks/results/<notebook stem>_seeds_threads.json and .md.
"""

import argparse
import json
import os
import re
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from nest_workshop.core.kernel import available_cores
from nest_workshop.tools.notebook_runner import TreeMemoryMonitor

RESULTS = Path(__file__).with_name("results")
CHECK = re.compile(r"^(✔|✘)( NOT TRUE that)? (?P<claim>[^:]+): (?P<evidence>.*)$")
NUMBER = re.compile(r"(?P<name>.+?) (?P<value>-?[0-9.]+(?:e[-+]?[0-9]+)?)( %| \S+)? (?P<op><|>|≤|≥|within|between|lies|vs)")
FURTHER = re.compile(r"^#+ .*Going further", re.M)


def with_seed(notebook, seed: int):
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.source = re.sub(r"\bseed=1\b", f"seed={seed}", cell.source)
            cell.source = re.sub(r"^(SEED|seed) = 1\b", rf"\g<1> = {seed}", cell.source, flags=re.M)
    return notebook


def run(path: Path, threads: int, seed: int) -> dict:
    notebook = with_seed(nbformat.read(path, as_version=4), seed)
    os.environ["NEST_WORKSHOP_THREADS"] = str(threads)  # the kernel inherits this process's environment
    # Passive waiting only where threads outnumber cores: there it saves much time; with
    # no more threads than cores, OpenMP's default (active) waiting is faster.
    if threads > available_cores():
        os.environ["OMP_WAIT_POLICY"] = "passive"
    else:
        os.environ.pop("OMP_WAIT_POLICY", None)
    # The core path ends where the first "Going further" heading starts.
    further = next(
        (i for i, c in enumerate(notebook.cells) if c.cell_type == "markdown" and FURTHER.search(c.source)),
        len(notebook.cells),
    )
    core = {}
    monitor = TreeMemoryMonitor(os.getpid())  # this process and the kernel it starts

    def on_cell_start(cell, cell_index, **_):
        if cell_index > further and not core:
            core.update(core_s=time.perf_counter() - started, core_peak_gb=monitor.peak_bytes / 1024**3)

    # allow_errors: a failed check is recorded and the notebook goes on to its other checks
    client = NotebookClient(
        notebook,
        timeout=3600,
        allow_errors=True,
        on_cell_start=on_cell_start,
        resources={"metadata": {"path": str(path.parent)}},
    )
    monitor.start()
    started = time.perf_counter()
    client.execute()
    monitor.stop()
    checks, errors = [], []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            text = output.get("text", "")
            if output.get("output_type") == "error":
                text = output["evalue"]
                if output["ename"] != "SelfCheckError":
                    errors.append(f"{output['ename']}: {output['evalue']}"[:300])
            for line in text.splitlines():
                match = CHECK.match(line.strip())
                if match:
                    value = NUMBER.match(match["evidence"])
                    checks.append(
                        {
                            "passed": line.startswith("✔"),
                            "claim": match["claim"],
                            "evidence": match["evidence"],
                            "value": float(value["value"]) if value else None,
                        }
                    )
    error = "; ".join(errors) or None
    wall = time.perf_counter() - started
    return {
        "threads": threads,
        "seed": seed,
        "wall_s": wall,
        "core_s": core.get("core_s", wall),
        "peak_gb": monitor.peak_bytes / 1024**3,
        "core_peak_gb": core.get("core_peak_gb", monitor.peak_bytes / 1024**3),
        "error": error,
        "checks": checks,
    }


def write(path: Path, rows: list[dict]):
    RESULTS.mkdir(exist_ok=True)
    stem = path.stem.replace("_solution", "")
    (RESULTS / f"{stem}_seeds_threads.json").write_text(json.dumps(rows, indent=1, ensure_ascii=False) + "\n")
    claims = list(dict.fromkeys(c["claim"] for row in rows for c in row["checks"]))
    lines = [
        f"# {path.parent.name}/{path.name}: self-checks by threads and seed",
        "",
        "Written by `benchmarks/notebook_seeds_threads.py`; values as the checks print them (✘ = failed).",
        "",
        "| threads | seed | " + " | ".join(claims) + " | core path (s) | whole (s) | peak memory, core (GB) | error |",
        "|---|---|" + "---|" * len(claims) + "---|---|---|---|",
    ]
    for row in rows:
        by_claim = {c["claim"]: c for c in row["checks"]}
        cells = []
        for claim in claims:
            check = by_claim.get(claim)
            if check is None:
                cells.append("–")
            else:
                text = f"{check['value']:.3g}" if check["value"] is not None else "ok"
                cells.append(text if check["passed"] else f"✘ {text}")
        lines.append(
            f"| {row['threads']} | {row['seed']} | "
            + " | ".join(cells)
            + f" | {row['core_s']:.0f} | {row['wall_s']:.0f} | {row['core_peak_gb']:.2f} | {row['error'] or ''} |"
        )
    (RESULTS / f"{stem}_seeds_threads.md").write_text("\n".join(lines) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    rows = []
    for threads in args.threads:
        for seed in args.seeds:
            row = run(args.notebook.resolve(), threads, seed)
            rows.append(row)
            failed = [c["claim"] for c in row["checks"] if not c["passed"]]
            print(
                f"threads {threads} seed {seed}: {len(row['checks'])} checks, failed {failed or 'none'}, "
                f"{row['wall_s']:.0f} s{', error: ' + row['error'] if row['error'] else ''}",
                flush=True,
            )
            write(args.notebook, rows)


if __name__ == "__main__":
    main()
