"""Notebook 2: the part's NESTML model ``cm_with_ih`` (cm_default plus an h-current),
run side by side with cm_default, and what the h-current changes (sag, rebound, EPSP
summation)."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np

from ...core import nestml, validation
from ...core.kernel import require_fresh_kernel
from .cells import BallAndSticks

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
        if i > 0 and not (validation.is_whole_number(parent) and 0 <= parent < i):
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
            if key.startswith("gbar_"):
                validation.nonnegative_number(f"compartment {i}: {key}", value, note=" (a maximal conductance in µS)")
        if model == "cm_default" and "e_K" in params and "e_Na" not in params:
            # NEST 3.10's K channel reads e_K only when e_Na is given (its constructor tests
            # for "e_Na"); otherwise NEST stops with "Unread dictionary entries: e_K"
            raise ValueError(
                f"compartment {i}: cm_default (NEST 3.10) accepts e_K only together with e_Na; "
                "add 'e_Na': 50.0 (its default) to the parameters"
            )
        if "C_m" in params:
            validation.positive_number(f"compartment {i}: C_m", params["C_m"], note=" (a capacitance in nF)")


def set_ih(compartments, gbar_h: dict, e_h: float = E_H) -> list[dict]:
    """A copy of ``compartments`` with the h-current's maximal conductance ``gbar_h``
    (``{compartment: µS}``) in the given compartments; the others keep theirs."""
    tree = copy.deepcopy(list(compartments))
    if not isinstance(gbar_h, dict):
        raise ValueError(f"give gbar_h as {{compartment: conductance in µS}}, for example {{0: 0.1}}; got {gbar_h!r}")
    for compartment, value in gbar_h.items():
        if not validation.is_whole_number(compartment) or not 0 <= compartment < len(tree):
            raise ValueError(f"there is no compartment {compartment!r}: this neuron has compartments 0 to {len(tree) - 1}")
        value = validation.nonnegative_number(
            f"gbar_h of compartment {compartment}", value, note=" (a maximal conductance in µS)"
        )
        tree[compartment]["params"] = {**tree[compartment].get("params", {}), "gbar_h": value, "e_h": float(e_h)}
    return tree


def ih_gradient(morphology: BallAndSticks, *, soma: float, tip: float) -> dict:
    """``{compartment: gbar_h}`` (µS): ``soma`` on the soma and, along every branch, a
    conductance that rises linearly from ``tip / n`` next to the soma to ``tip`` at the
    tip (n compartments per branch). HCN channels are denser far from the soma
    (more than sixfold in CA1 pyramidal neurons, Magee 1998; Kole et al. 2006 in layer 5)."""
    soma = validation.nonnegative_number("soma", soma, note=" (a maximal conductance in µS)")
    tip = validation.nonnegative_number("tip", tip, note=" (a maximal conductance in µS)")
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
            if not validation.is_whole_number(compartment) or not 0 <= compartment < n:
                raise ValueError(f"{name}: there is no compartment {compartment!r}; this neuron has compartments 0 to {n - 1}")
    t_sim = validation.positive_number("t_sim", t_sim, note=" (a duration in ms)")
    weights = ampa_weight if isinstance(ampa_weight, dict) else {c: ampa_weight for c in ampa}
    for compartment in ampa:
        validation.positive_number(
            f"ampa_weight for compartment {compartment}", weights.get(compartment), note=" (a conductance in µS)"
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
    n_inputs = validation.whole_number("n_inputs", n_inputs, minimum=2)
    rate = validation.positive_number("rate", rate, note=" (an input rate in Hz)")
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
