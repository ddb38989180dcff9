"""Load test of a workshop room (``nest-workshop hub``) on loopback: N participants at once.

For each N (default 1, 2, 4, 8) a room is started for N expected participants (so each
gets the fair share an organiser would give: NEST threads = cores / N), and N simulated
participants (:mod:`nest_workshop.tools.hub_client`) at the same moment sign in through
the proxy over HTTP, start their servers, open a kernel on their copy of the first-steps
notebook and run it, then run the core path of a network notebook (default astrocytes
02, the day's largest in memory: the cells before its "Going further" heading), as *Run
All* would. Recorded per participant: sign-in to the first cell's answer, each
notebook's time, the peak memory of all their processes (server and kernel, sampled
every 0.5 s), and any failure (a cell that raised, a step refused). The room is stopped
and its participants removed after each N.

Bounded: 127.0.0.1 only, N participants, each cell at most --cell-timeout seconds; the
room is stopped when a stage ends or fails. Runs as root (the room makes system users).

    sudo .venv/bin/python benchmarks/hub_load.py [--participants 1 2 4 8] \\
        [--network materials/astrocytes/02_pools_and_network_solution.ipynb]

Results: benchmarks/results/hub_load_<network notebook>.json and .md. The shared cache (the shipped models,
built once) is kept in build/hub-cache between runs, as `make hub` keeps it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import psutil

from nest_workshop.tools import hub
from nest_workshop.tools.hub_client import Participant, running_room

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).with_name("results")
FIRST_STEPS = ROOT / "materials" / "introduction" / "01_first_steps_solution.ipynb"
FURTHER = re.compile(r"^#+ .*Going further", re.M)


def core_cells(path: Path) -> list[str]:
    """The code cells before the notebook's first "Going further" heading."""
    cells = []
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "markdown" and FURTHER.search(cell.source):
            break
        if cell.cell_type == "code":
            cells.append(cell.source)
    return cells


def workspace_path(solution: Path) -> str:
    """The participant's copy of a solution notebook, relative to ~/nest-workshop."""
    return f"workspace/{solution.parent.name}/{solution.name.replace('_solution', '')}"


class MemorySampler(threading.Thread):
    """Peak resident memory of all processes of each user, sampled every 0.5 s."""

    def __init__(self, names):
        super().__init__(daemon=True)
        self.names = set(names)
        self.peak = dict.fromkeys(names, 0)
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            totals = dict.fromkeys(self.names, 0)
            for process in psutil.process_iter(["username", "memory_info"]):
                name = process.info["username"]
                if name in totals and process.info["memory_info"] is not None:
                    totals[name] += process.info["memory_info"].rss
            for name, total in totals.items():
                self.peak[name] = max(self.peak[name], total)
            self.done.wait(0.5)


def one_participant(url: str, code: str, name: str, notebooks, cell_timeout: float) -> dict:
    record = {"name": name, "failures": []}
    person = Participant(url, name, secrets.token_urlsafe(10), code)
    started = time.perf_counter()
    try:
        answer = person.sign_in()
        if answer.status_code != 302:
            raise RuntimeError(f"sign-in answered {answer.status_code}")
        person.create_token()
        person.start_server()
        for label, solution in notebooks:
            kernel = person.open_kernel(workspace_path(solution))
            cells = core_cells(solution) if label == "network" else _all_code(solution)
            try:
                t0 = time.perf_counter()
                first_error, _ = kernel.execute(cells[0], cell_timeout)
                if label == "first_steps":
                    record["login_to_first_cell_s"] = time.perf_counter() - started
                results = kernel.run_cells(cells[1:], cell_timeout) if not first_error else []
                record[f"{label}_s"] = time.perf_counter() - t0
                errors = ([first_error] if first_error else []) + [f"cell {r.index + 1}: {r.error}" for r in results if r.error]
                record["failures"] += [f"{label}: {e}" for e in errors]
            finally:
                kernel.close()
    except Exception as exc:  # a failure is a result: recorded, and the others go on
        record["failures"].append(f"{type(exc).__name__}: {exc}")
    return record


def _all_code(path: Path) -> list[str]:
    return [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def stage(n: int, network: Path, cell_timeout: float) -> dict:
    notebooks = [("first_steps", FIRST_STEPS), ("network", network)]
    with running_room(ROOT, participants=n, shared_cache=ROOT / "build" / "hub-cache", build=True) as room:
        names = [f"load{n}x{i}{secrets.token_hex(2)}" for i in range(n)]
        sampler = MemorySampler(names)
        sampler.start()
        try:
            with ThreadPoolExecutor(n) as pool:
                records = list(pool.map(lambda name: one_participant(room.url, room.code, name, notebooks, cell_timeout), names))
        finally:
            sampler.done.set()
            sampler.join()
        for record in records:
            record["peak_memory_gb"] = sampler.peak[record["name"]] / 1e9
        threads, memory = hub.fair_share(len(os.sched_getaffinity(0)), hub._memory_bytes(), n)
    return {"participants": n, "threads_each": threads, "memory_share_gb": memory / 1e9, "records": records}


def summarise(stages: list[dict]) -> list[dict]:
    rows = []
    base = {}
    for st in stages:
        recs = st["records"]
        row = {"N": st["participants"], "threads_each": st["threads_each"]}
        for key in ["login_to_first_cell_s", "first_steps_s", "network_s", "peak_memory_gb"]:
            values = [r[key] for r in recs if key in r]
            row[key] = (statistics.median(values), max(values)) if values else (float("nan"), float("nan"))
        row["failures"] = sum(len(r["failures"]) for r in recs)
        for key in ["first_steps_s", "network_s"]:
            base.setdefault(key, row[key][0])
            row[f"{key}_ratio"] = row[key][0] / base[key]
        rows.append(row)
    return rows


def write(stages, rows, network: Path) -> None:
    RESULTS.mkdir(exist_ok=True)
    cores, memory = len(os.sched_getaffinity(0)), hub._memory_bytes() / 1e9
    stem = f"hub_load_{network.stem.removesuffix('_solution')}"
    (RESULTS / f"{stem}.json").write_text(json.dumps({"cores": cores, "memory_gb": memory, "stages": stages}, indent=1))
    lines = [
        "# A workshop room under load (`benchmarks/hub_load.py`)",
        "",
        f"This machine: {cores} cores, {memory:.0f} GB. Each N is a fresh room for N participants (threads each = cores / N, "
        "at least 1), all N signing in and running at the same moment, over HTTP through the proxy on 127.0.0.1.",
        f"Notebooks: the first-steps notebook (whole), then the core path of `{network.relative_to(ROOT)}`. "
        "Times are medians over the participants (max in brackets); ratios are medians against N = 1. "
        "Memory: the peak of all of a participant's processes (server + kernel).",
        "",
        "| N | threads each | sign-in to first cell (s) | first steps (s) | ratio | network notebook (s) | ratio | peak memory per participant (GB) | failures |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['N']} | {r['threads_each']} | {r['login_to_first_cell_s'][0]:.1f} ({r['login_to_first_cell_s'][1]:.1f}) "
            f"| {r['first_steps_s'][0]:.1f} ({r['first_steps_s'][1]:.1f}) | {r['first_steps_s_ratio']:.2f} "
            f"| {r['network_s'][0]:.1f} ({r['network_s'][1]:.1f}) | {r['network_s_ratio']:.2f} "
            f"| {r['peak_memory_gb'][0]:.2f} ({r['peak_memory_gb'][1]:.2f}) | {r['failures']} |"
        )
    failures = [
        f"- N = {st['participants']}, {rec['name']}: {f}" for st in stages for rec in st["records"] for f in rec["failures"]
    ]
    if failures:
        lines += ["", "Failures:", *failures]
    (RESULTS / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--network", type=Path, default=ROOT / "materials" / "astrocytes" / "02_pools_and_network_solution.ipynb")
    parser.add_argument("--cell-timeout", type=float, default=900)
    args = parser.parse_args()
    stages = []
    for n in args.participants:
        started = time.perf_counter()
        stages.append(stage(n, args.network.resolve(), args.cell_timeout))
        print(f"N = {n}: {time.perf_counter() - started:.0f} s", flush=True)
    write(stages, summarise(stages), args.network.resolve())


if __name__ == "__main__":
    main()
