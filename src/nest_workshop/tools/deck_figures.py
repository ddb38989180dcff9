"""The decks' figures: drawn here, saved as images in presentations/figures/.

A deck shows each figure as a Markdown image, so it needs no code cell: JupyterLab's
live slideshow (RISE) shows it as it is, without running anything and without showing
the code that drew it (jupyterlab-rise does not honour the ``hide-input`` tag), and the
offline HTML embeds it. ``nest-workshop slides --figures`` (``make deck-figures``) writes
every figure again:

- the figures in :data:`DRAWN` are drawn by code: schematics
  (:mod:`nest_workshop.core.schematics`, which the notebooks use too) and small
  simulations made for the slide by the functions of this module, each in a fresh NEST
  kernel on one thread;
- a figure a deck shares with a notebook (a part's key result) comes from the notebook
  itself: the solution notebook's cell whose metadata has ``"deck_figure": "NAME.png"``.
  The notebooks are run (seed 1, two threads, as ``benchmarks/session_compute.py`` runs
  them) and that cell's image is saved, so the slide shows what the notebook measures.

The images are committed, so a deck shows its figures before anyone runs anything.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..core import plotting, schematics  # noqa: E402
from ..core.kernel import reset_kernel  # noqa: E402
from ..parts import eprop  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
FIGURES = ROOT / "presentations" / "figures"
MATERIALS = ROOT / "materials"
DPI = 150
NOTEBOOK_THREADS = "2"
FIGURE_KEY = "deck_figure"


def mpi_scaling():
    """The bundle's own MPI measurement (make bench-mpi), read from benchmarks/results/mpi_scaling.json."""
    plotting.apply_style()

    # the bundle's own measurement (make bench-mpi): the astrocyte network of part 4, 5,000 neurons
    results = json.loads((ROOT / "benchmarks/results/mpi_scaling.json").read_text())
    runs = results["split"]
    labels = [f"{r['ranks']} rank × {r['threads']} thread" + ("s" if r["threads"] > 1 else "") for r in runs]
    fig, (ax_time, ax_memory) = plt.subplots(1, 2, figsize=(9.5, 3.4))
    ax_time.bar(labels, [r["network_s"] for r in runs], color=plotting.PALETTE[0])
    ax_time.set_ylabel("build + simulate 1 s (s)")
    ax_memory.bar(labels, [max(r["peak_memory_mb_per_rank"]) for r in runs], color=plotting.PALETTE[1])
    ax_memory.set_ylabel("peak memory per rank (MB)")
    for ax in (ax_time, ax_memory):
        ax.tick_params(axis="x", labelsize=8)
    fig.suptitle("5,000 neurons + 5,000 astrocytes, 4.5 million connections: same spikes for 2 virtual processes")
    return fig


def brunel_raster():
    """The E/I network simulated for 500 ms: irregular, asynchronous firing."""
    plotting.apply_style()
    nest = reset_kernel(seed=1, threads=1)
    params = {"tau_m": 20.0, "t_ref": 2.0, "V_th": 20.0, "V_reset": 10.0, "E_L": 0.0, "V_m": 0.0, "C_m": 1.0}
    exc = nest.Create("iaf_psc_delta", 800, params=params)
    inh = nest.Create("iaf_psc_delta", 200, params=params)
    J, g, eta, delay = 0.5, 6.0, 1.5, 1.5
    noise = nest.Create("poisson_generator", params={"rate": eta * 20.0 / (J * 80 * 20.0) * 1000.0 * 80})
    recorder = nest.Create("spike_recorder")
    nest.Connect(noise, exc + inh, syn_spec={"weight": J, "delay": delay})
    nest.Connect(exc, exc + inh, {"rule": "fixed_indegree", "indegree": 80}, {"weight": J, "delay": delay})
    nest.Connect(inh, exc + inh, {"rule": "fixed_indegree", "indegree": 20}, {"weight": -g * J, "delay": delay})
    nest.Connect(exc[:200], recorder)
    nest.Simulate(500.0)
    fig, axes = plotting.raster(
        recorder, n_neurons=200, t_range=(0, 500), title="200 of 800 excitatory neurons: irregular, asynchronous firing"
    )
    fig.set_size_inches(9, 4)
    return fig


def eprop_tasks():
    """The two e-prop tasks, from the package's task generators with the notebooks' settings (seed 1)."""
    plotting.apply_style()

    # the tasks exactly as the notebooks make them (seed 1)
    spikes = eprop.frozen_noise(30, 1000, rate_hz=50.0, seed=1)  # notebook 01 uses 100 inputs
    target = eprop.sine_pattern(1000.0, seed=1)
    task = eprop.CueTask(n_cues=3, cue_ms=100, spacing_ms=50, delay_ms=200, recall_ms=150, n_inputs=40)
    fig, (ax_in, ax_target, ax_cues) = plt.subplots(3, 1, figsize=(9, 5), height_ratios=[2, 1.3, 1.3])
    ax_in.eventplot([np.flatnonzero(row) for row in spikes], colors="k", linewidths=0.8)
    ax_in.set_ylabel("input")
    ax_in.set_title("Regression (notebook 01): frozen noise in, a sum of four sine waves out")
    ax_target.plot(np.arange(target.size), target, color=plotting.PALETTE[1])
    ax_target.set_ylabel("target")
    ax_target.set_xlabel("time (ms)")
    for k, (start, stop) in enumerate(task.cue_windows()):
        left = k != 1  # an example trial: left, right, left
        ax_cues.axvspan(
            start,
            stop,
            ymin=0.55 if left else 0.05,
            ymax=0.95 if left else 0.45,
            color=plotting.PALETTE[0] if left else plotting.PALETTE[2],
            alpha=0.7,
        )
    ax_cues.axvspan(task.trial_ms - task.recall_ms, task.trial_ms, color="0.8")
    ax_cues.text(task.trial_ms - task.recall_ms + 5, 0.5, "recall:\nwhich side\nhad more?", va="center", fontsize=8)
    ax_cues.set_yticks([0.25, 0.75], ["right", "left"])
    ax_cues.set_xlim(0, task.trial_ms)
    ax_cues.set_xlabel("time in trial (ms)")
    ax_cues.set_title(f"Classification (notebook 02): {task.n_cues} cues, a {task.delay_ms} ms delay, then the answer")
    return fig


def two_compartments():
    """cm_default with two compartments: three AMPA inputs on the dendrite."""
    plotting.apply_style()
    nest = reset_kernel(seed=1, threads=1)
    cell = nest.Create("cm_default")
    cell.compartments = [
        {"parent_idx": -1, "params": {"C_m": 1.0, "g_C": 0.0, "g_L": 0.05, "e_L": -70.0}},  # soma
        {"parent_idx": 0, "params": {"C_m": 0.1, "g_C": 0.01, "g_L": 0.005, "e_L": -70.0}},  # dendrite
    ]
    cell.receptors = [{"comp_idx": 1, "receptor_type": "AMPA"}]  # receptor 0, on the dendrite
    inputs = nest.Create("spike_generator", params={"spike_times": [10.0, 12.0, 14.0]})
    nest.Connect(inputs, cell, syn_spec={"weight": 0.005, "delay": 0.5, "receptor_type": 0})  # uS
    meter = nest.Create("multimeter", params={"record_from": ["v_comp0", "v_comp1"], "interval": 0.1})
    nest.Connect(meter, cell)
    nest.Simulate(100.0)
    events = meter.events
    fig, ax = plt.subplots(figsize=(9, 3.6))
    ax.plot(events["times"], events["v_comp1"], label="dendrite (where the synapse is)")
    ax.plot(events["times"], events["v_comp0"], label="soma")
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("membrane potential (mV)")
    ax.set_title("cm_default, two compartments: three AMPA inputs on the dendrite")
    ax.legend()
    return fig


# The figures drawn here: file name -> function (schematics from core.schematics).
DRAWN = {
    "00_simulation_loop.png": schematics.simulation_loop,
    "00_mpi_scaling.png": mpi_scaling,
    "01_ei_network.png": schematics.ei_network,
    "01_brunel_raster.png": brunel_raster,
    "02_eprop_architecture.png": schematics.eprop_architecture,
    "02_eprop_tasks.png": eprop_tasks,
    "03_sequence_network.png": schematics.sequence_contexts,
    "04_two_compartments.png": two_compartments,
    "04_compartment_trees.png": schematics.compartment_trees,
    "05_tripartite_synapse.png": schematics.tripartite_synapse,
}
SCHEMATICS = {name for name, draw in DRAWN.items() if draw.__module__ == schematics.__name__}


def draw(name: str, folder: Path = FIGURES) -> Path:
    """Draw the figure ``name`` (a key of :data:`DRAWN`) into ``folder``."""
    if name not in DRAWN:
        raise ValueError(f"no figure {name!r} is drawn here: the figures are {', '.join(sorted(DRAWN))}")
    folder.mkdir(parents=True, exist_ok=True)
    with contextlib.redirect_stdout(None):  # NEST's and NESTML's messages
        fig = DRAWN[name]()
    path = folder / name
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def notebook_figures(materials: Path = MATERIALS) -> dict[str, tuple[Path, int]]:
    """{figure name: (solution notebook, cell index)} of the cells marked ``deck_figure``."""
    found: dict[str, tuple[Path, int]] = {}
    for notebook in sorted(materials.glob("*/*_solution.ipynb")):
        for index, cell in enumerate(json.loads(notebook.read_text())["cells"]):
            name = cell.get("metadata", {}).get(FIGURE_KEY)
            if name is None:
                continue
            if name in found or name in DRAWN:
                raise ValueError(f"figure {name!r} is declared twice ({notebook.name}, cell {index})")
            found[name] = (notebook, index)
    return found


def from_notebooks(folder: Path = FIGURES, materials: Path = MATERIALS, timeout: float = 1800.0, log=print) -> list[Path]:
    """Run each solution notebook that marks a deck figure (seed 1, two threads) and save
    the image its marked cell shows."""
    import nbformat
    from nbclient import NotebookClient

    by_notebook: dict[Path, list[tuple[str, int]]] = {}
    for name, (notebook, index) in notebook_figures(materials).items():
        by_notebook.setdefault(notebook, []).append((name, index))
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    saved_threads = os.environ.get("NEST_WORKSHOP_THREADS")
    os.environ["NEST_WORKSHOP_THREADS"] = NOTEBOOK_THREADS  # the kernel inherits it
    try:
        for notebook, figures in by_notebook.items():
            log(f"running {notebook.relative_to(materials)} for {', '.join(name for name, _ in figures)} ...")
            nb = nbformat.read(notebook, as_version=4)
            NotebookClient(nb, timeout=timeout, resources={"metadata": {"path": str(notebook.parent)}}).execute()
            for name, index in figures:
                images = [o["data"]["image/png"] for o in nb.cells[index].get("outputs", []) if "image/png" in o.get("data", {})]
                if len(images) != 1:
                    raise ValueError(f"{notebook.name}, cell {index} ({name}): shows {len(images)} images, not one")
                path = folder / name
                path.write_bytes(base64.b64decode(images[0]))
                written.append(path)
    finally:
        if saved_threads is None:
            os.environ.pop("NEST_WORKSHOP_THREADS", None)
        else:
            os.environ["NEST_WORKSHOP_THREADS"] = saved_threads
    return written


def write_all(folder: Path = FIGURES, *, notebooks: bool = True, log=print) -> list[Path]:
    """Every deck figure: those drawn here, then (``notebooks``) those from the notebooks."""
    written = []
    for name in DRAWN:
        written.append(draw(name, folder))
        log(f"✔ {written[-1]}")
    if notebooks:
        for path in from_notebooks(folder, log=log):
            log(f"✔ {path}")
            written.append(path)
    return written
