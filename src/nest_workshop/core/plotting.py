"""The workshop's figure style and the figures every part needs.

- :func:`raster`: spike raster with the population rate below it;
- :func:`traces`: state variables recorded by a multimeter;
- :func:`learning_curve`: loss or error over training.

Each returns ``(figure, axes)`` so a notebook can add to it, and labels every axis
with its quantity and unit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from .analysis import events_of, population_rate, spike_times

# Colour-blind-safe palette (Okabe & Ito 2008), in the order lines are drawn.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]

STYLE = {
    "figure.figsize": (8.0, 4.0),
    "figure.dpi": 100,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": False,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "legend.frameon": False,
    "axes.prop_cycle": plt.cycler(color=PALETTE),
    "figure.constrained_layout.use": True,
}

# Units of NEST's common recordables, for axis labels.
UNITS = {
    "V_m": "mV",
    "I_syn_ex": "pA",
    "I_syn_in": "pA",
    "I_syn": "pA",
    "I_e": "pA",
    "g_ex": "nS",
    "g_in": "nS",
    "w": "pA",
    "I_SIC": "pA",
    "Ca_astro": "µM",
    "IP3": "µM",
    "weight": "pA",
}


def apply_style() -> None:
    """Use the workshop's figure style from now on (called by every helper)."""
    plt.rcParams.update(STYLE)


def raster(
    spikes,
    *,
    n_neurons: int | None = None,
    t_range: tuple[float, float] | None = None,
    bin_ms: float = 5.0,
    title: str = "",
    color: str | None = None,
):
    """Spike raster (top) and population rate (bottom) of one population.

    ``spikes`` is a spike recorder or its events dict; ``n_neurons`` (for the rate per
    neuron) defaults to the number of distinct senders.
    """
    apply_style()
    times, senders = spike_times(spikes)
    if t_range is None:
        t_range = (0.0, float(np.ceil(times.max())) if times.size else 1.0)
    if n_neurons is None:
        n_neurons = max(1, len(np.unique(senders)))
    fig, (ax_raster, ax_rate) = plt.subplots(2, 1, sharex=True, figsize=(8, 4.5), height_ratios=[3, 1])
    # One call for all spikes: fast even for 10^5 spikes.
    ax_raster.plot(times, senders, "|", ms=3, color=color or PALETTE[0], rasterized=times.size > 20000)
    ax_raster.set_ylabel("neuron id")
    if title:
        ax_raster.set_title(title)
    centres, rates = population_rate(spikes, n_neurons, t_range[0], t_range[1], bin_ms)
    ax_rate.plot(centres, rates, color=color or PALETTE[0])
    ax_rate.set_xlabel("time (ms)")
    ax_rate.set_ylabel("rate (spikes/s)")
    ax_rate.set_xlim(*t_range)
    return fig, (ax_raster, ax_rate)


def traces(
    recording,
    variables: str | Sequence[str],
    *,
    senders: Sequence[int] | None = None,
    title: str = "",
    units: Mapping[str, str] | None = None,
):
    """Time course of state variables recorded by a multimeter: one panel per variable,
    one line per recorded neuron (at most 8 are drawn, to keep figures readable)."""
    apply_style()
    events = events_of(recording)
    if isinstance(variables, str):
        variables = [variables]
    missing = [v for v in variables if v not in events]
    if missing:
        recorded = sorted(k for k in events if k not in ("times", "senders"))
        raise ValueError(f"{missing} not recorded; the multimeter recorded {recorded} (set record_from)")
    times = np.asarray(events["times"])
    all_senders = np.asarray(events["senders"])
    chosen = list(senders) if senders is not None else list(np.unique(all_senders))[:8]
    units = {**UNITS, **(units or {})}
    fig, axes = plt.subplots(len(variables), 1, sharex=True, squeeze=False, figsize=(8, 1.2 + 1.8 * len(variables)))
    axes = axes[:, 0]
    for ax, variable in zip(axes, variables):
        values = np.asarray(events[variable])
        for sender in chosen:
            mask = all_senders == sender
            ax.plot(times[mask], values[mask], label=f"neuron {sender}")
        unit = units.get(variable)
        ax.set_ylabel(f"{variable} ({unit})" if unit else variable)
    axes[-1].set_xlabel("time (ms)")
    if len(chosen) > 1:
        axes[0].legend(loc="upper right", fontsize=8, ncols=min(4, len(chosen)))
    if title:
        axes[0].set_title(title)
    return fig, axes


def learning_curve(
    curves: Mapping[str, Sequence[float]] | Sequence[float],
    *,
    ylabel: str = "loss",
    xlabel: str = "iteration",
    logy: bool = False,
    title: str = "",
    ax=None,
):
    """One or more quantities over training (e.g. ``{"training loss": ..., "test loss": ...}``)."""
    apply_style()
    if not isinstance(curves, Mapping):
        curves = {ylabel: curves}
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 3.5))
    else:
        fig = ax.figure
    for label, values in curves.items():
        values = np.asarray(values, dtype=float)
        ax.plot(np.arange(1, len(values) + 1), values, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    if len(curves) > 1:
        ax.legend()
    if title:
        ax.set_title(title)
    return fig, ax
