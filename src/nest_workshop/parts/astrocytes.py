"""Neuron–astrocyte networks: the models, experiments and measures of the astrocyte part.

NEST's models (3.10): ``astrocyte_lr_1994`` (IP3 and calcium dynamics, Li & Rinzel 1994),
``aeif_cond_alpha_astro`` (a neuron that receives a slow inward current, SIC) and
``sic_connection`` (astrocyte → neuron). ``nest.TripartiteConnect`` pairs neuron–neuron
connections with astrocytes drawn from each target neuron's pool.

What the notebooks leave to this module (their NEST calls stay in their own cells):

- :func:`traces_by_node`, :func:`node_rate`, :func:`calcium_response` — read the recorders
  of the astrocytes and of the tripartite circuit that notebook 1 builds;
- :func:`wire_tripartite` — notebook 1's circuit for a participant whose exercise is blank;
- :func:`count_tripartite`, :func:`block_pool`, :func:`plot_tripartite`,
  :func:`pools_in_network`, :func:`inputs_per_astrocyte` — count and draw the connections a
  ``TripartiteConnect`` call made (notebook 2);
- :func:`mean_and_sd`, :func:`spike_statistics` and the ``plot_*`` functions — analysis and
  figures of both notebooks; :func:`check_tripartite_wiring` — notebook 1's wiring check;
- :class:`BalancedNetworkConfig` — the numbers of notebook 2's network.

The network itself is built only in notebook 2's cells tagged ``network``; the tests,
the benchmarks and ``nest-workshop scale`` run those cells
(:mod:`nest_workshop.core.notebook_code`), never a copy of them.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from ..core import validation
from ..core.analysis import mean_rate, spike_times
from ..core.kernel import import_nest

ASTROCYTE = "astrocyte_lr_1994"
NEURON = "aeif_cond_alpha_astro"


# ---------------------------------------------------------------------------
# 1. Single astrocytes


def calcium_response(trace: dict, t_from: float = 0.0, oscillation_threshold: float = 0.15) -> dict:
    """Summarise a calcium trace after ``t_from`` ms: mean, min, max, peak-to-trough
    amplitude, number of calcium spikes (upward crossings of the midpoint between the
    trace's extremes, counted only when it oscillates), and whether it oscillates
    (amplitude above ``oscillation_threshold`` µM)."""
    times = np.asarray(trace["times"])
    ca = np.asarray(trace["Ca_astro"])[times >= t_from]
    if ca.size < 2:
        raise ValueError(f"no calcium samples after t_from = {t_from} ms")
    amplitude = float(ca.max() - ca.min())
    oscillating = amplitude > oscillation_threshold
    mid = (ca.max() + ca.min()) / 2
    n_peaks = int(np.sum((ca[1:] > mid) & (ca[:-1] <= mid))) if oscillating else 0
    return {
        "mean": float(ca.mean()),
        "min": float(ca.min()),
        "max": float(ca.max()),
        "amplitude": amplitude,
        "oscillating": bool(oscillating),
        "n_peaks": n_peaks,
    }


# ---------------------------------------------------------------------------
# 2. Astrocyte–neuron interaction: reading the recorders of notebook 1's circuit


def traces_by_node(multimeter) -> dict[int, dict[str, np.ndarray]]:
    """A multimeter's samples split by recorded node: ``{node id: {"times", var, ...}}``
    (this process's nodes; times in ms, in order)."""
    events = multimeter.events
    senders = np.asarray(events["senders"])
    variables = [key for key in events if key != "senders"]
    traces = {}
    for node in np.unique(senders):
        mask = senders == node
        traces[int(node)] = {key: np.asarray(events[key])[mask] for key in variables}
    return traces


def wire_tripartite(pre, post, twin, astrocyte, *, w_pre: float, w_sic: float) -> None:
    """Notebook 1's tripartite synapse, for a participant whose exercise is still blank:
    ``pre`` → ``post`` and ``twin`` (``w_pre``, nS), ``pre`` → ``astrocyte`` (weight 1),
    ``astrocyte`` → ``post`` (``sic_connection``, ``w_sic``)."""
    nest = import_nest()
    nest.Connect(pre, post + twin, syn_spec={"weight": w_pre})
    nest.Connect(pre, astrocyte, syn_spec={"weight": 1.0})
    nest.Connect(astrocyte, post, syn_spec={"synapse_model": "sic_connection", "weight": w_sic})


def node_rate(spike_recorder, node, t_from: float, t_stop: float) -> float:
    """Firing rate (spikes/s) of one ``node`` (a node id or a one-node NodeCollection)
    over ``[t_from, t_stop)`` ms, from a spike recorder: :func:`analysis.mean_rate
    <nest_workshop.core.analysis.mean_rate>` of that node's spikes."""
    node_id = int(node.global_id) if hasattr(node, "global_id") else int(node)
    times, senders = spike_times(spike_recorder)
    mine = senders == node_id
    return mean_rate({"times": times[mine], "senders": senders[mine]}, 1, t_from, t_stop)


# ---------------------------------------------------------------------------
# 3. Connection rules with astrocyte pools: counting and drawing what TripartiteConnect made


def count_tripartite(pre, post, astrocytes) -> dict:
    """The connections a ``TripartiteConnect(pre, post, astrocytes, ...)`` call made:
    counts of ``primary`` (pre → post), ``third_in`` (pre → astrocyte) and ``third_out``
    (astrocyte → post) connections, and ``astro_to_post``, a ``len(post) ×
    len(astrocytes)`` matrix counting the SIC connections from each astrocyte (columns)
    to each postsynaptic neuron (rows)."""
    nest = import_nest()
    primary = nest.GetConnections(pre, post)
    third_in = nest.GetConnections(pre, astrocytes)
    third_out = nest.GetConnections(astrocytes, post)
    matrix = np.zeros((len(post), len(astrocytes)), dtype=int)
    if len(third_out):
        sources = np.atleast_1d(third_out.source) - astrocytes[0].global_id
        targets = np.atleast_1d(third_out.target) - post[0].global_id
        np.add.at(matrix, (targets, sources), 1)
    return {"n_primary": len(primary), "n_third_in": len(third_in), "n_third_out": len(third_out), "astro_to_post": matrix}


def inputs_per_astrocyte(pre, astrocytes) -> np.ndarray:
    """How many ``third_in`` connections from ``pre`` each astrocyte receives (one count
    per astrocyte, in the order of ``astrocytes``; this process's connections)."""
    nest = import_nest()
    connections = nest.GetConnections(pre, astrocytes)
    targets = np.atleast_1d(connections.target) if len(connections) else np.array([], dtype=int)
    return np.bincount(np.asarray(targets, dtype=int) - astrocytes[0].global_id, minlength=len(astrocytes))


def pools_in_network(pre, post, astrocytes) -> dict:
    """What a ``TripartiteConnect(pre, post, astrocytes, ...)`` call made in a network, read
    with ``GetConnections``: ``n_primary`` and ``n_paired`` connections, the synapse models
    of ``third_in`` (``third_in_models``) and the weights of ``third_out``
    (``sic_weights``), ``pool_sizes`` (distinct astrocytes that send SIC to each ``post``
    neuron) and ``block_order``: whether each neuron's astrocytes form a consecutive block,
    in the neurons' order, either shared with its neighbour or after the neighbour's
    block (what ``pool_type="block"`` makes; random pools break it)."""
    nest = import_nest()
    primary = nest.GetConnections(pre, post)
    third_in = nest.GetConnections(pre, astrocytes)
    third_out = nest.GetConnections(astrocytes, post)
    sources = (
        np.asarray(np.atleast_1d(third_out.source), dtype=int) - astrocytes[0].global_id if len(third_out) else np.array([], int)
    )
    targets = np.asarray(np.atleast_1d(third_out.target), dtype=int) - post[0].global_id if len(third_out) else np.array([], int)
    pools = [np.unique(sources[targets == i]) for i in range(len(post))]
    block_order = len(third_out) > 0 and all(len(pool) and pool[-1] - pool[0] == len(pool) - 1 for pool in pools)
    if block_order:
        for previous, pool in zip(pools, pools[1:]):
            if not (np.array_equal(previous, pool) or previous[-1] < pool[0]):
                block_order = False
                break
    return {
        "n_primary": len(primary),
        "n_paired": len(third_out),
        "n_third_in": len(third_in),
        "third_in_models": {str(m) for m in np.atleast_1d(third_in.synapse_model)} if len(third_in) else set(),
        "sic_weights": {float(w) for w in np.atleast_1d(third_out.weight)} if len(third_out) else set(),
        "pool_sizes": np.array([len(pool) for pool in pools]),
        "block_order": bool(block_order),
    }


def block_pool(target_index: int, n_targets: int, n_astrocytes: int, pool_size: int) -> list[int]:
    """The astrocytes (0-based) that the block rule assigns to a target neuron: with
    ``pool_size`` 1, neighbouring neurons share an astrocyte (``n_targets`` a multiple of
    ``n_astrocytes``); otherwise each neuron has its own ``pool_size`` consecutive ones
    (``n_targets * pool_size == n_astrocytes``), as NEST's rule requires."""
    n_targets = validation.whole_number("n_targets", n_targets)
    n_astrocytes = validation.whole_number("n_astrocytes", n_astrocytes)
    pool_size = validation.whole_number("pool_size", pool_size)
    validation.whole_number("target_index", target_index, 0, n_targets - 1)
    fits = (n_targets % n_astrocytes == 0) if pool_size == 1 else (n_targets * pool_size == n_astrocytes)
    if not fits:
        raise ValueError(
            f"block pools of size {pool_size} do not fit {n_targets} targets and {n_astrocytes} astrocytes: "
            "pool_size 1 needs n_targets to be a multiple of n_astrocytes, a larger pool needs "
            "n_targets x pool_size = n_astrocytes"
        )
    if pool_size == 1:
        return [target_index // (n_targets // n_astrocytes)]
    return list(range(target_index * pool_size, (target_index + 1) * pool_size))


def plot_tripartite(pre, post, astrocytes, ax=None, title: str = ""):
    """Who connects to whom after a ``TripartiteConnect`` call: presynaptic neurons on top,
    postsynaptic neurons at the bottom, astrocytes in between. Primary connections are
    grey; each astrocyte has a colour, and its connections from presynaptic neurons
    (``third_in``) and to postsynaptic neurons (``third_out``, SIC) are drawn in it, so
    the astrocytes reaching one postsynaptic neuron - its pool, as far as it is used -
    show as the colours arriving there. For small networks (up to a few dozen nodes)."""
    import matplotlib.pyplot as plt

    from ..core.plotting import PALETTE, apply_style

    apply_style()
    nest = import_nest()
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    x = {}
    for row, (nodes, y) in enumerate(((pre, 2.0), (astrocytes, 1.0), (post, 0.0))):
        ids = list(nodes.tolist())
        xs = np.linspace(0.0, 1.0, len(ids)) if len(ids) > 1 else np.array([0.5])
        x.update({(row, node): (xpos, y) for node, xpos in zip(ids, xs)})
    position = {node: xy for (_, node), xy in x.items()}
    colour = {node: PALETTE[i % len(PALETTE)] for i, node in enumerate(astrocytes.tolist())}

    def draw(connections, style):
        if not len(connections):
            return
        for source, target in zip(np.atleast_1d(connections.source), np.atleast_1d(connections.target)):
            (x0, y0), (x1, y1) = position[int(source)], position[int(target)]
            ax.plot([x0, x1], [y0, y1], **style(int(source), int(target)))

    draw(nest.GetConnections(pre, post), lambda s, t: {"color": "0.8", "lw": 0.6, "zorder": 1})
    third_in = nest.GetConnections(pre, astrocytes)
    draw(third_in, lambda s, t: {"color": colour[t], "lw": 0.8, "alpha": 0.6, "ls": ":", "zorder": 2})
    draw(nest.GetConnections(astrocytes, post), lambda s, t: {"color": colour[s], "lw": 1.6, "zorder": 3})
    for nodes, y, marker, face, label in (
        (pre, 2.0, "o", "0.3", "presynaptic neurons"),
        (post, 0.0, "o", "0.3", "postsynaptic neurons"),
    ):
        xs = [position[n][0] for n in nodes.tolist()]
        ax.scatter(xs, [y] * len(xs), marker=marker, s=60, color=face, zorder=4, label=label)
    ax.scatter(
        [position[n][0] for n in astrocytes.tolist()],
        [1.0] * len(astrocytes),
        marker="*",
        s=220,
        c=[colour[n] for n in astrocytes.tolist()],
        edgecolors="k",
        linewidths=0.5,
        zorder=5,
        label="astrocytes",
    )
    ax.set_yticks([0.0, 1.0, 2.0], ["post", "astrocytes", "pre"])
    ax.set_xticks([])
    ax.set_xlabel(
        "grey: primary connections; coloured: to and from each astrocyte (dotted: pre → astrocyte, solid: SIC to post)",
        fontsize=8,
    )
    ax.spines[["bottom", "left"]].set_visible(False)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


# ---------------------------------------------------------------------------
# 4. A balanced E/I network with astrocytes


@dataclasses.dataclass
class BalancedNetworkConfig:
    """A Brunel-type network of ``aeif_cond_alpha_astro`` neurons with astrocytes.

    The parameters are those of NEST 3.10's example ``astrocyte_brunel_fixed_indegree.py``
    (10,000 neurons and 10,000 astrocytes there, in-degrees 800/200 among 8,000/2,000
    neurons, i.e. connection probability 0.1, SIC weight 0.05), scaled down to run live on
    a laptop: 1,000 neurons and as many astrocytes, in-degrees halved to 400/100. Among
    800/200 neurons that is a connection probability of 0.5, five times the example's: a
    dense network, not the example's sparse one. The SIC weight is doubled so that the
    summed SIC a neuron can receive (in-degree x p_third x w_sic) equals the example's
    (each astrocyte then receives about 200 instead of 400 ``third_in`` connections).
    :meth:`example_scale` gives the example's in-degrees and weight at a size of your
    choice (at 10,000 neurons, the example's probability too).

    Excitatory connections are paired with astrocytes (``p_third``, pools of
    ``pool_size`` random astrocytes per neuron); inhibitory ones are not.
    """

    n_neurons: int = 1000  # 80 % excitatory, 20 % inhibitory
    astrocytes_per_neuron: float = 1.0
    indegree_exc: int = 400
    indegree_inh: int = 100
    p_third: float = 0.5  # probability that an excitatory connection has an astrocyte
    pool_size: int = 10
    w_exc: float = 1.0  # nS
    w_inh: float = -4.0  # nS
    w_sic: float = 0.1  # astrocyte → neuron
    poisson_rate: float = 2000.0  # external input per neuron, spikes/s
    ip3_init: float = 0.4  # µM, as in NEST's example; the model's resting IP3 is 0.16 µM
    delta_ip3: float = 0.0002  # µM IP3 per synaptic input (the model's default)
    tau_ip3: float = 7142.0  # ms, decay of IP3 back to rest (the model's default)
    t_sim: float = 2000.0  # ms
    n_recorded: int = 500  # neurons whose spikes are recorded
    n_traced: int = 50  # neurons and astrocytes whose SIC / calcium are sampled

    @classmethod
    def example_scale(cls, n_neurons: int = 5000, **changes) -> BalancedNetworkConfig:
        """The example's in-degrees (800/200) and SIC weight (0.05) at ``n_neurons``
        (at least 2,000; the example has 10,000). 5,000 neurons take about 85 s on
        2 cores and 1.2 GB (docs/science-notes.md)."""
        return cls(n_neurons=n_neurons, indegree_exc=800, indegree_inh=200, w_sic=0.05, **changes)

    def validate(self) -> None:
        validation.whole_number("n_neurons", self.n_neurons, 10)
        validation.positive_number("astrocytes_per_neuron", self.astrocytes_per_neuron)
        n_exc = int(0.8 * self.n_neurons)
        if not 1 <= self.indegree_exc <= n_exc:
            raise ValueError(f"indegree_exc must be between 1 and the {n_exc} excitatory neurons, got {self.indegree_exc}")
        if not 1 <= self.indegree_inh <= self.n_neurons - n_exc:
            raise ValueError(
                f"indegree_inh must be between 1 and the {self.n_neurons - n_exc} inhibitory neurons, got {self.indegree_inh}"
            )
        validation.probability("p_third", self.p_third)
        validation.whole_number("pool_size", self.pool_size, 1, self.n_astrocytes, " (at most the number of astrocytes)")
        for name in ("w_sic", "poisson_rate", "ip3_init", "delta_ip3"):
            validation.nonnegative_number(name, getattr(self, name))
        for name in ("tau_ip3", "t_sim"):
            validation.positive_number(name, getattr(self, name))

    @property
    def n_astrocytes(self) -> int:
        return max(1, int(round(self.astrocytes_per_neuron * self.n_neurons)))


# ---------------------------------------------------------------------------
# Figures and wiring checks of the notebooks (not the lesson: the NEST calls stay in the notebooks)


def plot_astrocyte_traces(traces: dict, sic_threshold: float):
    """IP3 (top) and calcium (bottom) of single astrocytes, ``{label: {"times", "IP3",
    "Ca_astro"}}`` (times in ms), with the SIC threshold (µM) drawn on the calcium axis."""
    import matplotlib.pyplot as plt

    fig, (ax_ip3, ax_ca) = plt.subplots(2, 1, sharex=True, figsize=(8, 4.5))
    for label, trace in traces.items():
        ax_ip3.plot(np.asarray(trace["times"]) / 1000, trace["IP3"], label=label)
        ax_ca.plot(np.asarray(trace["times"]) / 1000, trace["Ca_astro"])
    ax_ca.axhline(sic_threshold, color="gray", ls=":", label="SIC threshold")
    ax_ip3.set_ylabel("IP3 (µM)")
    ax_ca.set_ylabel("Ca$^{2+}$ (µM)")
    ax_ca.set_xlabel("time (s)")
    ax_ip3.legend(fontsize=8)
    ax_ca.legend(fontsize=8)
    return fig


def plot_tripartite_run(astrocyte_trace: dict, with_sic: dict, without_sic: dict, sic_threshold: float):
    """Notebook 1's circuit: the astrocyte's calcium, the SIC its neuron receives, and the
    membrane potential of the neuron and of its twin (traces from ``traces_by_node``)."""
    import matplotlib.pyplot as plt

    from ..core.plotting import PALETTE

    fig, axes = plt.subplots(3, 1, sharex=True, figsize=(9, 6))
    axes[0].plot(astrocyte_trace["times"] / 1000, astrocyte_trace["Ca_astro"], color=PALETTE[2])
    axes[0].axhline(sic_threshold, color="gray", ls=":", label="SIC threshold")
    axes[0].set_ylabel("astrocyte\nCa$^{2+}$ (µM)")
    axes[0].legend(loc="upper right")
    axes[1].plot(with_sic["times"] / 1000, with_sic["I_SIC"], color=PALETTE[3])
    axes[1].set_ylabel("neuron\nSIC (pA)")
    for trace, label in [(without_sic, "twin, without SIC"), (with_sic, "with SIC")]:
        axes[2].plot(trace["times"] / 1000, trace["V_m"], lw=0.5, label=label)
    axes[2].set_ylabel("neuron\nV$_m$ (mV)")
    axes[2].set_xlabel("time (s)")
    axes[2].legend(loc="lower right", ncols=2)
    return fig


def plot_network_run(with_sic: dict, without_sic: dict, n_recorded: int, t_sim: float, sic_threshold: float):
    """Notebook 2's network: mean ± SD of IP3 and calcium over the traced astrocytes and
    of the SIC over the traced neurons (``{"times", "mean", "sd"}`` from
    :func:`mean_and_sd`), and the population rate with and without SIC."""
    import matplotlib.pyplot as plt

    from ..core.analysis import population_rate
    from ..core.plotting import PALETTE

    fig, axes = plt.subplots(4, 1, sharex=True, figsize=(8, 7.5))
    rows = [("IP3", "IP3 (µM)"), ("Ca", "Ca$^{2+}$ (µM)"), ("SIC", "SIC (pA)")]
    for ax, (key, label), colour in zip(axes, rows, PALETTE[1:]):
        trace = with_sic[key]
        ax.plot(trace["times"], trace["mean"], color=colour)
        ax.fill_between(trace["times"], trace["mean"] - trace["sd"], trace["mean"] + trace["sd"], color=colour, alpha=0.25)
        ax.set_ylabel(label)
    axes[1].axhline(sic_threshold, color="gray", ls=":", label="SIC threshold")
    axes[1].legend(loc="upper left")
    for run, label in [(without_sic, "without SIC"), (with_sic, "with SIC")]:
        centres, rates = population_rate(run["spikes"], n_recorded, 0.0, t_sim, bin_ms=20.0)
        axes[3].plot(centres, rates, label=label)
    axes[3].set_ylabel("population rate\n(spikes/s)")
    axes[3].set_xlabel("time (ms)")
    axes[3].legend(loc="upper left")
    return fig


def check_tripartite_wiring(pre, post, twin, astrocyte, *, w_pre: float, w_sic: float) -> None:
    """Notebook 1's exercise check: print what ``GetConnections`` finds between the
    circuit's nodes and check it is a tripartite synapse (``pre`` → ``post`` and ``twin``
    with ``w_pre``, ``pre`` → ``astrocyte``, one ``sic_connection`` of ``w_sic`` to
    ``post`` and none to ``twin``)."""
    from ..core import selfcheck

    nest = import_nest()
    wiring = {
        "pre -> post": nest.GetConnections(pre, post),
        "pre -> twin": nest.GetConnections(pre, twin),
        "pre -> astrocyte": nest.GetConnections(pre, astrocyte),
        "astrocyte -> post": nest.GetConnections(astrocyte, post),
        "astrocyte -> twin": nest.GetConnections(astrocyte, twin),
    }
    found = {}
    for name, connections in wiring.items():
        models = sorted({str(m) for m in np.atleast_1d(connections.synapse_model)}) if len(connections) else []
        weights = sorted({float(w) for w in np.atleast_1d(connections.weight)}) if len(connections) else []
        found[name] = (len(connections), models, weights)
        print(f"{name:18s} {len(connections):4d} connections {models} weights {weights}")
    n_pre = len(pre)
    expected = {
        "pre -> post": (n_pre, ["static_synapse"], [float(w_pre)]),
        "pre -> twin": (n_pre, ["static_synapse"], [float(w_pre)]),
        "pre -> astrocyte": (n_pre, ["static_synapse"], [1.0]),
        "astrocyte -> post": (1, ["sic_connection"], [float(w_sic)]),
        "astrocyte -> twin": (0, [], []),
    }
    wrong = [name for name in expected if found[name] != expected[name]]
    selfcheck.check(
        not wrong,
        "your circuit is wired as a tripartite synapse with a twin",
        "connection counts, models and weights as asked" if not wrong else "not as asked: " + ", ".join(wrong),
    )


# ---------------------------------------------------------------------------
# Spike-train statistics (irregularity and correlation with Elephant)


def _neo_trains(spikes: dict, recorded, t_start: float, t_stop: float):
    import neo

    times, senders = np.asarray(spikes["times"]), np.asarray(spikes["senders"])
    window = (times >= t_start) & (times < t_stop)
    return [
        neo.SpikeTrain(np.sort(times[window & (senders == node)]), t_start=t_start, t_stop=t_stop, units="ms")
        for node in recorded
    ]


def synchrony_chi(counts: np.ndarray) -> float:
    """Golomb's synchrony measure χ from an (n_neurons × n_bins) array of binned activity:
    the standard deviation of the population average over the root-mean variance of
    single neurons. 1 for identical trains, about 1/sqrt(N) for independent ones."""
    counts = np.asarray(counts, dtype=float)
    if counts.ndim != 2 or counts.shape[0] < 2 or counts.shape[1] < 2:
        raise ValueError("counts must be an array of at least 2 neurons × 2 bins")
    single = counts.var(axis=1)
    if single.mean() == 0:
        raise ValueError("no neuron varies its activity: χ is undefined")
    return float(np.sqrt(counts.mean(axis=0).var() / single.mean()))


def spike_statistics(spikes, recorded, t_start: float, t_stop: float, bin_ms: float = 10.0) -> dict:
    """Rate (spikes/s), irregularity (mean CV of inter-spike intervals, Elephant),
    mean pairwise spike-count correlation (Elephant) and χ over ``[t_start, t_stop)``,
    of the neurons ``recorded`` (node ids, or a NodeCollection), from ``spikes`` (a
    spike recorder or its events)."""
    if not t_stop > t_start:
        raise ValueError(f"t_stop ({t_stop} ms) must be after t_start ({t_start} ms)")
    times, senders = spike_times(spikes)
    recorded = np.asarray(recorded.tolist() if hasattr(recorded, "tolist") else recorded)
    with warnings.catch_warnings():
        # Elephant 1.2 passes an argument that quantities 0.16 deprecates; harmless noise.
        warnings.filterwarnings("ignore", message=".*'copy' argument in Quantity is deprecated.*")
        return _spike_statistics({"times": times, "senders": senders}, recorded, t_start, t_stop, bin_ms)


def mean_and_sd(multimeter, variable: str) -> dict:
    """Mean and standard deviation of ``variable`` across the nodes a multimeter
    records, at each sampling time: ``{"times", "mean", "sd"}``."""
    events = multimeter.events
    if variable not in events:
        raise ValueError(f"the multimeter records {sorted(k for k in events if k not in ('times', 'senders'))}, not {variable!r}")
    times, values = np.asarray(events["times"]), np.asarray(events[variable])
    grid = np.unique(times)
    index = np.searchsorted(grid, times)
    count = np.bincount(index, minlength=grid.size)
    mean = np.bincount(index, weights=values, minlength=grid.size) / np.maximum(count, 1)
    square = np.bincount(index, weights=values**2, minlength=grid.size) / np.maximum(count, 1)
    return {"times": grid, "mean": mean, "sd": np.sqrt(np.maximum(square - mean**2, 0.0))}


def _spike_statistics(spikes: dict, recorded, t_start: float, t_stop: float, bin_ms: float) -> dict:
    import quantities as pq
    from elephant.conversion import BinnedSpikeTrain
    from elephant.spike_train_correlation import correlation_coefficient
    from elephant.statistics import cv, isi

    trains = _neo_trains(spikes, recorded, t_start, t_stop)
    rate = sum(len(t) for t in trains) / len(trains) / ((t_stop - t_start) / 1000.0)
    cvs = [cv(isi(t)) for t in trains if len(t) >= 3]
    active = [t for t in trains if len(t) > 0]
    binned = BinnedSpikeTrain(active, bin_size=bin_ms * pq.ms) if len(active) >= 2 else None
    if binned is not None:
        cc = correlation_coefficient(binned)
        correlation = float(np.nanmean(cc[np.triu_indices_from(cc, k=1)]))
        chi = synchrony_chi(binned.to_array())
    else:
        correlation = chi = float("nan")
    return {
        "rate": rate,
        "cv": float(np.mean(cvs)) if cvs else float("nan"),
        "correlation": correlation,
        "chi": chi,
        "n_neurons": len(trains),
        "n_active": len(active),
    }
