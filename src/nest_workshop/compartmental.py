"""Compartmental neurons with NEST's ``cm_default``: trees of compartments, receptors on
them, and dendritic computation.

``cm_default`` describes a neuron as a tree: each compartment has a parent
(``parent_idx``, -1 for the root, the soma), a capacitance ``C_m`` (nF), a leak ``g_L``
(µS) and a coupling conductance ``g_C`` (µS) to its parent; optional Na and K channels
(``gbar_Na``, ``gbar_K``) make it active. Receptors (``AMPA``, ``GABA``, ``NMDA``,
``AMPA_NMDA``) sit on compartments; a connection targets a receptor by its index, which
follows the order in which the receptors were added.

This module builds the workshop's "ball and sticks" neuron and runs the summation
experiments of notebook 1.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .kernel import reset_kernel

RECEPTOR_TYPES = ("AMPA", "GABA", "NMDA", "AMPA_NMDA")

# A passive soma (tau_m = C_m / g_L = 20 ms) and thin passive dendrite compartments.
SOMA = {"C_m": 0.1, "g_C": 0.0, "g_L": 0.005, "e_L": -70.0}
DENDRITE = {"C_m": 0.005, "g_C": 0.002, "g_L": 0.00025, "e_L": -70.0}
# Na and K channels of cm_default, for an active soma (conductances in µS)
ACTIVE_SOMA = {**SOMA, "gbar_Na": 4.5, "e_Na": 50.0, "gbar_K": 1.0, "e_K": -85.0}


@dataclasses.dataclass
class BallAndSticks:
    """A soma with ``n_branches`` unbranched dendrites of ``compartments_per_branch``
    compartments each. Compartment 0 is the soma; branch b (0-based) holds compartments
    ``1 + b * compartments_per_branch`` (next to the soma) to
    ``(b + 1) * compartments_per_branch`` (its tip)."""

    n_branches: int = 4
    compartments_per_branch: int = 3
    soma: dict = dataclasses.field(default_factory=lambda: dict(SOMA))
    dendrite: dict = dataclasses.field(default_factory=lambda: dict(DENDRITE))

    def __post_init__(self):
        for name in ("n_branches", "compartments_per_branch"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number of at least 1, got {value!r}")

    @property
    def n_compartments(self) -> int:
        return 1 + self.n_branches * self.compartments_per_branch

    def tip(self, branch: int) -> int:
        """Index of the outermost compartment of ``branch``."""
        self._check_branch(branch)
        return (branch + 1) * self.compartments_per_branch

    def base(self, branch: int) -> int:
        """Index of the compartment of ``branch`` next to the soma."""
        self._check_branch(branch)
        return 1 + branch * self.compartments_per_branch

    def _check_branch(self, branch: int) -> None:
        if not isinstance(branch, int) or not 0 <= branch < self.n_branches:
            raise ValueError(f"branch must be 0 to {self.n_branches - 1}, got {branch!r}")

    def compartments(self) -> list[dict]:
        """The ``compartments`` list for ``cm_default``."""
        tree = [{"parent_idx": -1, "params": dict(self.soma)}]
        for _ in range(self.n_branches):
            for j in range(self.compartments_per_branch):
                tree.append({"parent_idx": 0 if j == 0 else len(tree) - 1, "params": dict(self.dendrite)})
        return tree


def check_receptors(receptors, n_compartments: int) -> None:
    """Each receptor is ``(compartment index, receptor type)``: name the valid choices."""
    for compartment, receptor_type in receptors:
        if receptor_type not in RECEPTOR_TYPES:
            raise ValueError(f"unknown receptor type {receptor_type!r}: cm_default has {', '.join(RECEPTOR_TYPES)}")
        if not isinstance(compartment, (int, np.integer)) or not 0 <= compartment < n_compartments:
            raise ValueError(f"there is no compartment {compartment!r}: this neuron has compartments 0 to {n_compartments - 1}")


def create_neuron(nest, morphology: BallAndSticks, receptors, receptor_params: dict | None = None):
    """Create a ``cm_default`` neuron with the given tree and receptors
    (``[(compartment, type), ...]``; receptor index i is the i-th in this list)."""
    check_receptors(receptors, morphology.n_compartments)
    neuron = nest.Create("cm_default")
    neuron.compartments = morphology.compartments()
    neuron.receptors = [{"comp_idx": int(c), "receptor_type": t, "params": dict(receptor_params or {})}
                        for c, t in receptors]
    return neuron


def synchronous_input(sites, *, weight: float, receptor_type: str = "AMPA", morphology: BallAndSticks | None = None,
                      receptor_params: dict | None = None, t_sim: float = 100.0, t_input: float = 10.0) -> dict:
    """One synchronous volley: one input of ``weight`` (µS) at each entry of ``sites``
    (compartment indices; a compartment may appear several times, its inputs then share
    one receptor). Returns the voltage traces of all compartments (mV) every 0.1 ms, and
    the peak depolarisation of the soma and of each targeted compartment."""
    morphology = morphology or BallAndSticks()
    if weight <= 0:
        raise ValueError(f"weight must be a positive conductance in µS, got {weight!r}")
    if len(sites) == 0:
        raise ValueError("give at least one input site")
    targets = sorted(set(int(s) for s in sites))
    nest = reset_kernel(seed=1, threads=1)
    neuron = create_neuron(nest, morphology, [(c, receptor_type) for c in targets], receptor_params)
    volley = nest.Create("spike_generator", params={"spike_times": [t_input]})
    for site in sites:
        nest.Connect(volley, neuron, syn_spec={"weight": weight, "receptor_type": targets.index(int(site)), "delay": 0.1})
    meter = nest.Create("multimeter", params={"record_from": [f"v_comp{i}" for i in range(morphology.n_compartments)],
                                              "interval": 0.1})
    nest.Connect(meter, neuron)
    nest.Simulate(t_sim)
    events = meter.events
    voltages = {i: np.asarray(events[f"v_comp{i}"]) for i in range(morphology.n_compartments)}
    rest = morphology.soma["e_L"]
    return {"times": np.asarray(events["times"]), "v": voltages, "soma_epsp": float(voltages[0].max() - rest),
            "local_epsp": {c: float(voltages[c].max() - rest) for c in targets}}


def summation(n_inputs: int, *, layout: str, weight: float, receptor_type: str, morphology: BallAndSticks | None = None,
              receptor_params: dict | None = None, cluster_site: int | None = None) -> dict:
    """Somatic EPSP of ``n_inputs`` synchronous inputs, against the linear prediction.

    ``layout="clustered"``: all inputs on one compartment (default: the tip of branch 0);
    the prediction is n times the single-input EPSP there. ``layout="distributed"``: one
    input per compartment, tips first, then the next compartments inwards, over all
    branches; the prediction is the sum of each site's single-input EPSP."""
    morphology = morphology or BallAndSticks()
    if not isinstance(n_inputs, int) or n_inputs < 1:
        raise ValueError(f"n_inputs must be a whole number of at least 1, got {n_inputs!r}")
    if layout == "clustered":
        site = morphology.tip(0) if cluster_site is None else cluster_site
        sites = [site] * n_inputs
    elif layout == "distributed":
        order = [morphology.tip(b) - depth for depth in range(morphology.compartments_per_branch)
                 for b in range(morphology.n_branches)]
        if n_inputs > len(order):
            raise ValueError(f"distributed inputs need a compartment each: at most {len(order)} here")
        sites = order[:n_inputs]
    else:
        raise ValueError(f"layout must be 'clustered' or 'distributed', got {layout!r}")
    common = dict(weight=weight, receptor_type=receptor_type, morphology=morphology, receptor_params=receptor_params)
    together = synchronous_input(sites, **common)
    singles = {s: synchronous_input([s], **common)["soma_epsp"] for s in set(sites)}
    linear = sum(singles[s] for s in sites)
    return {"n_inputs": n_inputs, "sites": sites, "soma_epsp": together["soma_epsp"], "linear_prediction": linear,
            "ratio": together["soma_epsp"] / linear, "local_epsp": together["local_epsp"]}
