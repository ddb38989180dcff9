"""Notebook 3, section 7 (bring your own neuron): sites by path distance, and a NEAT
reduction refined until its EPSPs are within a stated tolerance of the full cell's."""

from __future__ import annotations

import dataclasses

import numpy as np

from ...core import validation
from ...core.kernel import require_fresh_kernel
from .reduction import SWC_TYPES, ReducedNeuron, check_sites, compare_rows, distance_to_soma, fit_locations, support_locations

REGIONS = {"basal": "basal dendrite", "apical": "apical dendrite"}
MAX_TOLERANCE_STEPS = 25  # reduce_to_tolerance's refits, at most (each adds a compartment or more)
PLATEAU_STEPS = 6  # ... and it stops when this many refits took off less than 2 % of the worst error


def sites_at_distances(tree, region: str, distances, prefix: str | None = None) -> dict:
    """Sites ``{name: (node, x)}`` at the given path distances (µm) from the soma, in
    ``region`` (``"basal"`` or ``"apical"``), the soma first. Each lies on the longest
    path of that region from the soma (the branch reaching farthest), so the sites line
    up along one dendrite, as a recording electrode would walk it. Errors say what the
    cell has: a region it lacks, a distance beyond its reach."""
    if region not in REGIONS:
        raise ValueError(f"unknown region {region!r}: use one of {', '.join(REGIONS)}")
    distances = [validation.positive_number("distance", d) for d in np.atleast_1d(distances)]
    nodes = [node for node in tree if SWC_TYPES.get(node.swc_type) == REGIONS[region]]
    if not nodes:
        present = sorted({SWC_TYPES.get(n.swc_type, "other") for n in tree if n.index != 1})
        raise ValueError(f"this cell has no {REGIONS[region]}: its dendrites are {', '.join(present) or 'none'}")
    tip = max(nodes, key=lambda n: distance_to_soma(tree, (n.index, 1.0)))
    reach = distance_to_soma(tree, (tip.index, 1.0))
    too_far = [d for d in distances if d > reach]
    if too_far:
        raise ValueError(
            f"no {REGIONS[region]} point at {', '.join(f'{d:g}' for d in too_far)} µm: "
            f"its farthest point is {reach:.0f} µm from the soma"
        )
    prefix = prefix or region
    sites = {"soma": (1, 0.5)}
    for d in distances:
        (location,) = support_locations(tree, (tip.index, 1.0), [d / reach])
        sites[f"{prefix}_{d:g}"] = (int(location[0]), round(float(location[1]), 6))
    return sites


@dataclasses.dataclass
class ToleranceReduction:
    """What :func:`reduce_to_tolerance` reached: the fit (``reduced``), whether every
    EPSP error is within ``tolerance`` (``met``), its comparison with the full cell
    (``rows``, as :func:`compare_epsps` gives them) and every step taken (``steps``:
    compartments, worst error and where, fit seconds, what was added)."""

    reduced: ReducedNeuron
    met: bool
    tolerance: float
    rows: list
    steps: list
    plateau: bool = False  # stopped because the last refits no longer brought the error down

    @property
    def worst_error(self) -> float:
        return max(max(abs(r["soma_error"]), abs(r["local_error"])) for r in self.rows)


def side_branch_locations(tree, site) -> list[tuple]:
    """A location in every dendrite that leaves the path from the soma to ``site`` (and
    in those beyond the site), nearest to the site first and, at equal distance, the
    dendrite with the most membrane first: halfway along its longest path, where it
    stands for all of itself. These dendrites are what a local EPSP's compartments lump
    when only the path has compartments (for the soma: all its dendrites)."""
    path = list(tree.path_to_root(tree[site[0]]))
    on_path = {node.index for node in path}
    here = distance_to_soma(tree, site)
    found = []
    for node in path:
        attach = 0.0 if node.index == 1 else distance_to_soma(tree, (node.index, 1.0))
        for child in node.child_nodes:
            if child.index not in on_path:
                found.append((round(abs(here - attach), 6), -_membrane_area(child), child.index, _halfway(tree, child)))
    return [location for *_, location in sorted(found)]


def _halfway(tree, node) -> tuple:
    """The point halfway along the longest path of the dendrite that begins at ``node``."""
    tips, stack = [], [node]
    while stack:
        current = stack.pop()
        stack.extend(current.child_nodes)
        if not current.child_nodes:
            tips.append(current)
    tip = max(tips, key=lambda n: distance_to_soma(tree, (n.index, 1.0)))
    start, end = distance_to_soma(tree, (node.index, 0.0)), distance_to_soma(tree, (tip.index, 1.0))
    (location,) = support_locations(tree, (tip.index, 1.0), [(start + end) / 2 / end])
    return (int(location[0]), round(float(location[1]), 6))


def _membrane_area(node) -> float:
    """The membrane area (µm²) of ``node`` and everything beyond it."""
    return 2 * np.pi * node.R * node.L + sum(_membrane_area(child) for child in node.child_nodes)


def _worst(rows: list[dict]) -> tuple[float, str, str]:
    """The largest relative EPSP error, its site and which EPSP ("local" or "somatic")."""
    candidates = [
        (abs(r[key]), r["site"], where) for r in rows for key, where in (("local_error", "local"), ("soma_error", "somatic"))
    ]
    return max(candidates)


def reduce_to_tolerance(
    tree,
    sites: dict,
    *,
    tolerance: float = 0.05,
    max_compartments: int = 60,
    weight: float = 0.001,
    support=(1 / 3, 2 / 3),
    verbose: bool = True,
) -> ToleranceReduction:
    """Reduce ``tree`` with NEAT until the EPSP of one input (``weight`` µS, AMPA) at
    every site, somatic and local, is within ``tolerance`` of the full cell's in NEURON,
    or until the fit would need more than ``max_compartments`` compartments.

    It starts from :func:`reduce_morphology`'s fit (``support`` fractions on the path to
    each dendritic site) and, while an error is beyond ``tolerance``, adds compartments
    where the error is: one more support point on the path to the worst site (the
    fractions spread evenly again), so the stretch a compartment stands for gets
    shorter; once that stops helping, a compartment in the branches that leave that path,
    nearest to the site first (:func:`side_branch_locations`), whose membrane the path's
    compartments otherwise lump. NEAT adds the branch points between the locations. Each step is refitted
    (seconds, with NEAT's cache) and compared again; the full cell is simulated once per
    site. Every step is printed (compartments, worst error and where, fit time) when
    ``verbose``. When the limit is reached first, or the last refits no longer brought
    the error down (a plateau: the error is then NEAT's fit at that site, which more
    compartments do not change), the best fit comes back with ``met=False`` and the
    errors it reached, and the message says which.

    NEST runs in the notebook's kernel, which must be fresh when this is called (its
    seed, threads and resolution are the notebook's); each step's neurons are added to
    it and simulated from the kernel's present time on."""
    check_sites(tree, sites)
    tolerance = validation.positive_number("tolerance", tolerance)
    max_compartments = validation.whole_number("max_compartments", max_compartments, minimum=2)
    if len(sites) < 2:
        raise ValueError("give the soma and at least one dendritic site: the errors are measured at the dendritic sites")
    require_fresh_kernel("reduce_to_tolerance")
    support_by_site = {name: list(support) for name in list(sites)[1:]}
    side = {name: side_branch_locations(tree, site) for name, site in sites.items()}  # candidates, nearest first
    extra: list = []
    path_exhausted: set = set()  # sites where one more path point no longer helped
    full_runs: dict = {}
    steps, best = [], None
    added = "start: " + (
        f"support at {', '.join(f'{f:.2g}' for f in support)} of each site's distance" if support else "no support"
    )
    last = None  # (site, "path" or "side", error before)
    plateau = False
    while True:
        reduced = fit_locations(tree, sites, support_by_site, extra)
        if steps and reduced.n_compartments > max_compartments:
            if verbose:
                print(f"  ({added} would make {reduced.n_compartments} compartments: beyond the limit)", flush=True)
            break
        rows = compare_rows(tree, reduced, weight=weight, fresh=not steps, full_runs=full_runs)
        error, site, where = _worst(rows)
        steps.append(
            {"compartments": reduced.n_compartments, "worst_error": error, "worst_site": site, "worst_epsp": where,
             "fit_seconds": reduced.fit_seconds, "added": added}
        )  # fmt: skip
        if verbose:
            print(
                f"step {len(steps)}: {reduced.n_compartments} compartments, worst error {100 * error:.1f} % "
                f"({where} EPSP at {site}), fit {reduced.fit_seconds:.1f} s  [{added}]",
                flush=True,
            )
        if best is None or error < best.worst_error - 0.001:  # fewer compartments for the same error
            best = ToleranceReduction(reduced, error <= tolerance, tolerance, rows, steps)
        if error <= tolerance or reduced.n_compartments >= max_compartments or len(steps) >= MAX_TOLERANCE_STEPS:
            break
        if len(steps) > PLATEAU_STEPS and best.worst_error > 0.98 * steps[-PLATEAU_STEPS - 1]["worst_error"]:
            plateau = True  # the last steps' compartments took off less than 2 % of the error
            break
        # Where the error is: first a shorter stretch per compartment on the path to the
        # worst site; once that stops helping (less than a tenth of the error gone), the
        # branches leaving that path, nearest first, which the path's compartments lump.
        if last is not None and last[:2] == (site, "path") and last[2] - error < 0.1 * last[2]:
            path_exhausted.add(site)
        if site not in support_by_site:  # the soma: no path, but the dendrites it lumps
            path_exhausted.add(site)
        candidates = [loc for loc in side[site] if loc not in extra]
        if site in path_exhausted and not candidates and site not in support_by_site:
            plateau = True  # a compartment in every dendrite at the soma already: nothing left to add there
            break
        if site in path_exhausted and candidates:
            extra.append(candidates[0])
            # then, after the dendrites of this level, those that leave the new location's path
            side[site] += [loc for loc in side_branch_locations(tree, candidates[0]) if loc not in side[site]]
            added = f"a compartment in the dendrite beside the path to {site}, at node {candidates[0][0]}"
            last = (site, "side", error)
        else:
            n = len(support_by_site[site]) + 1
            support_by_site[site] = [k / (n + 1) for k in range(1, n + 1)]  # spread evenly again
            added = f"{n} support point{'s' if n > 1 else ''} on the path to {site}"
            last = (site, "path", error)
    best.steps, best.plateau = steps, plateau
    if verbose:
        if best.met:
            print(
                f"✔ within {100 * tolerance:g} % at every site with {best.reduced.n_compartments} compartments "
                f"(worst {100 * best.worst_error:.1f} %)"
            )
        else:
            error, site, where = _worst(best.rows)
            reached = f"the best fit ({best.reduced.n_compartments} compartments) is off by {100 * error:.1f} % ({where} EPSP at {site})"
            if plateau:
                print(
                    f"✘ not within {100 * tolerance:g} %: {reached}, and the compartments of the last {PLATEAU_STEPS} "
                    "steps took off less than 2 % of it. More compartments where this method puts them do not help "
                    "there: NEAT's fit itself is the limit at that site. Accept the error, or choose the site a little "
                    "farther along its branch."
                )
            else:
                print(
                    f"✘ not within {100 * tolerance:g} % before the limit of {max_compartments} compartments: {reached}. "
                    "Raise max_compartments, or accept the error."
                )
    return best
