"""Notebook 1: NEST's ``cm_default`` neuron as a tree of compartments, receptors on
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

from ...core import validation
from ...core.kernel import import_nest, require_fresh_kernel

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
            setattr(self, name, validation.whole_number(name, getattr(self, name)))

    @property
    def n_compartments(self) -> int:
        return 1 + self.n_branches * self.compartments_per_branch

    def tip(self, branch: int) -> int:
        """Index of the outermost compartment of ``branch``."""
        branch = self._check_branch(branch)
        return (branch + 1) * self.compartments_per_branch

    def base(self, branch: int) -> int:
        """Index of the compartment of ``branch`` next to the soma."""
        branch = self._check_branch(branch)
        return 1 + branch * self.compartments_per_branch

    def _check_branch(self, branch: int) -> int:
        return validation.whole_number("branch", branch, minimum=0, maximum=self.n_branches - 1)

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
        if not validation.is_whole_number(compartment) or not 0 <= compartment < n_compartments:
            raise ValueError(f"there is no compartment {compartment!r}: this neuron has compartments 0 to {n_compartments - 1}")


def check_neuron(neuron, *, parents, receptors) -> None:
    """Check a ``cm_default`` neuron as NEST holds it against the tree and receptors it
    should have: ``parents`` (each compartment's ``parent_idx``, in order) and
    ``receptors`` (``[(compartment, receptor type), ...]``, in order). Raises a
    ``ValueError`` that shows both. NEST 3.10 silently skips a receptor whose type it
    does not know (a misspelling) while still counting its index, so the receptors
    after it are not where their index says; this check catches that before a run."""
    made_parents = [c["parent_idx"] for c in neuron.get("compartments")]
    made = [(r["comp_idx"], r["receptor_type"]) for r in neuron.get("receptors")]
    expected = [(int(c), t) for c, t in receptors]
    problems = []
    if made_parents != list(parents):
        problems.append(f"its compartments have parents {made_parents}, expected {list(parents)}")
    if made != expected:
        problems.append(f"its receptors are {made}, expected {expected} (as (compartment, type), in index order)")
        unknown = sorted({t for t in (r["receptor_type"] for r in neuron.get("receptors")) if t not in RECEPTOR_TYPES})
        if len(made) < len(expected) or unknown:
            problems.append(
                "NEST skips a receptor whose receptor_type it does not know, without an error, and still counts its "
                f"index: check the spelling (cm_default has {', '.join(RECEPTOR_TYPES)})"
            )
    if problems:
        raise ValueError("the neuron is not the one asked for: " + "; ".join(problems))


def create_neuron(nest, morphology: BallAndSticks, receptors, receptor_params: dict | None = None):
    """Create a ``cm_default`` neuron with the given tree and receptors
    (``[(compartment, type), ...]``; receptor index i is the i-th in this list)."""
    check_receptors(receptors, morphology.n_compartments)
    neuron = nest.Create("cm_default")
    neuron.compartments = morphology.compartments()
    neuron.receptors = [{"comp_idx": int(c), "receptor_type": t, "params": dict(receptor_params or {})} for c, t in receptors]
    return neuron


def _volleys(
    volleys,
    *,
    weight: float,
    receptor_type: str,
    morphology: BallAndSticks,
    receptor_params: dict | None,
    t_sim: float,
    t_input: float,
    caller: str,
) -> list[dict]:
    """Simulate one neuron per volley (a list of input sites), side by side in the
    notebook's fresh kernel: the neurons are not connected, so each responds as if alone."""
    weight = validation.positive_number("weight", weight, note=" (a conductance in µS)")
    if any(len(sites) == 0 for sites in volleys):
        raise ValueError("give at least one input site")
    nest = require_fresh_kernel(caller)
    generator = nest.Create("spike_generator", params={"spike_times": [t_input]})
    cells = []
    for sites in volleys:
        targets = sorted(set(int(s) for s in sites))
        neuron = create_neuron(nest, morphology, [(c, receptor_type) for c in targets], receptor_params)
        for site in sites:
            nest.Connect(generator, neuron, syn_spec={"weight": weight, "receptor_type": targets.index(int(site)), "delay": 0.1})
        meter = nest.Create(
            "multimeter",
            params={"record_from": [f"v_comp{i}" for i in range(morphology.n_compartments)], "interval": nest.resolution},
        )
        nest.Connect(meter, neuron)
        cells.append((targets, meter))
    nest.Simulate(t_sim)
    rest = morphology.soma["e_L"]
    results = []
    for targets, meter in cells:
        events = meter.events
        voltages = {i: np.asarray(events[f"v_comp{i}"]) for i in range(morphology.n_compartments)}
        results.append(
            {
                "times": np.asarray(events["times"]),
                "v": voltages,
                "soma_epsp": float(voltages[0].max() - rest),
                "local_epsp": {c: float(voltages[c].max() - rest) for c in targets},
            }
        )
    return results


def synchronous_input(
    sites,
    *,
    weight: float,
    receptor_type: str = "AMPA",
    morphology: BallAndSticks | None = None,
    receptor_params: dict | None = None,
    t_sim: float = 100.0,
    t_input: float = 10.0,
) -> dict:
    """One synchronous volley: one input of ``weight`` (µS) at each entry of ``sites``
    (compartment indices; a compartment may appear several times, its inputs then share
    one receptor). Returns the voltage traces of all compartments (mV) at every time
    step, and the peak depolarisation of the soma and of each targeted compartment.
    Runs in a fresh kernel (call ``nw.reset_kernel`` first)."""
    return _volleys(
        [sites],
        weight=weight,
        receptor_type=receptor_type,
        morphology=morphology or BallAndSticks(),
        receptor_params=receptor_params,
        t_sim=t_sim,
        t_input=t_input,
        caller="synchronous_input",
    )[0]


def volleys(
    sites: dict,
    *,
    weight: float,
    receptor_type: str = "AMPA",
    morphology: BallAndSticks | None = None,
    receptor_params: dict | None = None,
    t_sim: float = 100.0,
    t_input: float = 10.0,
) -> dict:
    """Several volleys side by side in one fresh kernel (call ``nw.reset_kernel`` first):
    ``sites`` maps a label to a list of input sites, as for :func:`synchronous_input`,
    and each label gets its own neuron. Returns ``{label: result of synchronous_input}``."""
    labels = list(sites)
    runs = _volleys(
        [sites[label] for label in labels],
        weight=weight,
        receptor_type=receptor_type,
        morphology=morphology or BallAndSticks(),
        receptor_params=receptor_params,
        t_sim=t_sim,
        t_input=t_input,
        caller="volleys",
    )
    return dict(zip(labels, runs))


def recorded(meter, neurons, labels=None) -> dict:
    """What the multimeter ``meter`` recorded from each of ``neurons``:
    ``{label: {"times": array, variable: array, ...}}``, the labels in the neurons' order
    (default 0, 1, ...). Says which neuron it recorded nothing from (not connected to the
    multimeter, or not simulated yet)."""
    labels = list(range(len(neurons))) if labels is None else list(labels)
    if len(labels) != len(neurons):
        raise ValueError(f"give one label per neuron: {len(labels)} labels for {len(neurons)} neurons")
    events = meter.events
    senders = np.asarray(events["senders"])
    out = {}
    for label, neuron in zip(labels, neurons):
        mine = senders == neuron.global_id
        if not mine.any():
            raise ValueError(
                f"the multimeter recorded nothing from neuron {label!r} (node {neuron.global_id}): "
                "connect the multimeter to it (nest.Connect(meter, neurons)) and simulate"
            )
        out[label] = {name: np.asarray(values)[mine] for name, values in events.items() if name != "senders"}
    return out


def input_weights(source, neuron, n_receptors: int) -> np.ndarray:
    """The summed weight (µS) of the connections from ``source`` to ``neuron``, per
    receptor index 0 .. ``n_receptors`` - 1 (read with ``nest.GetConnections``); raises
    if a connection targets a receptor index beyond them."""
    nest = import_nest()
    connections = nest.GetConnections(source, neuron)
    totals = np.zeros(n_receptors)
    if len(connections) == 0:
        return totals
    status = connections.get(["receptor", "weight"])
    for receptor, weight in zip(np.atleast_1d(status["receptor"]), np.atleast_1d(status["weight"])):
        if not 0 <= receptor < n_receptors:
            raise ValueError(f"a connection targets receptor {receptor}, but the neuron has receptors 0 to {n_receptors - 1}")
        totals[receptor] += weight
    return totals


def plot_voltages(runs: dict, compartments: dict, *, rest: float | None = None):
    """One panel per run (``{title: {"times": ..., "v_comp0": ...}}``, as from
    :func:`recorded`), each with the voltage of the ``compartments`` (``{index: label}``).
    With ``rest``, the panels show the depolarisation above it."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(runs), figsize=(5 * len(runs), 3.4), sharey=True, squeeze=False)
    for ax, (title, run) in zip(axes[0], runs.items()):
        for index, label in compartments.items():
            v = np.asarray(run[f"v_comp{index}"])
            ax.plot(run["times"], v if rest is None else v - rest, label=label)
        ax.set_title(str(title), fontsize=10)
        ax.set_xlabel("time (ms)")
    axes[0, 0].set_ylabel("V (mV)" if rest is None else "V − rest (mV)")
    axes[0, 0].legend(fontsize=8)
    return fig


def summation(
    n_inputs: int,
    *,
    layout: str,
    weight: float,
    receptor_type: str,
    morphology: BallAndSticks | None = None,
    receptor_params: dict | None = None,
    cluster_site: int | None = None,
) -> dict:
    """Somatic EPSP of ``n_inputs`` synchronous inputs, against the linear prediction.

    ``layout="clustered"``: all inputs on one compartment (default: the tip of branch 0);
    the prediction is n times the single-input EPSP there. ``layout="distributed"``: one
    input per compartment, tips first, then the next compartments inwards, over all
    branches; the prediction is the sum of each site's single-input EPSP. The volley and
    the single inputs run on separate neurons in one fresh kernel (call
    ``nw.reset_kernel`` first)."""
    morphology = morphology or BallAndSticks()
    n_inputs = validation.whole_number("n_inputs", n_inputs)
    if layout == "clustered":
        site = morphology.tip(0) if cluster_site is None else cluster_site
        sites = [site] * n_inputs
    elif layout == "distributed":
        order = [
            morphology.tip(b) - depth for depth in range(morphology.compartments_per_branch) for b in range(morphology.n_branches)
        ]
        if n_inputs > len(order):
            raise ValueError(f"distributed inputs need a compartment each: at most {len(order)} here")
        sites = order[:n_inputs]
    else:
        raise ValueError(f"layout must be 'clustered' or 'distributed', got {layout!r}")
    singles_at = sorted(set(sites))
    together, *alone = _volleys(
        [sites] + [[s] for s in singles_at],
        weight=weight,
        receptor_type=receptor_type,
        morphology=morphology,
        receptor_params=receptor_params,
        t_sim=100.0,
        t_input=10.0,
        caller="summation",
    )
    singles = {s: run["soma_epsp"] for s, run in zip(singles_at, alone)}
    linear = sum(singles[s] for s in sites)
    return {
        "n_inputs": n_inputs,
        "sites": sites,
        "soma_epsp": together["soma_epsp"],
        "linear_prediction": linear,
        "ratio": together["soma_epsp"] / linear,
        "local_epsp": together["local_epsp"],
    }
