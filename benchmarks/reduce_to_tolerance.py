"""`compartmental.reduce_to_tolerance` on every shipped morphology: compartments, worst
EPSP error and time, per morphology and choice of sites.

Each case loads an SWC file of materials/compartmental/data/ (or tests/data/), picks sites by path distance
in one region (`sites_at_distances`, or the L2/3 notebook's own sites), and asks for 5 %
(somatic and local EPSP of one AMPA input, reduced cell in NEST against the full cell in
NEURON). Recorded: whether it was met, each step's compartments and worst error, the
first and the final fit, and the wall time of the call (NEAT's cache warm: the trees'
modes are computed by `make build`). Deterministic: no seed enters a reduction.

    .venv/bin/python benchmarks/reduce_to_tolerance.py

Results: benchmarks/results/reduce_to_tolerance.json and .md.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import nest_workshop as nw
from nest_workshop.parts import compartmental as C

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "materials" / "compartmental" / "data"
TEST_DATA = ROOT / "tests" / "data"  # cell1_simplified: a second cell with an apical tree
RESULTS = Path(__file__).with_name("results")
L23_SITES = {"soma": (1, 0.5), "basal": (104, 0.5), "oblique": (411, 0.5), "trunk": (267, 0.5), "tuft": (325, 0.5)}
CASES = [
    # (file, how the sites are chosen, sites or (region, distances), support to start from)
    ("L23PyrBranco.swc", "notebook 3's sites", L23_SITES, (1 / 3, 2 / 3)),
    ("L23PyrBranco.swc", "notebook 3's sites, no support to start", L23_SITES, ()),
    ("N19ttwt.CNG.swc", "basal at 100, 150, 200 µm", ("basal", [100, 150, 200]), (1 / 3, 2 / 3)),
    ("N19ttwt.CNG.swc", "basal at 60, 120, 180 µm", ("basal", [60, 120, 180]), (1 / 3, 2 / 3)),
    ("cell1_simplified.swc", "basal at 50, 100 µm", ("basal", [50, 100]), (1 / 3, 2 / 3)),
    ("cell1_simplified.swc", "apical at 150, 400 µm", ("apical", [150, 400]), (1 / 3, 2 / 3)),
    ("cell1_simplified.swc", "apical at 150, 400, 700 µm", ("apical", [150, 400, 700]), (1 / 3, 2 / 3)),
]


def main() -> None:
    trees, records = {}, []
    for name, label, chosen, support in CASES:
        tree = trees.setdefault(name, C.load_morphology((DATA if (DATA / name).exists() else TEST_DATA) / name))
        sites = chosen if isinstance(chosen, dict) else C.sites_at_distances(tree, *chosen)
        nw.reset_kernel(seed=1, threads=2, resolution=0.025, quiet=True)
        print(f"\n{name}, {label}:", flush=True)
        started = time.perf_counter()
        result = C.reduce_to_tolerance(tree, sites, tolerance=0.05, support=support, max_compartments=60)
        records.append(
            {
                "morphology": name,
                "sites": label,
                "met": result.met,
                "plateau": result.plateau,
                "first": {"compartments": result.steps[0]["compartments"], "worst_error": result.steps[0]["worst_error"]},
                "final": {"compartments": result.reduced.n_compartments, "worst_error": result.worst_error},
                "steps": [{k: v for k, v in step.items()} for step in result.steps],
                "seconds": time.perf_counter() - started,
            }
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "reduce_to_tolerance.json").write_text(json.dumps(records, indent=1))
    lines = [
        "# `compartmental.reduce_to_tolerance` on the shipped morphologies (`benchmarks/reduce_to_tolerance.py`)",
        "",
        "Asked: every somatic and local EPSP within 5 % of the full cell's (NEURON, 4 × the lambda rule's segments). "
        "First fit: `reduce_morphology`'s (support at 1/3 and 2/3 of each site's distance, unless said). "
        "Time: the whole call, NEAT's cache warm, 2 threads on a 2-core machine.",
        "",
        "| morphology | sites | first fit: compartments, worst error | result: compartments, worst error | steps | time (s) | outcome |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in records:
        outcome = "met" if r["met"] else ("not met: plateau (NEAT's fit at the site)" if r["plateau"] else "not met: limit")
        lines.append(
            f"| {r['morphology']} | {r['sites']} | {r['first']['compartments']}, {100 * r['first']['worst_error']:.1f} % "
            f"| {r['final']['compartments']}, {100 * r['final']['worst_error']:.1f} % | {len(r['steps'])} | {r['seconds']:.1f} | {outcome} |"
        )
    (RESULTS / "reduce_to_tolerance.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
