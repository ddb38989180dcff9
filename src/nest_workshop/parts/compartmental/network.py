"""Notebook 3, the network section: the NMDA current of cm_default's AMPA_NMDA
receptor, the state of an E/I network of reduced neurons, and its figure."""

from __future__ import annotations

import numpy as np

from ...core import analysis


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
