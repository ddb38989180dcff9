"""Compartmental neurons with NEST's ``cm_default``: trees of compartments, receptors on
them, and dendritic computation.

``cm_default`` describes a neuron as a tree: each compartment has a parent
(``parent_idx``, -1 for the root, the soma), a capacitance ``C_m`` (nF), a leak ``g_L``
(µS) and a coupling conductance ``g_C`` (µS) to its parent; optional Na and K channels
(``gbar_Na``, ``gbar_K``) make it active. Receptors (``AMPA``, ``GABA``, ``NMDA``,
``AMPA_NMDA``) sit on compartments; a connection targets a receptor by its index, which
follows the order in which the receptors were added.

This module builds the workshop's "ball and sticks" neuron and runs the summation
experiments of notebook 1; runs the same trees in cm_default and in the part's NESTML
model ``cm_with_ih`` (cm_default plus an h-current) and measures what the h-current
changes (notebook 2); and reduces a reconstructed morphology with NEAT (notebook 3).
"""

from __future__ import annotations

import contextlib
import dataclasses
import filecmp
import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ..core import analysis, build_cache, validation
from ..core.kernel import import_nest, require_fresh_kernel

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
    if weight <= 0:
        raise ValueError(f"weight must be a positive conductance in µS, got {weight!r}")
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
    if not isinstance(n_inputs, int) or n_inputs < 1:
        raise ValueError(f"n_inputs must be a whole number of at least 1, got {n_inputs!r}")
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


# ---------------------------------------------------------------------------------------
# NESTML: cm_default written in NESTML, and an h-current added to it (notebook 2)
#
# The part's NESTML model ``cm_with_ih`` (``models/cm_with_ih.nestml``) has cm_default's
# passive membrane, Na and K channels and AMPA receptor, with the same equations and
# parameter names, plus an h-current (``gbar_h``, ``e_h``) that is off unless ``gbar_h``
# is set. The helpers run the same tree with the same inputs in either model, so the
# two can be compared directly, and measure what the h-current changes.
#
# What differs in use (the helpers take care of it):
# - injected current: cm_default takes a current generator on receptor_type = the
#   compartment's index; the NESTML model takes it through a "current_input" receptor
#   placed on the compartment, addressed by that receptor's index;
# - recordable names: cm_default's channel states are "m_Na_0", the NESTML model's
#   "m_Na0" (voltages are "v_comp0" in both).
# What differs in the numbers: cm_default integrates with the Crank–Nicolson scheme
# (second order in the time step), the code NESTML 9.0 generates with implicit Euler
# (first order). Both solve the same equations and converge to the same solution as the
# time step shrinks; at 0.1 ms, spikes of tonic firing drift apart by about 1 % of the
# interspike interval (notebook 2 measures it).
# ---------------------------------------------------------------------------------------

MODELS = Path("models")  # relative to the part's folder, where its notebooks run
NESTML_MODEL = "cm_with_ih"
CURRENT_INPUT = "current_input"  # the NESTML model's receptor for injected current
COMPARTMENT_KEYS = ("C_m", "g_C", "g_L", "e_L", "v_comp")
MODEL_CHANNEL_KEYS = {
    "cm_default": ("gbar_Na", "e_Na", "gbar_K", "e_K"),
    NESTML_MODEL: ("gbar_Na", "e_Na", "gbar_K", "e_K", "gbar_h", "e_h"),
}
E_H = -45.0  # mV, reversal potential of the h-current


def build_model(models_dir: str | Path = MODELS):
    """Build (or load from the cache) the part's NESTML model ``cm_with_ih``.
    Keep in step with the part's ``nestml_modules.toml``."""
    from ..core import nestml

    return nestml.build([Path(models_dir) / "cm_with_ih.nestml"], module_name="compartmental", target="nest_compartmental")


def ih_kinetics(v) -> tuple[np.ndarray, np.ndarray]:
    """Steady-state activation ``m_inf`` and time constant ``tau`` (ms) of the h-current
    at voltages ``v`` (mV): Kole et al. (2006) as in Hay et al. (2011), the same
    equations as in ``cm_with_ih.nestml``."""
    v = np.asarray(v, dtype=float)
    x = v + 154.9
    small = np.abs(x) < 1e-6
    alpha = 0.00643 * np.where(small, 11.9, x / np.expm1(np.where(small, 1.0, x) / 11.9))  # 1/ms
    beta = 0.193 * np.exp(v / 33.1)  # 1/ms
    return alpha / (alpha + beta), 1.0 / (alpha + beta)


def check_compartments(compartments, model: str = "cm_default") -> None:
    """A compartment list as for ``cm_default``: parents before children, the soma
    first, and only parameters the model has. Errors name the valid choices."""
    if model not in MODEL_CHANNEL_KEYS:
        raise ValueError(f"unknown model {model!r}: use one of {', '.join(MODEL_CHANNEL_KEYS)}")
    if not isinstance(compartments, (list, tuple)) or not compartments:
        raise ValueError("give the compartments as a non-empty list of {'parent_idx': ..., 'params': {...}}")
    allowed = COMPARTMENT_KEYS + MODEL_CHANNEL_KEYS[model]
    for i, compartment in enumerate(compartments):
        if not isinstance(compartment, dict) or "parent_idx" not in compartment:
            raise ValueError(f"compartment {i} must be a dict with 'parent_idx' and 'params', got {compartment!r}")
        parent = compartment["parent_idx"]
        if i == 0 and parent != -1:
            raise ValueError(f"compartment 0 is the soma, the root of the tree: its parent_idx must be -1, got {parent!r}")
        if i > 0 and not (isinstance(parent, (int, np.integer)) and 0 <= parent < i):
            raise ValueError(f"compartment {i}: parent_idx must be an earlier compartment, 0 to {i - 1}, got {parent!r}")
        params = compartment.get("params", {})
        for key, value in params.items():
            if key not in allowed:
                extra = (
                    f" ({model} has no h-current: it is a channel of the NESTML model {NESTML_MODEL})"
                    if key in ("gbar_h", "e_h")
                    else ""
                )
                raise ValueError(
                    f"compartment {i}: {model} has no parameter {key!r}{extra}; its parameters are {', '.join(allowed)}"
                )
            if key.startswith("gbar_") and not value >= 0:
                raise ValueError(f"compartment {i}: {key} is a maximal conductance in µS, at least 0; got {value!r}")
        if model == "cm_default" and "e_K" in params and "e_Na" not in params:
            # NEST 3.10's K channel reads e_K only when e_Na is given (its constructor tests
            # for "e_Na"); otherwise NEST stops with "Unread dictionary entries: e_K"
            raise ValueError(
                f"compartment {i}: cm_default (NEST 3.10) accepts e_K only together with e_Na; "
                "add 'e_Na': 50.0 (its default) to the parameters"
            )
        if "C_m" in params and not params["C_m"] > 0:
            raise ValueError(f"compartment {i}: C_m must be a positive capacitance in nF, got {params['C_m']!r}")


def set_ih(compartments, gbar_h: dict, e_h: float = E_H) -> list[dict]:
    """A copy of ``compartments`` with the h-current's maximal conductance ``gbar_h``
    (``{compartment: µS}``) in the given compartments; the others keep theirs."""
    import copy

    tree = copy.deepcopy(list(compartments))
    if not isinstance(gbar_h, dict):
        raise ValueError(f"give gbar_h as {{compartment: conductance in µS}}, for example {{0: 0.1}}; got {gbar_h!r}")
    for compartment, value in gbar_h.items():
        if not isinstance(compartment, (int, np.integer)) or not 0 <= compartment < len(tree):
            raise ValueError(f"there is no compartment {compartment!r}: this neuron has compartments 0 to {len(tree) - 1}")
        if not value >= 0:
            raise ValueError(f"gbar_h is a maximal conductance in µS, at least 0; got {value!r} for compartment {compartment}")
        tree[compartment]["params"] = {**tree[compartment].get("params", {}), "gbar_h": float(value), "e_h": float(e_h)}
    return tree


def ih_gradient(morphology: BallAndSticks, *, soma: float, tip: float) -> dict:
    """``{compartment: gbar_h}`` (µS): ``soma`` on the soma and, along every branch, a
    conductance that rises linearly from ``tip / n`` next to the soma to ``tip`` at the
    tip (n compartments per branch). HCN channels are denser far from the soma
    (more than sixfold in CA1 pyramidal neurons, Magee 1998; Kole et al. 2006 in layer 5)."""
    if not (soma >= 0 and tip >= 0):
        raise ValueError(f"soma and tip are maximal conductances in µS, at least 0; got soma={soma!r}, tip={tip!r}")
    n = morphology.compartments_per_branch
    gbar = {0: float(soma)}
    for branch in range(morphology.n_branches):
        for depth in range(n):
            gbar[morphology.base(branch) + depth] = float(tip) * (depth + 1) / n
    return gbar


def _recordable(model: str, variable: str, compartment: int) -> str:
    if variable == "v_comp":
        return f"v_comp{compartment}"
    return f"{variable}_{compartment}" if model == "cm_default" else f"{variable}{compartment}"


def _create_cell(
    nest,
    model: str,
    compartments,
    *,
    t_sim: float,
    ampa: dict | None = None,
    ampa_weight=0.001,
    currents: dict | None = None,
    record=(),
    V_th: float = -55.0,
):
    """Create one neuron of ``model`` with its inputs and recorders in the running kernel
    (see :func:`run_cell`); return a function that reads its results after the simulation."""
    check_compartments(compartments, model)
    n = len(compartments)
    ampa, currents = dict(ampa or {}), dict(currents or {})
    for where, name in ((ampa, "ampa"), (currents, "currents")):
        for compartment in where:
            if not isinstance(compartment, (int, np.integer)) or not 0 <= compartment < n:
                raise ValueError(f"{name}: there is no compartment {compartment!r}; this neuron has compartments 0 to {n - 1}")
    if not t_sim > 0:
        raise ValueError(f"t_sim must be a positive duration in ms, got {t_sim!r}")
    weights = ampa_weight if isinstance(ampa_weight, dict) else {c: ampa_weight for c in ampa}
    for compartment in ampa:
        if compartment not in weights or not weights[compartment] > 0:
            raise ValueError(
                f"ampa_weight must be a positive conductance in µS for compartment {compartment}, "
                f"got {weights.get(compartment)!r}"
            )
    if record and model == "cm_default" and any(name in ("m_h", "h") for name, _ in record):
        raise ValueError(f"cm_default has no h-current to record; record it from {NESTML_MODEL}")

    if model not in nest.node_models:
        raise ValueError(f"NEST does not know {model!r}: build and load it first with compartmental.build_model()")
    resolution = nest.resolution
    neuron = nest.Create(model, params={"V_th": V_th})
    tree = [
        {"parent_idx": int(c["parent_idx"]), "params": {"v_comp": c.get("params", {}).get("e_L", -70.0), **c.get("params", {})}}
        for c in compartments
    ]
    neuron.compartments = tree
    receptors = [{"comp_idx": int(c), "receptor_type": "AMPA"} for c in ampa]
    if model != "cm_default":
        receptors += [{"comp_idx": int(c), "receptor_type": CURRENT_INPUT} for c in currents]
    if receptors:
        neuron.receptors = receptors
    for index, (compartment, times) in enumerate(ampa.items()):
        times = validation.event_times(f"ampa[{compartment}]", times, t_sim)
        source = nest.Create("spike_generator", params={"spike_times": np.round(times / resolution) * resolution})
        nest.Connect(
            source, neuron, syn_spec={"weight": float(weights[compartment]), "delay": resolution, "receptor_type": index}
        )
    for index, (compartment, steps) in enumerate(currents.items()):
        times, values = [], []
        for start, stop, amplitude in steps:
            validation.event_times(f"currents[{compartment}]", [start, stop], t_sim)
            if not start < stop:
                raise ValueError(f"currents[{compartment}]: a step needs start < stop, got ({start}, {stop})")
            times += [start, stop]
            values += [amplitude, 0.0]
        port = int(compartment) if model == "cm_default" else len(ampa) + index
        generator = nest.Create("step_current_generator", params={"amplitude_times": times, "amplitude_values": values})
        nest.Connect(generator, neuron, syn_spec={"receptor_type": port, "delay": resolution})
    names = [f"v_comp{i}" for i in range(n)] + [_recordable(model, name, c) for name, c in record]
    meter = nest.Create("multimeter", params={"record_from": names, "interval": resolution})
    spikes = nest.Create("spike_recorder")
    nest.Connect(meter, neuron)
    nest.Connect(neuron, spikes)

    def read() -> dict:
        events = meter.events
        return {
            "model": model,
            "resolution": resolution,
            "times": np.asarray(events["times"]),
            "v": {i: np.asarray(events[f"v_comp{i}"]) for i in range(n)},
            "states": {(name, c): np.asarray(events[_recordable(model, name, c)]) for name, c in record},
            "spikes": np.asarray(spikes.events["times"]),
        }

    return read


def run_cell(
    model: str,
    compartments,
    *,
    t_sim: float,
    ampa: dict | None = None,
    ampa_weight=0.001,
    currents: dict | None = None,
    record=(),
    V_th: float = -55.0,
) -> dict:
    """Simulate one neuron of ``model`` ("cm_default" or "cm_with_ih") with the given
    tree (``compartments`` as for cm_default).

    ``ampa = {compartment: spike times (ms)}`` puts an AMPA receptor on each compartment,
    driven at those times with ``ampa_weight`` (µS; a number, or ``{compartment: µS}``).
    ``currents = {compartment: [(start, stop, amplitude in nA), ...]}`` injects current
    steps. ``record`` lists extra state variables as ``(name, compartment)``, e.g.
    ``("m_h", 0)`` or ``("h", 0)`` (the h-current, nA). Every compartment's voltage is
    recorded every time step. Returns ``times``, ``v`` ({compartment: mV}), ``spikes``
    (somatic spike times, ms), ``states`` ({(name, compartment): values}).

    Each compartment starts at its e_L (``v_comp`` = e_L unless given), the same in both
    models; let the neuron settle before the inputs when its rest is not e_L. Runs in a
    fresh kernel, at its resolution: call ``nw.reset_kernel(..., resolution=...)`` first.
    """
    nest = require_fresh_kernel("run_cell")
    read = _create_cell(
        nest, model, compartments, t_sim=t_sim, ampa=ampa, ampa_weight=ampa_weight, currents=currents, record=record, V_th=V_th
    )
    nest.Simulate(float(t_sim))
    return read()


def spike_time_differences(reference, other) -> dict:
    """Spike times of ``other`` minus those of ``reference`` (ms), paired in order (the
    first with the first, ...); meaningful when both have the same number of spikes."""
    reference, other = np.asarray(reference, dtype=float), np.asarray(other, dtype=float)
    k = min(len(reference), len(other))
    dt = other[:k] - reference[:k]
    return {"n_reference": len(reference), "n_other": len(other), "dt": dt, "max_abs": float(np.max(np.abs(dt))) if k else 0.0}


def compare_models(compartments, *, t_sim: float, **inputs) -> dict:
    """The same tree and inputs in cm_default and in the NESTML model (``inputs`` as for
    :func:`run_cell`), side by side in one fresh kernel (call ``nw.reset_kernel(...,
    resolution=...)`` first; the two neurons are not connected). Returns both runs and the
    spike-time differences (NESTML minus cm_default)."""
    nest = require_fresh_kernel("compare_models")
    read_reference = _create_cell(nest, "cm_default", compartments, t_sim=t_sim, **inputs)
    read_nestml = _create_cell(nest, NESTML_MODEL, compartments, t_sim=t_sim, **inputs)
    nest.Simulate(float(t_sim))
    reference, nestml_run = read_reference(), read_nestml()
    return {
        "cm_default": reference,
        NESTML_MODEL: nestml_run,
        "spikes": spike_time_differences(reference["spikes"], nestml_run["spikes"]),
    }


def sag_measures(times, v, t_on: float, t_off: float, *, window: float = 50.0) -> dict:
    """Measures of the response to a hyperpolarising current step from ``t_on`` to
    ``t_off`` (ms): ``rest`` (mean over ``window`` ms before the step), ``v_min`` (the
    most negative voltage during the step), ``v_steady`` (mean over its last ``window``
    ms), ``sag_ratio`` = (v_steady - v_min) / (rest - v_min), the fraction of the peak
    hyperpolarisation that is recovered during the step (0: no sag), and ``rebound``,
    the peak depolarisation above rest after the step (mV)."""
    times, v = np.asarray(times, dtype=float), np.asarray(v, dtype=float)
    if times.shape != v.shape or times.size < 3:
        raise ValueError("times and v must be equally long recordings")
    if not (times[0] + window <= t_on < t_off - window and t_off < times[-1]):
        raise ValueError(
            f"the recording ({times[0]}–{times[-1]} ms) must hold {window} ms before the step, "
            f"a step longer than {window} ms ({t_on}–{t_off} ms) and some time after it"
        )
    before = (times >= t_on - window) & (times < t_on)
    during = (times >= t_on) & (times < t_off)
    late = (times >= t_off - window) & (times < t_off)
    rest, v_min, v_steady = v[before].mean(), v[during].min(), v[late].mean()
    if not v_min < rest:
        raise ValueError("the voltage does not go below rest during the step: is the current hyperpolarising (negative)?")
    return {
        "rest": float(rest),
        "v_min": float(v_min),
        "v_steady": float(v_steady),
        "sag_ratio": float((v_steady - v_min) / (rest - v_min)),
        "rebound": float(v[times >= t_off].max() - rest),
    }


def plot_sag(runs: dict, *, t_on: float, t_off: float):
    """The soma's voltage (top) and the h-gate ``m_h0`` (bottom) of each run
    (``{label: {"times": ..., "v_comp0": ..., "m_h0": ...}}``, as from :func:`recorded`),
    the current step shaded; prints each run's measures when it has them (``sag_measures``)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 1, figsize=(9, 5), sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    for label, run in runs.items():
        axes[0].plot(run["times"], run["v_comp0"], label=label)
        axes[1].plot(run["times"], run["m_h0"], label=label)
        if "sag_ratio" in run:
            print(
                f"{label:17s}: rest {run['rest']:.2f} mV, minimum {run['v_min']:.2f} mV, end of step "
                f"{run['v_steady']:.2f} mV, sag ratio {run['sag_ratio']:.3f}, rebound {run['rebound']:+.2f} mV"
            )
    for ax in axes:
        ax.axvspan(t_on, t_off, color="gray", alpha=0.1)
    axes[0].set_ylabel("V soma (mV)")
    axes[0].legend(fontsize=8)
    axes[1].set_ylabel("h-channels open, $m_h$")
    axes[1].set_xlabel("time (ms)")
    return fig


def hyperpolarising_step(
    model: str,
    compartments,
    *,
    amplitude: float = -0.1,
    site: int = 0,
    t_on: float = 500.0,
    duration: float = 500.0,
    t_after: float = 300.0,
    record_ih: bool = True,
) -> dict:
    """Inject a hyperpolarising current step (``amplitude`` nA, negative) into ``site``
    after ``t_on`` ms of settling; returns the run (see :func:`run_cell`) with the
    :func:`sag_measures` at the soma and the spikes after the step (rebound spikes)."""
    if not amplitude < 0:
        raise ValueError(f"a hyperpolarising step has a negative amplitude (nA), got {amplitude!r}")
    record = [("m_h", 0), ("h", 0)] if record_ih and model != "cm_default" else []
    t_off = t_on + duration
    run = run_cell(model, compartments, t_sim=t_off + t_after, currents={site: [(t_on, t_off, amplitude)]}, record=record)
    run.update(
        sag_measures(run["times"], run["v"][0], t_on, t_off),
        t_on=t_on,
        t_off=t_off,
        rebound_spikes=run["spikes"][run["spikes"] > t_off],
    )
    return run


def epsp_amplitudes(times, v, input_times, rest: float) -> np.ndarray:
    """Peak depolarisation above ``rest`` (mV) after each input, each measured until the
    next input (the last one over the same interval as the one before)."""
    times, v = np.asarray(times, dtype=float), np.asarray(v, dtype=float)
    input_times = np.sort(np.asarray(input_times, dtype=float))
    if input_times.size < 2:
        raise ValueError("give at least two input times")
    ends = np.append(input_times[1:], input_times[-1] + np.diff(input_times)[-1])
    return np.array([v[(times >= start) & (times < end)].max() - rest for start, end in zip(input_times, ends)])


def epsp_train(
    model: str, compartments, *, site: int, n_inputs: int = 5, rate: float = 20.0, weight: float = 0.001, t_start: float = 500.0
) -> dict:
    """A regular train of ``n_inputs`` AMPA inputs (``weight`` µS) at ``rate`` (Hz) on
    compartment ``site``, after ``t_start`` ms of settling (Magee 1999's protocol).
    Returns the run with ``rest`` (soma, mV), the somatic EPSP ``amplitudes`` (mV above
    rest, peak after each input) and ``summation`` = last / first amplitude."""
    if not isinstance(n_inputs, int) or n_inputs < 2:
        raise ValueError(f"n_inputs must be a whole number of at least 2, got {n_inputs!r}")
    if not rate > 0:
        raise ValueError(f"rate must be a positive input rate in Hz, got {rate!r}")
    interval = 1000.0 / rate
    inputs = t_start + interval * np.arange(n_inputs)
    run = run_cell(model, compartments, t_sim=inputs[-1] + 2 * interval + 100.0, ampa={site: inputs}, ampa_weight=weight)
    if run["spikes"].size:
        raise ValueError(
            f"the neuron fired ({run['spikes'].size} spikes): EPSP summation needs subthreshold inputs; use a smaller weight"
        )
    times, v = run["times"], run["v"][0]
    rest = float(v[(times >= t_start - 50.0) & (times < t_start)].mean())
    # the inputs arrive one time step (the connection delay) after their spike times
    amplitudes = epsp_amplitudes(times, v, inputs + run["resolution"], rest)
    run.update(rest=rest, input_times=inputs, amplitudes=amplitudes, summation=float(amplitudes[-1] / amplitudes[0]))
    return run


# ---------------------------------------------------------------------------------------
# NEAT: from a reconstructed morphology to a reduced cm_default neuron (notebook 3)
#
# NEAT (NEural Analysis Toolkit, ``pip install nest-neat``, imported as ``neat``) reads a
# morphology (SWC), gives it a passive membrane, and fits a small compartment tree whose
# compartments sit at chosen locations ("sites") so that it reproduces the full
# morphology's responses there. The fitted tree exports to ``cm_default``. The full
# morphology is simulated with NEURON through NEAT's ``NeuronSimTree``; a passive
# membrane needs only NEURON's built-in mechanisms (``pas``, ``Exp2Syn``, ``NetStim``),
# so nothing is compiled.
#
# NEAT writes a ``neatcache/`` folder into the working directory when trees are created,
# and on import without a display it switches matplotlib to the Agg backend. The helpers
# below run NEAT in a temporary folder and restore the matplotlib backend, so nothing is
# written into the materials and inline figures keep working.
# ---------------------------------------------------------------------------------------


# SWC point types NEAT keeps by default: 1 soma, 3 basal dendrite, 4 apical dendrite
SWC_TYPES = {1: "soma", 2: "axon", 3: "basal dendrite", 4: "apical dendrite"}
# The full cell's segments for EPSPs: 4 times the lambda rule's (Carnevale's rule at
# 100 Hz). A fast EPSP in a thin dendrite has more high frequencies than the rule is made
# for: with the rule alone, the local EPSP at a thin apical site 700 µm out was 19 % too
# large (2.93 mV against 2.47 converged, NEAT's cell1_simplified), at 4 times 1.4 %; the
# L2/3 cell's reduction errors shrink with it (local: 2-4 % -> 1-3 %).
FULL_MODEL_LAMBDA_FACTOR = 4.0
# passive membrane: capacitance (µF/cm²), axial resistance (Ω cm), membrane time constant
# (ms) and resting potential (mV); the leak conductance follows from tau_m and c_m
PASSIVE = {"c_m": 1.0, "r_a": 100.0, "tau_m": 10.0, "e_eq": -75.0}
# AMPA kinetics used in both simulators (cm_default's defaults): rise 0.2 ms, decay 3 ms
AMPA = {"e_AMPA": 0.0, "tau_r_AMPA": 0.2, "tau_d_AMPA": 3.0}
# Na and K of cm_default on the reduced soma, per nF of its capacitance (µS/nF); with them
# the reduced neuron fires (the dendrites stay passive)
ACTIVE_SOMA_DENSITY = {"gbar_Na": 90.0, "gbar_K": 30.0}
# one per user: on a shared machine (a workshop server) /tmp is everybody's
NEAT_WORKDIR = Path(tempfile.gettempdir()) / f"nest-workshop-neat-{os.getuid()}"
NEAT_CACHE_ENV = "NEST_WORKSHOP_NEAT_CACHE"


def neat_cache_dir() -> Path:
    """Where NEAT's cached tree computations are kept between fits and sessions:
    ``$NEST_WORKSHOP_NEAT_CACHE``, or ``~/.cache/nest-workshop/neat``; one folder per NEAT
    version, whose files another version might not read."""
    if os.environ.get(NEAT_CACHE_ENV):
        root = Path(os.environ[NEAT_CACHE_ENV])
    else:
        root = build_cache.user_cache("neat")
    return root.expanduser() / f"nest-neat-{importlib.metadata.version('nest-neat')}"


def _shared_neat_dir(own: Path) -> Path | None:
    """The shared, read-only counterpart of ``own`` (a folder of :func:`neat_cache_dir`'s
    parent) on a workshop server, if there is one (:func:`build_cache.shared_root`)."""
    shared = build_cache.shared_root("neat")
    return shared / own.name if shared is not None and (shared / own.name).is_dir() else None


@contextlib.contextmanager
def _in_neat_workdir():
    """Run NEAT inside a temporary folder: its ``neatcache/`` lands there, not here."""
    NEAT_WORKDIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    here = os.getcwd()
    os.chdir(NEAT_WORKDIR)
    try:
        yield NEAT_WORKDIR
    finally:
        os.chdir(here)


def neat_workdir():
    """``with compartmental.neat_workdir(): ...`` runs NEAT calls in a temporary folder
    (``<tmp>/nest-workshop-neat-<uid>``) and comes back: NEAT 1.1's ``fit_model`` creates a
    ``neatcache/`` folder in the working directory even when its cache files go to the
    ``cache_path`` it is given (an ``EquilibriumTree`` made with the default path)."""
    return _in_neat_workdir()


@contextlib.contextmanager
def _quiet_file_descriptors():
    """Silence output written straight to the process's stdout/stderr (NEURON's and
    NEST's banners, NEAT's display probe); replay it if something fails."""
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    import io

    with tempfile.TemporaryFile(mode="w+b") as sink:
        saved = [os.dup(1), os.dup(2)]
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        text = io.StringIO()  # Python-level prints (Jupyter's streams)
        try:
            with contextlib.redirect_stdout(text), contextlib.redirect_stderr(text):
                yield
        except BaseException:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace") + text.getvalue())
            raise
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def import_neat():
    """Import NEAT (which imports NEST and NEURON) without side effects: nothing written
    into the working directory, no banners, matplotlib's backend unchanged (without a
    display NEAT would switch it to Agg and inline figures would vanish). Raises an
    ImportError that says what to install."""
    import sys

    if "neat" in sys.modules:
        return sys.modules["neat"]
    import matplotlib

    backend = matplotlib.get_backend()
    path = os.environ.get("PATH", "")
    # NEAT probes for a display by running `python -c "import matplotlib.pyplot ..."`:
    # let `python` be this environment's interpreter, which has matplotlib
    os.environ["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), path])
    try:
        with _in_neat_workdir(), _quiet_file_descriptors():
            import neat
    except ImportError as error:
        raise ImportError("NEAT is missing: run `%pip install nest-neat==1.1 six` and restart the kernel") from error
    finally:
        os.environ["PATH"] = path
        if matplotlib.get_backend() != backend:
            matplotlib.use(backend)
    return neat


def check_swc(path) -> Path:
    """Check that ``path`` is an SWC morphology file: lines of seven numbers
    ``id type x y z radius parent`` (``#`` starts a comment), a soma point (type 1) as root."""
    path = Path(path)
    if not path.is_file():
        folder = path.parent if path.parent.is_dir() else Path(".")
        found = sorted(p.name for p in folder.glob("*.swc"))
        raise FileNotFoundError(
            f"no morphology file {str(path)!r}; SWC files in {str(folder)!r}: {', '.join(found) if found else 'none'}"
        )
    roots = 0
    soma = False
    with open(path, errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            fields = line.split()
            try:
                values = [float(v) for v in fields]
            except ValueError:
                values = []
            if len(fields) != 7 or not values:
                raise ValueError(
                    f"{path.name} is not an SWC file: line {number} is {line[:60]!r}; an SWC line has "
                    "7 numbers: id, type, x, y, z, radius, parent id (-1 for the root)"
                )
            roots += values[6] == -1
            soma |= values[1] == 1
    if roots != 1 or not soma:
        raise ValueError(
            f"{path.name} is not a usable SWC morphology: it needs exactly one root point "
            f"(parent -1) and a soma (type 1); found {roots} roots, {'a' if soma else 'no'} soma"
        )
    return path


def load_morphology(path, passive: dict | None = None, channels=()):
    """Read an SWC file into a NEAT ``PhysTree`` with a passive membrane (``PASSIVE``,
    overridable), ready for fitting and for NEURON. The axon is left out (NEAT's default).

    ``channels`` adds ion channels: ``(channel, density, region)`` each, with a NEAT
    ``IonChannel`` (for example :func:`ih_channel`), its density in µS/cm² (a number, or
    a function of the distance to the soma in µm) and NEAT's region name (``"somatic"``,
    ``"basal"``, ``"apical"``, or ``"all"``). Their NEURON mechanisms are compiled first
    (:func:`load_neuron_mechanisms`). The leak is then fitted so that the membrane rests
    at ``e_eq`` with time constant ``tau_m`` with the channels open as they are at rest."""
    path = check_swc(path).resolve()  # before NEAT runs in its own working directory
    params = {**PASSIVE, **(passive or {})}
    unknown = set(params) - set(PASSIVE)
    if unknown:
        raise ValueError(f"unknown passive parameters {sorted(unknown)}: use {', '.join(PASSIVE)}")
    neat = import_neat()
    channels = [_check_channel_entry(neat, entry) for entry in channels]
    if channels:
        load_neuron_mechanisms([channel for channel, _, _ in channels])
    with _in_neat_workdir(), _quiet_file_descriptors():
        tree = neat.PhysTree(str(path))
        tree.set_physiology(params["c_m"], params["r_a"] * 1e-6)  # NEAT takes r_a in MΩ cm
        for channel, density, region in channels:
            tree.add_channel_current(channel, density, channel.e, node_arg=region)
        tree.fit_leak_current(params["e_eq"], params["tau_m"])
        tree.set_v_ep(params["e_eq"])
        tree.set_comp_tree()
    tree.passive = params
    return tree


NEAT_REGIONS = ("all", "somatic", "basal", "apical")


def _check_channel_entry(neat, entry):
    try:
        channel, density, region = entry
    except (TypeError, ValueError):
        raise ValueError(f"give each channel as (channel, density in µS/cm², region), got {entry!r}") from None
    if not isinstance(channel, neat.IonChannel):
        raise ValueError(f"{channel!r} is not a NEAT IonChannel (for the h-current use compartmental.ih_channel())")
    if region not in NEAT_REGIONS:
        raise ValueError(f"unknown region {region!r}: use one of {', '.join(NEAT_REGIONS)}")
    if not callable(density) and not (isinstance(density, (int, float)) and density >= 0):
        raise ValueError(
            f"the density of {type(channel).__name__} must be µS/cm² >= 0 or a function of distance, got {density!r}"
        )
    return channel, density, region


# The h-current of notebook 2 (``cm_with_ih``) for NEAT and NEURON: NEAT names a
# channel by its class, NEST's NESTML model by its own suffix.
IH_CHANNEL = "Ih"
NEAT_TO_NESTML_CHANNEL = {IH_CHANNEL: "h"}
# Hay et al. (2011), L5PCbiophys3: 0.2 mS/cm² in the soma, rising along the apical
# dendrite as 0.2 mS/cm² × (-0.8696 + 2.087 exp(d / 323 µm)) (d: distance to the soma)
IH_SOMA_DENSITY = 200.0  # µS/cm²


def ih_density_apical(distance):
    """Hay et al.'s apical h-channel density (µS/cm²) at ``distance`` µm from the soma."""
    return IH_SOMA_DENSITY * (-0.8696 + 2.087 * np.exp(np.asarray(distance, dtype=float) / 323.0))


def ih_channel():
    """The h-current of ``cm_with_ih`` (Kole et al. 2006, as in Hay et al. 2011) as a NEAT
    ``IonChannel``: one gate ``m`` with the rate functions of :func:`ih_kinetics`, reversal
    ``E_H``. NEAT writes its NEURON mechanism (``IIh``) and fits its conductance."""
    neat = import_neat()
    cls = globals().get(IH_CHANNEL)
    if cls is None:

        def define(self):
            self.p_open = "m"
            self.alpha = {"m": "0.00643 * (v + 154.9) / (exp((v + 154.9) / 11.9) - 1.)"}  # 1/ms
            self.beta = {"m": "0.193 * exp(v / 33.1)"}  # 1/ms
            self.e = E_H

        # a module-level class, so that NEAT can pickle trees that carry it
        cls = type(IH_CHANNEL, (neat.IonChannel,), {"define": define, "__module__": __name__, "__qualname__": IH_CHANNEL})
        globals()[IH_CHANNEL] = cls
    return cls()


_loaded_mechanisms: dict[str, str] = {}  # mod file name: key of the loaded build


def neuron_mechanisms_dir() -> Path:
    """Where compiled NEURON mechanisms are kept: beside NEAT's cache (see
    :func:`neat_cache_dir`), one folder per NEURON version."""
    return neat_cache_dir().parent / f"neuron-mechanisms-{importlib.metadata.version('neuron')}"


def _nrnivmodl() -> str:
    """NEURON's mechanism compiler, from this environment's NEURON wheel."""
    beside = Path(sys.executable).parent / "nrnivmodl"
    return str(beside) if beside.exists() else "nrnivmodl"


def load_neuron_mechanisms(channels) -> Path:
    """Write NEAT's ``.mod`` file of each channel, compile them with NEURON's
    ``nrnivmodl`` (a few seconds, once: the result is cached under
    :func:`neuron_mechanisms_dir`, keyed by the mod files' text) and load them into NEURON.
    A failed or interrupted compilation leaves no cache entry behind."""
    import neuron

    with tempfile.TemporaryDirectory() as folder:
        mech = Path(folder) / "mech"
        mech.mkdir()
        for channel in channels:
            channel.write_mod_file(str(mech) + os.sep)
        texts = {path.name: path.read_bytes() for path in sorted(mech.glob("*.mod"))}
        key = hashlib.sha256(b"".join(name.encode() + text for name, text in texts.items())).hexdigest()[:16]
        target = neuron_mechanisms_dir() / key
        shared = _shared_neat_dir(neuron_mechanisms_dir())
        if not target.is_dir() and shared is not None and (shared / key).is_dir():
            target = shared / key  # compiled once for everyone on a workshop server
        for name in texts:
            if _loaded_mechanisms.get(name, key) != key:
                raise RuntimeError(
                    f"NEURON already has another {name[:-4]} mechanism loaded, and cannot unload it: "
                    "restart the kernel to load a changed channel"
                )
        if not target.is_dir():
            partial = target.parent / f".{key}.{os.getpid()}.partial"
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir(parents=True)
            shutil.copytree(mech, partial / "mech")
            done = subprocess.run([_nrnivmodl(), "mech"], cwd=partial, capture_output=True, text=True)
            if done.returncode != 0:
                shutil.rmtree(partial, ignore_errors=True)
                raise RuntimeError(f"nrnivmodl could not compile {', '.join(texts)}:\n{(done.stdout + done.stderr)[-3000:]}")
            try:
                os.replace(partial, target)  # one rename: the entry is whole or absent
            except OSError:  # another process published it first
                shutil.rmtree(partial, ignore_errors=True)
    if not all(_loaded_mechanisms.get(name) == key for name in texts):
        with _quiet_file_descriptors():
            loaded = neuron.load_mechanisms(str(target))
        if not loaded:
            raise RuntimeError(f"NEURON could not load the mechanisms compiled in {target}")
        _loaded_mechanisms.update(dict.fromkeys(texts, key))
    return target


def _ranges(numbers) -> str:
    numbers = sorted(numbers)
    parts, start = [], numbers[0]
    for previous, current in zip(numbers, numbers[1:] + [None]):
        if current != previous + 1:
            parts.append(f"{start}" if start == previous else f"{start}–{previous}")
            start = current
    return ", ".join(parts)


def check_sites(tree, sites: dict) -> None:
    """Each site is ``name: (node, x)``: a node of the tree and a position 0 ≤ x ≤ 1 along
    it (0 at the parent end); the soma is node 1. Errors name the valid choices."""
    if not isinstance(sites, dict) or not sites:
        raise ValueError("give the sites as a dict {name: (node, x)}, for example {'soma': (1, 0.5)}")
    valid = [node.index for node in tree]
    for name, site in sites.items():
        if not (isinstance(site, (tuple, list)) and len(site) == 2):
            raise ValueError(f"site {name!r} must be (node, x), got {site!r}")
        node, x = site
        if not isinstance(node, (int, np.integer)) or node not in valid:
            raise ValueError(
                f"site {name!r}: node {node!r} is not on the tree; its nodes are {_ranges(valid)} "
                "(1 = soma; the axon is left out)"
            )
        if not 0.0 <= float(x) <= 1.0:
            raise ValueError(f"site {name!r}: x = {x!r} is off the branch; x runs from 0 (parent end) to 1")
    if list(sites.values())[0][0] != 1:
        raise ValueError(f"the first site must be the soma (node 1): the reduced tree's root; got {list(sites.items())[0]}")


def distance_to_soma(tree, site) -> float:
    """Path length (µm) from the soma's centre to ``site = (node, x)``."""
    return float(tree.path_length(tuple(site), (1, 0.5)))


def site_region(tree, site) -> str:
    """ "soma", "basal dendrite" or "apical dendrite"."""
    return SWC_TYPES.get(tree[site[0]].swc_type, "other")


def support_locations(tree, site, fractions) -> list[tuple]:
    """Locations on the path from the soma to ``site`` at the given fractions of its
    distance: extra compartments that make the reduced model more accurate near ``site``."""
    total = distance_to_soma(tree, site)
    out = []
    for fraction in fractions:
        target = fraction * total
        for node in tree.path_to_root(tree[site[0]]):
            if node.index == 1:
                break
            end = distance_to_soma(tree, (node.index, 1.0))
            if end - node.L <= target <= end:
                out.append((node.index, float((target - end + node.L) / node.L)))
                break
    return out


@dataclasses.dataclass
class ReducedNeuron:
    """A reduced compartment tree fitted by NEAT, ready for ``cm_default``.

    ``site_compartment[name]`` is the ``cm_default`` compartment of each site (the soma is
    0); ``locations`` are all fitted locations (sites, support points, and bifurcations
    NEAT adds); ``fit_seconds`` is how long the fit took."""

    ctree: object
    sites: dict
    site_compartment: dict
    locations: list
    fit_seconds: float

    @property
    def n_compartments(self) -> int:
        return len(self.ctree)

    def compartments(self, active_soma: bool = False, model: str = "cm_default") -> list[dict]:
        """The ``compartments`` list for ``model`` (NEAT's export). ``active_soma``
        adds cm_default's Na and K channels to the soma (``ACTIVE_SOMA_DENSITY`` times its
        capacitance), so the neuron fires; the dendrites stay passive. A fitted h-current
        (NEAT's ``gbar_Ih``) becomes ``cm_with_ih``'s ``gbar_h``.

        NEAT 1.1's public export, ``NestCompartmentTree.init_model``, creates the neurons
        and sets this very list (from ``_make_compartments_params_list``); NEST sets a
        ``cm_default`` neuron's compartments only once, so a changed list (an active soma,
        another model's channel names) has to be taken from NEAT before ``Create``."""
        if model not in MODEL_CHANNEL_KEYS:
            raise ValueError(f"unknown model {model!r}: use one of {', '.join(MODEL_CHANNEL_KEYS)}")
        tree = self.ctree._make_compartments_params_list()
        for compartment in tree:
            compartment["params"] = _rename_channels(compartment["params"], model)
        if active_soma:
            soma = tree[0]["params"]
            soma.update({key: density * soma["C_m"] for key, density in ACTIVE_SOMA_DENSITY.items()}, e_Na=50.0, e_K=-85.0)
        return tree

    def check_site_names(self, names) -> None:
        for name in names:
            if name not in self.site_compartment:
                raise ValueError(f"unknown site {name!r}: this neuron has sites {', '.join(self.site_compartment)}")


def _rename_channels(params: dict, model: str) -> dict:
    """NEAT's channel parameters (``gbar_Ih``, ``e_Ih``, and the state ``m_Ih``, which
    NEST initialises itself) under the model's names."""
    renamed = {}
    for key, value in params.items():
        prefix, _, channel = key.partition("_")
        if channel in NEAT_TO_NESTML_CHANNEL:
            if prefix not in ("gbar", "e"):
                continue  # a gate's value at rest: the model sets it
            key = f"{prefix}_{NEAT_TO_NESTML_CHANNEL[channel]}"
        if key not in COMPARTMENT_KEYS + MODEL_CHANNEL_KEYS[model]:
            allowed = ", ".join(COMPARTMENT_KEYS + MODEL_CHANNEL_KEYS[model])
            raise ValueError(
                f"the fitted tree has {key!r}, which {model} does not know (it has {allowed}); "
                f"a reduction with NEAT's h-current (gbar_Ih) runs in {NESTML_MODEL}, notebook 2's model"
            )
        renamed[key] = float(value)
    return renamed


def _fit_with_cache(neat, tree, locations, scratch: Path):
    """NEAT's fit, with NEAT's own cache of what depends only on the tree (above all its
    separation-of-variables modes, most of a fit's time: about 19 s of 20 for the L2/3
    cell on 2 cores; a fit takes 2-4 s with the cache). NEAT reads and writes its cache
    files in ``scratch``; they are copied in from :func:`neat_cache_dir` before and published there
    after a successful fit, each by one rename, so an interrupted or failed fit leaves
    no partial file behind. A cached file NEAT cannot read is recomputed and replaced.
    ``scratch`` belongs to this process and is removed afterwards, so fits running at
    once in two processes do not meet."""
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    try:
        return _fit_in(neat, tree, locations, scratch, neat_cache_dir())
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _fit_in(neat, tree, locations, scratch: Path, store: Path):
    """The fit in ``scratch``, with the files of ``store`` copied in and the new or
    rewritten ones published back (see :func:`_fit_with_cache`)."""
    shared = _shared_neat_dir(store)
    # the shared files first (a workshop server's), then one's own, which take precedence
    for folder in [shared, store]:
        for path in sorted(folder.glob("*.p")) if folder is not None and folder.is_dir() else []:
            shutil.copy2(path, scratch / path.name)

    with contextlib.redirect_stdout(None):  # NEAT prints its cache status
        fitter = neat.CompartmentFitter(tree, save_cache=True, recompute_cache=False, cache_path=str(scratch))
        result = fitter.fit_model(locations)
    store.mkdir(parents=True, exist_ok=True)
    for path in scratch.glob("*.p"):
        target = store / path.name
        if shared is not None and not target.exists() and (shared / path.name).exists():
            if filecmp.cmp(path, shared / path.name, shallow=False):
                continue  # the shared cache has it: no copy per participant
        # new, or rewritten by NEAT (which recomputes a file it cannot read)
        if not target.exists() or not filecmp.cmp(path, target, shallow=False):
            partial = store / f".{path.name}.{os.getpid()}.partial"
            shutil.copy2(path, partial)
            os.replace(partial, target)
    return result


def reduce_morphology(tree, sites: dict, support=(1 / 3, 2 / 3)) -> ReducedNeuron:
    """Fit a reduced compartment tree with a compartment at each site (and at ``support``
    fractions of each dendritic site's distance to the soma; ``()`` for none) with NEAT's
    ``CompartmentFitter``. The first fit of a tree takes about 20 s for the L2/3 cell on 2
    cores; NEAT's cache (:func:`_fit_with_cache`) makes later fits of the same tree, in
    this session or another, take 2-4 s."""
    check_sites(tree, sites)
    if any(not 0.0 < f < 1.0 for f in support):
        raise ValueError(f"support fractions must lie between 0 and 1 (exclusive), got {support!r}")
    return _fit_locations(tree, sites, {name: support for name in list(sites)[1:]})


def _fit_locations(tree, sites: dict, support_by_site: dict, extra=()) -> ReducedNeuron:
    """The fit with a compartment at each site, at the support fractions given per
    dendritic site and at the ``extra`` locations (NEAT adds the branch points between
    them)."""
    neat = import_neat()
    locations = [tuple(s) for s in sites.values()]
    wanted = [loc for name, fractions in support_by_site.items() for loc in support_locations(tree, sites[name], fractions)]
    for location in [*wanted, *extra]:
        if all(location[0] != l[0] or abs(location[1] - l[1]) > 1e-6 for l in locations):  # noqa: E741
            locations.append(tuple(location))
    start = time.perf_counter()
    with _in_neat_workdir() as folder:
        ctree, fitted = _fit_with_cache(neat, tree, locations, folder / f"neatcache-{os.getpid()}")  # one per process
    return reduced_neuron(ctree, sites, fitted, fit_seconds=time.perf_counter() - start)


def reduced_neuron(ctree, sites: dict, locations, fit_seconds: float = float("nan")) -> ReducedNeuron:
    """The :class:`ReducedNeuron` of a fit made with NEAT directly::

        ctree, locations = neat.CompartmentFitter(tree, ...).fit_model(my_locations)
        reduced = compartmental.reduced_neuron(ctree, SITES, locations)

    where ``my_locations`` began with the sites, in the order of ``sites``. Finds the
    compartment of each site (NEAT numbers the compartments in its own order)."""
    neat = import_neat()
    if not isinstance(ctree, neat.CompartmentTree):
        raise ValueError(f"ctree must be the tree NEAT's fit_model returns (a CompartmentTree), got {type(ctree).__name__}")
    fitted = [(int(loc["node"]), float(loc["x"])) for loc in locations]
    for i, (name, (node, x)) in enumerate(sites.items()):
        if i >= len(fitted) or fitted[i][0] != node or (node != 1 and abs(fitted[i][1] - x) > 1e-3):
            got = fitted[i] if i < len(fitted) else "nothing"
            raise ValueError(
                f"the fit's location {i} is {got}, not site {name!r} {(node, x)}: give fit_model the sites first, "
                f"in the order of the sites dict ({', '.join(sites)}), then any other locations"
            )
    if not isinstance(ctree, neat.NestCompartmentTree):
        ctree = neat.NestCompartmentTree(ctree)
    ctree.reset_indices()  # compartment i of the NEST neuron is node i
    by_location = {node.loc_idx: node.index for node in ctree}
    site_compartment = {name: by_location[i] for i, name in enumerate(sites)}
    return ReducedNeuron(ctree, dict(sites), site_compartment, fitted, fit_seconds)


def create_reduced(
    nest,
    reduced: ReducedNeuron,
    n: int = 1,
    receptor_sites=(),
    receptor_type: str = "AMPA",
    receptor_params: dict | None = None,
    active_soma: bool = False,
):
    """Create ``n`` ``cm_default`` neurons of the reduced tree, with one receptor of
    ``receptor_type`` at each of ``receptor_sites`` (site names; receptor index i is the
    i-th name)."""
    reduced.check_site_names(receptor_sites)
    check_receptors([(reduced.site_compartment[s], receptor_type) for s in receptor_sites], reduced.n_compartments)
    params = dict(AMPA) if receptor_type == "AMPA" and receptor_params is None else dict(receptor_params or {})
    compartments = reduced.compartments(active_soma=active_soma)  # before Create: a clear error first
    neurons = nest.Create("cm_default", n)
    neurons.V_th = -20.0
    neurons.compartments = compartments
    neurons.receptors = [
        {"comp_idx": reduced.site_compartment[s], "receptor_type": receptor_type, "params": params} for s in receptor_sites
    ]
    return neurons


def _epsp_result(times, traces: dict, site: str, rest: float) -> dict:
    return {
        "times": np.asarray(times),
        "v": {k: np.asarray(v) for k, v in traces.items()},
        "soma_epsp": float(np.max(traces["soma"]) - rest),
        "local_epsp": float(np.max(traces[site]) - rest),
    }


def epsp_reduced(reduced: ReducedNeuron, site: str, *, weight: float, t_sim: float = 60.0, t_input: float = 10.0) -> dict:
    """One AMPA input of ``weight`` (µS) at ``site`` of the reduced neuron in NEST. Returns
    the voltage at every site (every time step) and the somatic and local EPSP peaks (mV).
    Runs in a fresh kernel (call ``nw.reset_kernel(..., resolution=...)`` first)."""
    return _epsps_reduced(reduced, [site], weight=weight, t_sim=t_sim, t_input=t_input, caller="epsp_reduced")[site]


def _epsps_reduced(
    reduced: ReducedNeuron, sites, *, weight: float, t_sim: float, t_input: float, caller: str, fresh: bool = True
) -> dict:
    """One reduced neuron per site, each with one input there, side by side in one fresh
    kernel (they are not connected): ``{site: result of epsp_reduced}``. With ``fresh=False``
    the kernel may hold earlier such neurons (:func:`reduce_to_tolerance` compares one fit
    after another in the notebook's kernel): the new ones get their input and are recorded
    from the kernel's present time on; the old ones rest, unconnected."""
    reduced.check_site_names(sites)
    if weight <= 0:
        raise ValueError(f"weight must be a positive conductance in µS, got {weight!r}")
    nest = require_fresh_kernel(caller) if fresh else import_nest()
    now = float(nest.biological_time)
    volley = nest.Create("spike_generator", params={"spike_times": [now + t_input]})
    record_from = sorted({f"v_comp{c}" for c in reduced.site_compartment.values()})
    meters = {}
    for site in sites:
        neuron = create_reduced(nest, reduced, receptor_sites=[site])
        nest.Connect(volley, neuron, syn_spec={"weight": weight, "receptor_type": 0, "delay": 0.1})
        meters[site] = nest.Create("multimeter", params={"interval": nest.resolution, "record_from": record_from, "start": now})
        nest.Connect(meters[site], neuron)
    nest.Simulate(t_sim)
    rest = float(reduced.ctree[0].e_eq)
    results = {}
    for site, meter in meters.items():
        events = meter.events
        traces = {name: events[f"v_comp{c}"] for name, c in reduced.site_compartment.items()}
        results[site] = _epsp_result(events["times"], traces, site, rest)
    return results


def epsp_full(
    tree, sites: dict, site: str, *, weight: float, t_sim: float = 60.0, t_input: float = 10.0, dt: float = 0.025
) -> dict:
    """The same input on the full morphology, simulated by NEURON through NEAT's
    ``NeuronSimTree`` (segments: 4 times the lambda rule's, ``FULL_MODEL_LAMBDA_FACTOR``;
    built-in ``Exp2Syn`` and ``NetStim``)."""
    check_sites(tree, sites)
    if site not in sites:
        raise ValueError(f"unknown site {site!r}: the sites are {', '.join(sites)}")
    if weight <= 0:
        raise ValueError(f"weight must be a positive conductance in µS, got {weight!r}")
    neat = import_neat()
    from neuron import h

    settle = 100.0  # ms without input before recording
    with _in_neat_workdir():
        model = neat.NeuronSimTree(tree)
    model.init_model(dt=dt, t_calibrate=settle, v_init=tree.passive["e_eq"], factor_lambda=FULL_MODEL_LAMBDA_FACTOR)
    model.store_locs([tuple(s) for s in sites.values()], "rec locs")
    model.add_double_exp_synapse(tuple(sites[site]), AMPA["tau_r_AMPA"], AMPA["tau_d_AMPA"], AMPA["e_AMPA"])
    stimulus = h.NetStim()
    stimulus.number, stimulus.start, stimulus.noise = 1, settle + t_input, 0
    connection = h.NetCon(stimulus, model.syns[0], 0, 0.1, weight)  # noqa: F841 (must stay alive)
    result = model.run(t_sim)
    model.delete_model()
    traces = {name: result["v_m"][i] for i, name in enumerate(sites)}
    return _epsp_result(result["t"], traces, site, tree.passive["e_eq"])


def current_step_full(
    tree, sites: dict, *, amplitude: float, t_on: float, duration: float, t_after: float, dt: float = 0.1
) -> dict:
    """A current step of ``amplitude`` nA into the soma of the full morphology, simulated
    by NEURON through NEAT's ``NeuronSimTree`` (with the tree's channels): ``{"times",
    "v": {site: voltage}}`` from the start of the run, the step from ``t_on`` to
    ``t_on + duration`` ms."""
    check_sites(tree, sites)
    if duration <= 0 or t_on < 0 or t_after < 0:
        raise ValueError(f"t_on and t_after must be >= 0 and duration > 0 (ms), got {t_on}, {duration}, {t_after}")
    neat = import_neat()
    with _in_neat_workdir():
        model = neat.NeuronSimTree(tree)
    model.init_model(dt=dt, t_calibrate=0.0, v_init=tree.passive["e_eq"])
    model.store_locs([tuple(s) for s in sites.values()], "rec locs")
    model.add_i_clamp(tuple(sites[next(iter(sites))]), amplitude, t_on, duration)
    result = model.run(t_on + duration + t_after)
    model.delete_model()
    return {"times": np.asarray(result["t"]), "v": {name: np.asarray(result["v_m"][i]) for i, name in enumerate(sites)}}


def compare_epsps(tree, reduced: ReducedNeuron, *, weight: float, tolerance: float = 0.05) -> list[dict]:
    """Somatic and local EPSPs of one input at each dendritic site: full (NEURON) vs
    reduced (NEST), with relative errors. NEST runs one reduced neuron per site in one
    fresh kernel (call ``nw.reset_kernel(..., resolution=...)`` first); NEURON uses the
    same time step. Where an error exceeds ``tolerance``, prints what to add to the
    reduction (:func:`accuracy_report`)."""
    rows = _compare_rows(tree, reduced, weight=weight)
    for line in accuracy_report(rows, reduced, tolerance=tolerance):
        print(line)
    return rows


def _compare_rows(
    tree, reduced: ReducedNeuron, *, weight: float, fresh: bool = True, full_runs: dict | None = None
) -> list[dict]:
    """:func:`compare_epsps`'s rows, without the report. ``full_runs`` keeps the full
    cell's runs by site name between calls (the full cell does not change)."""
    dt = import_nest().resolution
    reduced_runs = _epsps_reduced(
        reduced, list(reduced.sites), weight=weight, t_sim=60.0, t_input=10.0, caller="compare_epsps", fresh=fresh
    )
    full_runs = {} if full_runs is None else full_runs
    rows = []
    for name in reduced.sites:
        if name not in full_runs:
            full_runs[name] = epsp_full(tree, reduced.sites, name, weight=weight, dt=dt)
        full = full_runs[name]
        small = reduced_runs[name]
        rows.append(
            {
                "site": name,
                "distance": distance_to_soma(tree, reduced.sites[name]),
                "full": full,
                "reduced": small,
                "soma_error": small["soma_epsp"] / full["soma_epsp"] - 1,
                "local_error": small["local_epsp"] / full["local_epsp"] - 1,
            }
        )
    return rows


def accuracy_report(rows: list[dict], reduced: ReducedNeuron, *, tolerance: float = 0.05) -> list[str]:
    """What :func:`compare_epsps` found beyond ``tolerance`` (relative EPSP error), and
    what controls it: support compartments on the path to a site (a single compartment
    for a long thin stretch lumps its capacitance, which lowers and slows the fast local
    EPSP), and sites on the main branches (the somatic EPSP needs the path's axial
    resistance and membrane). Empty when every error is within ``tolerance``."""
    tolerance = validation.positive_number("tolerance", tolerance)
    lines = []
    for row in rows:
        for where, key in (("local", "local_error"), ("somatic", "soma_error")):
            error = row[key]
            if abs(error) > tolerance:
                lines.append(f"  {row['site']} ({row['distance']:.0f} µm): the {where} EPSP is off by {100 * error:+.1f} %")
    if not lines:
        return []
    local = any(abs(row["local_error"]) > tolerance for row in rows)
    advice = [
        f"The reduced model ({reduced.n_compartments} compartments, fitted in {reduced.fit_seconds:.1f} s) misses "
        f"{100 * tolerance:g} % here:",
        *lines,
        "What to add:",
    ]
    if local:
        advice.append(
            "  - support compartments between the soma and the site (reduce_morphology(..., support=(1/3, 2/3)), or "
            "denser, e.g. (0.25, 0.5, 0.75)): one compartment standing for a long thin stretch lumps its capacitance;"
        )
    advice.append(
        "  - a site on the main branch on the way to the site (a trunk or branch point), so the path's axial "
        "resistance and membrane are represented;"
    )
    advice.append(
        "  Each compartment makes the fit longer (NEAT fits all of them together) and the NEST neuron slower: "
        "add where the error is, not everywhere."
    )
    return advice


# ---------------------------------------------------------------------------
# Bring your own neuron: sites by distance, and a reduction to a stated accuracy

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
        reduced = _fit_locations(tree, sites, support_by_site, extra)
        if steps and reduced.n_compartments > max_compartments:
            if verbose:
                print(f"  ({added} would make {reduced.n_compartments} compartments: beyond the limit)", flush=True)
            break
        rows = _compare_rows(tree, reduced, weight=weight, fresh=not steps, full_runs=full_runs)
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


# NEST's cm_default computes an AMPA_NMDA receptor's NMDA current as
#   i = NMDA_ratio * g_NMDA * B(v) * (e_AMPA_NMDA - v),   B(v) = 1 / (1 + 0.3 exp(-0.1 v / mV))
# (nestkernel's cm_receptors: the magnesium block B opens with depolarisation). g_NMDA,
# which peaks at the connection's weight, is the sum of the two recordables
# g_r_AN_NMDA_<i> (rise part, negative) and g_d_AN_NMDA_<i> (decay part) of receptor i.
def nmda_unblocked(v) -> np.ndarray:
    """Fraction of NMDA channels free of the magnesium block at ``v`` mV (cm_default's
    sigmoid): 0.3 % at -70 mV, 6 % at -40 mV, 77 % at 0 mV."""
    return 1.0 / (1.0 + 0.3 * np.exp(-0.1 * np.asarray(v, dtype=float)))


def nmda_current(g_rise, g_decay, v, *, nmda_ratio: float, e_rev: float = 0.0) -> np.ndarray:
    """NMDA current (nA, into the compartment) of a cm_default AMPA_NMDA receptor from its
    recorded conductance parts (µS), the compartment's voltage (mV) and the receptor's
    ``NMDA_ratio`` (cm_default's default is 2)."""
    return nmda_ratio * (np.asarray(g_rise) + np.asarray(g_decay)) * nmda_unblocked(v) * (e_rev - np.asarray(v))


def network_state(
    spike_recorder,
    n_neurons: int,
    meter,
    *,
    receptor: int,
    compartment: int,
    nmda_ratio: float,
    t_start: float,
    t_stop: float,
    inhibitory=None,
    n_inhibitory: int = 0,
) -> dict:
    """The state of a network of cm_default neurons over ``[t_start, t_stop)`` ms: the
    firing rate (spikes/s per neuron) and irregularity (CV of the interspike intervals)
    of the ``n_neurons`` neurons whose spikes ``spike_recorder`` (or its events) holds, and from
    ``meter`` (a multimeter on some of them, or its events, recording ``v_comp<compartment>``,
    ``g_r_AN_NMDA_<receptor>`` and ``g_d_AN_NMDA_<receptor>``) the mean NMDA current
    (pA) of that AMPA_NMDA receptor (its ``NMDA_ratio`` is ``nmda_ratio``) and the mean
    voltage (mV) of its compartment. With ``inhibitory`` (a spike recorder of the
    ``n_inhibitory`` inhibitory neurons, or its events) also their rate, ``rate_inhibitory``."""
    events = analysis.events_of(meter)
    names = [f"v_comp{compartment}", f"g_r_AN_NMDA_{receptor}", f"g_d_AN_NMDA_{receptor}"]
    missing = [name for name in names if name not in events]
    if missing:
        raise ValueError(f"the multimeter does not record {missing}: give it record_from={names}")
    keep = (events["times"] >= t_start) & (events["times"] < t_stop)
    v, g_rise, g_decay = (np.asarray(events[name])[keep] for name in names)
    if not v.size:
        raise ValueError(f"the multimeter has no samples between {t_start} and {t_stop} ms")
    state = {
        "rate": analysis.mean_rate(spike_recorder, n_neurons, t_start, t_stop),
        "cv": analysis.cv_isi(spike_recorder, t_start, t_stop),
        "nmda_current": 1e3 * float(nmda_current(g_rise, g_decay, v, nmda_ratio=nmda_ratio).mean()),
        "dendrite_v": float(v.mean()),
    }
    if inhibitory is not None:
        state["rate_inhibitory"] = analysis.mean_rate(inhibitory, n_inhibitory, t_start, t_stop)
    return state


def plot_epsp_comparison(rows: list[dict], colors: dict | None = None, t_window=(5.0, 50.0)):
    """Notebook 3's accuracy figure from :func:`compare_epsps`' rows: for each dendritic
    site (columns), the voltage at the site (top) and at the soma (bottom) after one
    input at that site, full morphology (NEURON, grey) against the reduced neuron (NEST,
    dashed)."""
    import matplotlib.pyplot as plt

    dendritic = [row for row in rows if row["site"] != "soma"]
    fig, axes = plt.subplots(2, len(dendritic), figsize=(12, 5), sharex=True, squeeze=False)
    for column, row in zip(axes.T, dendritic):
        site = row["site"]
        for ax, where in zip(column, (site, "soma")):
            ax.plot(row["full"]["times"], row["full"]["v"][where], color="gray", lw=3, label="full (NEURON)")
            ax.plot(
                row["reduced"]["times"], row["reduced"]["v"][where], "--", color=(colors or {}).get(site), label="reduced (NEST)"
            )
            ax.set_xlim(*t_window)
        column[0].set_title(f"input at {site} ({row['distance']:.0f} µm)", fontsize=10)
    for ax in axes[1]:
        ax.set_xlabel("time (ms)")
    axes[0, 0].set_ylabel("V at the site (mV)")
    axes[1, 0].set_ylabel("V at the soma (mV)")
    axes[0, 0].legend(fontsize=8)
    return fig


def plot_network_states(states: dict, runs: dict, *, input_rates, inhibition_sites, compartment: int, t_window=(600.0, 800.0)):
    """Notebook 3's network figure. Top: rate, irregularity and dendritic NMDA current
    against the input rate, one line per inhibition site (``states[site, rate]`` from
    :func:`network_state`). Bottom: the recorded dendrite (``v_comp<compartment>``) of
    three neurons at the highest input rate, one panel per inhibition site
    (``runs[site, rate]`` = (spike events, multimeter events))."""
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(12, 6), layout="constrained")
    grid = fig.add_gridspec(2, 3, height_ratios=[1, 1.1])
    measures = [("rate", "output rate (spikes/s)"), ("cv", "irregularity (CV of ISIs)"), ("nmda_current", "NMDA current (pA)")]
    for column, (key, label) in enumerate(measures):
        ax = fig.add_subplot(grid[0, column])
        for where in inhibition_sites:
            ax.plot(input_rates, [states[where, r][key] for r in input_rates], "o-", label=f"inhibition on {where}")
        ax.set_xlabel("input rate (spikes/s)")
        ax.set_ylabel(label)
    ax.legend(fontsize=8)
    top = max(input_rates)
    first = None
    for column, where in enumerate(inhibition_sites[:2]):
        ax = fig.add_subplot(grid[1, column], sharey=first)
        first = first or ax
        events = analysis.events_of(runs[where, top][1])
        for sender in np.unique(events["senders"])[:3]:
            mask = (events["senders"] == sender) & (events["times"] >= t_window[0]) & (events["times"] < t_window[1])
            ax.plot(events["times"][mask], events[f"v_comp{compartment}"][mask], lw=0.8)
        ax.set_title(f"inhibition on {where}: the dendrite at {top:.0f}/s", fontsize=10)
        ax.set_xlabel("time (ms)")
        ax.set_ylabel("V dendrite (mV)")
    ax = fig.add_subplot(grid[1, 2])  # how much of the time the dendrites spend where
    for where in inhibition_sites:
        events = analysis.events_of(runs[where, top][1])
        ax.hist(
            events[f"v_comp{compartment}"],
            bins=np.arange(-80.0, 1.0, 2.5),
            density=True,
            histtype="step",
            lw=1.5,
            label=f"inhibition on {where}",
        )
    ax.set_yscale("log")
    ax.set_xlabel("V dendrite (mV)")
    ax.set_ylabel("fraction of time per mV")
    ax.set_title(f"all recorded dendrites at {top:.0f}/s", fontsize=10)
    ax.legend(fontsize=8)
    return fig


def plot_morphology(tree, sites: dict | None = None, ax=None, colors=None):
    """The morphology seen from the side (x, y), line width by radius, coloured by
    region; ``sites`` are marked and labelled."""
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection

    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 6))
    region_color = {1: "black", 3: "tab:blue", 4: "tab:green"}
    segments, widths, line_colors = [], [], []
    for node in tree:
        if node.index == 1 or node.parent_node is None:
            continue
        start = node.parent_node.xyz if node.parent_node.index != 1 else tree[1].xyz
        segments.append([start[:2], node.xyz[:2]])
        widths.append(max(0.4, 1.2 * node.R))
        line_colors.append(region_color.get(node.swc_type, "gray"))
    ax.add_collection(LineCollection(segments, linewidths=widths, colors=line_colors))
    ax.add_patch(plt.Circle(tree[1].xyz[:2], tree[1].R, color="black"))
    for name, (node_index, x) in (sites or {}).items():
        node = tree[node_index]
        if node_index == 1:
            point = node.xyz[:2]
        else:
            parent = node.parent_node.xyz if node.parent_node.index != 1 else tree[1].xyz
            point = (1 - x) * parent[:2] + x * node.xyz[:2]
        color = (colors or {}).get(name, "tab:red")
        ax.plot(*point, "o", ms=9, mfc=color, mec="white", zorder=3)
        ax.annotate(name, point, xytext=(6, 4), textcoords="offset points", fontsize=9, color=color)
    ax.autoscale()
    ax.set_aspect("equal")
    ax.set_xlabel("x (µm)")
    ax.set_ylabel("y (µm)")
    ax.plot([], [], color="tab:blue", label="basal")
    ax.plot([], [], color="tab:green", label="apical")
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    return ax
