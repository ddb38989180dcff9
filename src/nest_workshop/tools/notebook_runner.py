"""Run solution notebooks as a participant would, and measure them.

``nest-workshop check`` uses this before a workshop: every solution notebook (or those
of one part) is executed top to bottom in a fresh kernel, with its folder as working
directory. For each it reports pass or fail (with the failing cell and its error), the
wall time, the peak memory of the kernel's process tree (the kernel and anything it
starts, such as a NESTML build), and whether a NESTML module was built or came from the
cache.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from pathlib import Path

import nbformat
import psutil
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

BUILD_MESSAGE = "Building NESTML module"  # printed by nestml.build when it compiles


@dataclasses.dataclass
class NotebookRun:
    notebook: Path
    passed: bool
    wall_s: float
    peak_memory_gb: float
    nestml: str  # "built", "cached" or "-" (no NESTML module)
    error: str = ""  # the failing cell and its error
    cell_seconds: list[float] = dataclasses.field(default_factory=list)  # wall time of each cell run, in order


class TreeMemoryMonitor(threading.Thread):
    """Samples the resident memory of a process and all its children until stopped."""

    def __init__(self, pid: int, interval: float = 0.2):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_bytes = 0
        self._stop_event = threading.Event()

    def run(self):
        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._stop_event.is_set():
            total = 0
            try:
                for process in [root, *root.children(recursive=True)]:
                    try:
                        total += process.memory_info().rss
                    except psutil.NoSuchProcess:
                        pass
            except psutil.NoSuchProcess:
                return
            self.peak_bytes = max(self.peak_bytes, total)
            self._stop_event.wait(self.interval)

    def stop(self):
        self._stop_event.set()
        self.join(timeout=5)


# Run in the notebook's kernel after its cells: what nestml.build did there.
BUILDS_PROBE = (
    "import json as _json, sys as _sys\n"
    "print('NESTML-BUILDS', _json.dumps(getattr(_sys.modules.get('nest_workshop.core.nestml'), 'BUILDS', {})))"
)


def _nestml_status(nb, builds: dict | None) -> str:
    """ "built" if a NESTML module was compiled during the run, "cached" if modules came
    from the cache only, "-" if none was loaded. ``builds`` is what the kernel reported
    (:data:`BUILDS_PROBE`); without it (the kernel died) the printed build message decides."""
    if builds:
        return "built" if "built" in builds.values() else "cached"
    text = "".join(
        o.get("text", "")
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "stream"
    )
    return "built" if BUILD_MESSAGE in text else "-"


def _probe_builds(client, nb) -> dict | None:
    probe = nbformat.v4.new_code_cell(BUILDS_PROBE)
    nb.cells.append(probe)  # nbclient runs cells of its notebook only; taken out again below
    try:
        client.execute_cell(probe, len(nb.cells) - 1)
    except Exception:  # the kernel is gone: no report
        return None
    finally:
        nb.cells.pop()
    for output in probe.get("outputs", []):
        for line in output.get("text", "").splitlines():
            if line.startswith("NESTML-BUILDS "):
                return json.loads(line.split(" ", 1)[1])
    return None


def run_notebook(path: Path, timeout: float = 1800.0) -> NotebookRun:
    """Execute one notebook in a fresh kernel and measure it."""
    path = Path(path).resolve()
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    started = time.perf_counter()
    error, monitor, cell_seconds, builds = "", None, [], None
    try:
        with client.setup_kernel():
            monitor = TreeMemoryMonitor(client.km.provisioner.pid)
            monitor.start()
            for index, cell in enumerate(nb.cells):
                cell_started = time.perf_counter()
                try:
                    client.execute_cell(cell, index)
                    cell_seconds.append(time.perf_counter() - cell_started)
                except CellExecutionError as exc:
                    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
                    error = f"cell {index + 1}: {lines[-1] if lines else type(exc).__name__}"
                    break
            builds = _probe_builds(client, nb)
    except Exception as exc:  # the kernel died, timed out, ...
        error = f"{type(exc).__name__}: {exc}"
    finally:
        if monitor is not None:
            monitor.stop()
    wall = time.perf_counter() - started
    peak = (monitor.peak_bytes if monitor else 0) / 1e9
    return NotebookRun(path, not error, wall, peak, _nestml_status(nb, builds), error, cell_seconds)


def format_table(runs: list[NotebookRun], root: Path) -> str:
    rows = [("notebook", "result", "wall (s)", "peak memory (GB)", "NESTML")]
    for run in runs:
        try:
            name = str(run.notebook.relative_to(root))
        except ValueError:
            name = str(run.notebook)
        rows.append(
            (name, "pass" if run.passed else f"FAIL {run.error}", f"{run.wall_s:.1f}", f"{run.peak_memory_gb:.2f}", run.nestml)
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)) for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
