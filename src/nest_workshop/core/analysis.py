"""Small spike-train measures shared by the parts (rates, histograms).

Spike data come as NEST gives them: a recorder's ``events`` dict with ``times`` (ms)
and ``senders`` (node ids), or the recorder itself. A recorder's events are this
process's: under MPI each rank records only its own neurons. Gathering them from every
rank is a collective call that every rank must make, so it is never hidden in a getter
here: call :func:`nest_workshop.core.ranks.gather_events` and pass its result.
"""

from __future__ import annotations

import numpy as np

from . import validation


def sort_events(events: dict) -> dict:
    """Events as arrays in the canonical order: by time, then sender (for samples of a
    multimeter: by time, then node). NEST's order in memory depends on the threads."""
    events = {key: np.asarray(value) for key, value in events.items()}
    if "times" in events and "senders" in events and events["times"].size:
        order = np.lexsort((events["senders"], events["times"]))
        events = {key: value[order] if value.ndim == 1 and len(value) == len(order) else value for key, value in events.items()}
    return events


def events_of(source) -> dict:
    """The events of a recorder (this process's, see the module's note on MPI), or the
    events dict itself; as arrays in the canonical order (:func:`sort_events`)."""
    if isinstance(source, dict):
        return sort_events(source)
    events = getattr(source, "events", None)
    if isinstance(events, (list, tuple)):  # a NodeCollection of several recorders
        raise ValueError("give one recorder, not several")
    if not isinstance(events, dict):
        raise TypeError(f"expected a recorder (NodeCollection) or its events dict, got {type(source).__name__}")
    return sort_events(events)


def spike_times(source) -> tuple[np.ndarray, np.ndarray]:
    """(times in ms, senders) as arrays; from a recorder, sorted by time, then sender."""
    events = events_of(source)
    if "times" not in events or "senders" not in events:
        raise ValueError(f"events need 'times' and 'senders', got keys {sorted(events)}")
    return np.asarray(events["times"], dtype=float), np.asarray(events["senders"], dtype=int)


def mean_rate(source, n_neurons: int, t_start: float, t_stop: float) -> float:
    """Mean firing rate per neuron in spikes/s over ``[t_start, t_stop)`` ms."""
    n_neurons = validation.whole_number("n_neurons", n_neurons, note=" (the neurons the spikes come from)")
    if not t_stop > t_start:
        raise ValueError(f"t_stop ({t_stop} ms) must be after t_start ({t_start} ms)")
    times, _ = spike_times(source)
    count = np.count_nonzero((times >= t_start) & (times < t_stop))
    return count / n_neurons / ((t_stop - t_start) / 1000.0)


def population_rate(source, n_neurons: int, t_start: float, t_stop: float, bin_ms: float = 5.0) -> tuple[np.ndarray, np.ndarray]:
    """Population rate (spikes/s per neuron) in bins: (bin centres in ms, rates)."""
    bin_ms = validation.positive_number("bin_ms", bin_ms, note=" (the bin width in ms)")
    n_neurons = validation.whole_number("n_neurons", n_neurons, note=" (the neurons the spikes come from)")
    times, _ = spike_times(source)
    edges = np.arange(t_start, t_stop + bin_ms / 2, bin_ms)
    if len(edges) < 2:
        raise ValueError(f"the window [{t_start}, {t_stop}] ms is shorter than one {bin_ms} ms bin")
    counts, _ = np.histogram(times, bins=edges)
    return (edges[:-1] + edges[1:]) / 2, counts / n_neurons / (bin_ms / 1000.0)


def cv_isi(source, t_start: float, t_stop: float, min_spikes: int = 3) -> float:
    """Irregularity of firing: the coefficient of variation (std / mean) of the
    interspike intervals within ``[t_start, t_stop)`` ms, averaged over the neurons with
    at least ``min_spikes`` spikes there (0 for a clock, about 1 for a Poisson process).
    ``nan`` when no neuron fires that often."""
    if not t_stop > t_start:
        raise ValueError(f"t_stop ({t_stop} ms) must be after t_start ({t_start} ms)")
    validation.whole_number("min_spikes", min_spikes, minimum=3, note=" (two intervals)")
    times, senders = spike_times(source)
    keep = (times >= t_start) & (times < t_stop)
    times, senders = times[keep], senders[keep]
    cvs = []
    for sender in np.unique(senders):
        intervals = np.diff(np.sort(times[senders == sender]))
        if len(intervals) + 1 >= min_spikes and intervals.mean() > 0:
            cvs.append(intervals.std() / intervals.mean())
    return float(np.mean(cvs)) if cvs else float("nan")
