"""Neuron–astrocyte networks: the models, experiments and measures of the astrocyte part.

NEST's models (3.10): ``astrocyte_lr_1994`` (IP3 and calcium dynamics, Li & Rinzel 1994),
``aeif_cond_alpha_astro`` (a neuron that receives a slow inward current, SIC) and
``sic_connection`` (astrocyte → neuron). ``nest.TripartiteConnect`` pairs neuron–neuron
connections with astrocytes drawn from each target neuron's pool.

Experiments, one per notebook:

- :func:`drive_astrocytes` — single astrocytes driven by Poisson spike input;
- :func:`tripartite_pair` — presynaptic neurons drive an astrocyte and a neuron, the
  astrocyte sends SIC to the neuron;
- :func:`pool_network` — who connects to which astrocyte under the pool rules;
- :func:`run_balanced_network` — a Brunel-type E/I network with astrocytes.
"""

from __future__ import annotations

import dataclasses
import time
import warnings

import numpy as np

from ..core import validation
from ..core.analysis import spike_times
from ..core.kernel import import_nest, require_fresh_kernel
from ..scaleout.gather import gather_events

ASTROCYTE = "astrocyte_lr_1994"
NEURON = "aeif_cond_alpha_astro"
POOL_TYPES = ("random", "block")


# ---------------------------------------------------------------------------
# Input validation: a clear message naming what is accepted


def validate_pool(n_targets: int, n_astrocytes: int, pool_size: int, pool_type: str) -> None:
    """Check a pool specification against the rule's constraints, in plain words.

    ``random``: every target neuron gets ``pool_size`` distinct astrocytes drawn at random,
    so ``1 <= pool_size <= n_astrocytes``. ``block``: astrocytes are dealt out in
    consecutive blocks; either ``pool_size == 1`` and ``n_targets`` is a multiple of
    ``n_astrocytes`` (several neurons share one astrocyte), or
    ``n_targets * pool_size == n_astrocytes`` (each neuron has its own astrocytes).
    """
    validation.whole_number("the number of target neurons", n_targets)
    validation.whole_number("the number of astrocytes", n_astrocytes)
    validation.whole_number("pool_size", pool_size)
    if pool_type not in POOL_TYPES:
        raise ValueError(f"pool_type must be one of {POOL_TYPES}, got {pool_type!r}")
    if pool_size > n_astrocytes:
        raise ValueError(f"pool_size {pool_size} is larger than the astrocyte population ({n_astrocytes})")
    if pool_type == "block":
        if pool_size == 1 and n_targets % n_astrocytes != 0:
            raise ValueError(
                f"block pools with pool_size 1 need the number of target neurons ({n_targets}) to be a "
                f"multiple of the number of astrocytes ({n_astrocytes})"
            )
        if pool_size > 1 and n_targets * pool_size != n_astrocytes:
            raise ValueError(
                f"block pools with pool_size {pool_size} need n_targets x pool_size = n_astrocytes "
                f"({n_targets} x {pool_size} != {n_astrocytes}); use pool_type 'random' otherwise"
            )


# ---------------------------------------------------------------------------
# 1. Single astrocytes


def drive_astrocytes(
    rates, *, t_sim: float = 60000.0, astrocyte_params: dict | None = None, interval: float = 10.0
) -> dict[float, dict]:
    """Simulate one astrocyte per input rate (spikes/s), each driven by its own Poisson
    spike train (standing for many presynaptic neurons), all in one run.

    Returns ``{rate: {"times", "Ca_astro", "IP3"}}`` sampled every ``interval`` ms.
    """
    rates = [validation.nonnegative_number("an input rate", r) for r in np.atleast_1d(rates)]
    validation.positive_number("t_sim", t_sim)
    nest = require_fresh_kernel("drive_astrocytes")
    astrocytes = nest.Create(ASTROCYTE, len(rates), params=astrocyte_params or {})
    generators = nest.Create("poisson_generator", len(rates), params=[{"rate": r} for r in rates])
    nest.Connect(generators, astrocytes, "one_to_one", syn_spec={"weight": 1.0})
    meter = nest.Create("multimeter", params={"record_from": ["Ca_astro", "IP3"], "interval": interval})
    nest.Connect(meter, astrocytes)
    nest.Simulate(t_sim)
    events = meter.events
    traces = {}
    for rate, node in zip(rates, astrocytes.tolist()):
        mask = events["senders"] == node
        traces[rate] = {k: np.asarray(events[k])[mask] for k in ("times", "Ca_astro", "IP3")}
    return traces


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


def resting_calcium() -> float:
    """The astrocyte model's resting calcium concentration (µM)."""
    return float(import_nest().GetDefaults(ASTROCYTE)["Ca_astro"])


# ---------------------------------------------------------------------------
# 2. Astrocyte–neuron interaction


def tripartite_pair(
    w_sic: float,
    *,
    n_pre: int = 100,
    pre_rate: float = 3.0,
    w_pre: float = 4.0,
    t_sim: float = 30000.0,
    astrocyte_params: dict | None = None,
) -> dict:
    """A tripartite motif: ``n_pre`` presynaptic neurons (Poisson, ``pre_rate`` spikes/s
    each) excite a postsynaptic neuron (``w_pre`` nS) and an astrocyte; the astrocyte
    sends SIC to the neuron with weight ``w_sic`` (0 switches SIC off, nothing else changes).

    Returns the postsynaptic spike times, its ``V_m`` and ``I_SIC`` (every 1 ms) and the
    astrocyte's ``Ca_astro`` and ``IP3`` (every 10 ms).
    """
    validation.nonnegative_number("w_sic", w_sic)
    validation.whole_number("n_pre", n_pre)
    validation.nonnegative_number("pre_rate", pre_rate)
    validation.nonnegative_number("w_pre", w_pre)
    validation.positive_number("t_sim", t_sim)
    nest = require_fresh_kernel("tripartite_pair")
    astrocyte = nest.Create(ASTROCYTE, params=astrocyte_params or {})
    post = nest.Create(NEURON, params={"tau_syn_ex": 2.0})
    source = nest.Create("poisson_generator", params={"rate": pre_rate})
    # parrot neurons repeat their Poisson input: each presynaptic spike train goes to
    # both the neuron and the astrocyte, as in a tripartite synapse
    pre = nest.Create("parrot_neuron", n_pre)
    nest.Connect(source, pre)
    nest.Connect(pre, post, syn_spec={"weight": w_pre})
    nest.Connect(pre, astrocyte, syn_spec={"weight": 1.0})
    nest.Connect(astrocyte, post, syn_spec={"synapse_model": "sic_connection", "weight": w_sic})
    spikes = nest.Create("spike_recorder")
    nest.Connect(post, spikes)
    neuron_meter = nest.Create("multimeter", params={"record_from": ["V_m", "I_SIC"], "interval": 1.0})
    astro_meter = nest.Create("multimeter", params={"record_from": ["Ca_astro", "IP3"], "interval": 10.0})
    nest.Connect(neuron_meter, post)
    nest.Connect(astro_meter, astrocyte)
    nest.Simulate(t_sim)
    neuron, astro = neuron_meter.events, astro_meter.events
    return {
        "spike_times": np.asarray(spikes.events["times"]),
        "t_sim": t_sim,
        "neuron": {k: np.asarray(neuron[k]) for k in ("times", "V_m", "I_SIC")},
        "astrocyte": {k: np.asarray(astro[k]) for k in ("times", "Ca_astro", "IP3")},
    }


# ---------------------------------------------------------------------------
# 3. Connection rules with astrocyte pools


def pool_network(
    n_pre: int, n_post: int, n_astrocytes: int, *, p_primary: float, p_third: float, pool_size: int, pool_type: str
) -> dict:
    """Connect ``n_pre`` → ``n_post`` neurons (pairwise Bernoulli, ``p_primary``) with
    ``TripartiteConnect``; each connection is paired, with probability ``p_third``, with an
    astrocyte from the target neuron's pool. Nothing is simulated.

    Returns connection counts, and ``astro_to_post``: an ``n_post × n_astrocytes``
    matrix counting the SIC connections from each astrocyte to each neuron.
    """
    validation.whole_number("n_pre", n_pre)
    p_primary = validation.probability("p_primary", p_primary)
    p_third = validation.probability("p_third", p_third)
    validate_pool(n_post, n_astrocytes, pool_size, pool_type)
    nest = require_fresh_kernel("pool_network")
    pre = nest.Create(NEURON, n_pre)
    post = nest.Create(NEURON, n_post)
    astrocytes = nest.Create(ASTROCYTE, n_astrocytes)
    nest.TripartiteConnect(
        pre,
        post,
        astrocytes,
        conn_spec={"rule": "pairwise_bernoulli", "p": p_primary},
        third_factor_conn_spec={
            "rule": "third_factor_bernoulli_with_pool",
            "p": p_third,
            "pool_size": pool_size,
            "pool_type": pool_type,
        },
        syn_specs={"third_out": {"synapse_model": "sic_connection"}},
    )
    primary = nest.GetConnections(pre, post)
    third_in = nest.GetConnections(pre, astrocytes)
    third_out = nest.GetConnections(astrocytes, post)
    matrix = np.zeros((n_post, n_astrocytes), dtype=int)
    if len(third_out):
        rows = np.asarray(third_out.target) - post[0].global_id
        cols = np.asarray(third_out.source) - astrocytes[0].global_id
        np.add.at(matrix, (rows, cols), 1)
    return {
        "n_primary": len(primary),
        "n_third_in": len(third_in),
        "n_third_out": len(third_out),
        "astro_to_post": matrix,
        "params": {
            "n_pre": n_pre,
            "n_post": n_post,
            "n_astrocytes": n_astrocytes,
            "p_primary": p_primary,
            "p_third": p_third,
            "pool_size": pool_size,
            "pool_type": pool_type,
        },
    }


def block_pool(target_index: int, n_targets: int, n_astrocytes: int, pool_size: int) -> list[int]:
    """The astrocytes (0-based) that the block rule assigns to a target neuron."""
    validate_pool(n_targets, n_astrocytes, pool_size, "block")
    if pool_size == 1:
        return [target_index // (n_targets // n_astrocytes)]
    return list(range(target_index * pool_size, (target_index + 1) * pool_size))


# ---------------------------------------------------------------------------
# 4. A balanced E/I network with astrocytes


@dataclasses.dataclass
class BalancedNetworkConfig:
    """A Brunel-type network of ``aeif_cond_alpha_astro`` neurons with astrocytes.

    The parameters are those of NEST 3.10's example ``astrocyte_brunel_fixed_indegree.py``
    (10,000 neurons and 10,000 astrocytes there, in-degrees 800/200, SIC weight 0.05),
    scaled down to run live on a laptop: 1,000 neurons and as many astrocytes, in-degrees
    halved to 400/100 of the example's 800/200 at twice the connection probability of a
    2,000-neuron version, and the SIC weight doubled so that the summed SIC a neuron can
    receive (in-degree x p_third x w_sic) equals the example's. :meth:`example_scale`
    gives the example's in-degrees and weight at a size of your choice.

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
        validate_pool(self.n_neurons, self.n_astrocytes, self.pool_size, "random")
        for name in ("w_sic", "poisson_rate", "ip3_init", "delta_ip3"):
            validation.nonnegative_number(name, getattr(self, name))
        for name in ("tau_ip3", "t_sim"):
            validation.positive_number(name, getattr(self, name))

    @property
    def n_astrocytes(self) -> int:
        return max(1, int(round(self.astrocytes_per_neuron * self.n_neurons)))


@dataclasses.dataclass
class NetworkResult:
    config: BalancedNetworkConfig
    sic: bool
    seed: int
    spikes: dict  # times and senders of the recorded neurons
    recorded: np.ndarray  # their node ids
    sic_trace: dict  # times and population-mean I_SIC of traced neurons
    calcium_trace: dict  # times and mean Ca_astro of traced astrocytes
    wall_s: float


def _population_mean(events: dict, key: str) -> dict:
    times = np.asarray(events["times"])
    values = np.asarray(events[key])
    grid = np.unique(times)
    means = np.array([values[times == t].mean() for t in grid]) if grid.size else np.array([])
    return {"times": grid, key: means}


def run_balanced_network(config: BalancedNetworkConfig | None = None, *, sic: bool = True) -> NetworkResult:
    """Build and simulate the network; with ``sic=False`` the astrocytes are frozen
    (NEST does not update them), so they send no SIC, while every neuron, connection and
    random number of the network stays the same as with ``sic=True``."""
    config = config or BalancedNetworkConfig()
    config.validate()
    started = time.perf_counter()
    nest = require_fresh_kernel("run_balanced_network")
    n_exc = int(0.8 * config.n_neurons)
    synapse_time_constants = {"tau_syn_ex": 2.0, "tau_syn_in": 4.0}
    exc = nest.Create(NEURON, n_exc, params=synapse_time_constants)
    inh = nest.Create(NEURON, config.n_neurons - n_exc, params=synapse_time_constants)
    astrocytes = nest.Create(
        ASTROCYTE, config.n_astrocytes, params={"IP3": config.ip3_init, "delta_IP3": config.delta_ip3, "tau_IP3": config.tau_ip3}
    )
    noise = nest.Create("poisson_generator", params={"rate": config.poisson_rate})
    neurons = exc + inh
    nest.Connect(noise, neurons, syn_spec={"weight": config.w_exc})
    excitatory = {"synapse_model": "tsodyks_synapse", "weight": config.w_exc, "tau_psc": 2.0, "delay": 2.0}
    nest.TripartiteConnect(
        exc,
        neurons,
        astrocytes,
        conn_spec={"rule": "fixed_indegree", "indegree": config.indegree_exc},
        third_factor_conn_spec={
            "rule": "third_factor_bernoulli_with_pool",
            "p": config.p_third,
            "pool_size": config.pool_size,
            "pool_type": "random",
        },
        syn_specs={
            "primary": excitatory,
            "third_in": excitatory,
            "third_out": {"synapse_model": "sic_connection", "weight": config.w_sic},
        },
    )
    nest.Connect(
        inh,
        neurons,
        {"rule": "fixed_indegree", "indegree": config.indegree_inh},
        {"synapse_model": "tsodyks_synapse", "weight": config.w_inh, "tau_psc": 4.0, "delay": 1.0},
    )
    if not sic:
        astrocytes.frozen = True

    # Record only what the analysis needs: spikes of a subset, coarse SIC and calcium samples.
    n_recorded = min(config.n_recorded, config.n_neurons)
    recorded = neurons[:n_recorded]
    spike_recorder = nest.Create("spike_recorder")
    nest.Connect(recorded, spike_recorder)
    sic_meter = nest.Create("multimeter", params={"record_from": ["I_SIC"], "interval": 10.0})
    nest.Connect(sic_meter, neurons[: min(config.n_traced, config.n_neurons)])
    calcium_meter = nest.Create("multimeter", params={"record_from": ["Ca_astro"], "interval": 10.0})
    nest.Connect(calcium_meter, astrocytes[: min(config.n_traced, config.n_astrocytes)])
    nest.Simulate(config.t_sim)

    # Collective under MPI (every rank runs this function): the recorders of every rank.
    calcium = (
        _population_mean(gather_events(calcium_meter), "Ca_astro")
        if sic
        else {
            "times": np.arange(0.0, config.t_sim, 10.0) + 10.0,  # frozen: calcium stays at its initial value
            "Ca_astro": np.full(int(config.t_sim // 10), float(nest.GetDefaults(ASTROCYTE, "Ca_astro"))),
        }
    )
    times, senders = spike_times(gather_events(spike_recorder))
    return NetworkResult(
        config=config,
        sic=sic,
        seed=int(nest.rng_seed),
        spikes={"times": times, "senders": senders},
        recorded=np.asarray(recorded.tolist()),
        sic_trace=_population_mean(gather_events(sic_meter), "I_SIC"),
        calcium_trace=calcium,
        wall_s=time.perf_counter() - started,
    )


# ---------------------------------------------------------------------------
# Spike-train statistics (irregularity and correlation with Elephant)


def _neo_trains(result: NetworkResult, t_start: float, t_stop: float):
    import neo

    times, senders = result.spikes["times"], result.spikes["senders"]
    window = (times >= t_start) & (times < t_stop)
    return [
        neo.SpikeTrain(np.sort(times[window & (senders == node)]), t_start=t_start, t_stop=t_stop, units="ms")
        for node in result.recorded
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


def network_statistics(result: NetworkResult, t_start: float, t_stop: float, bin_ms: float = 10.0) -> dict:
    """Rate (spikes/s), irregularity (mean CV of inter-spike intervals, Elephant),
    mean pairwise spike-count correlation (Elephant) and χ over ``[t_start, t_stop)``."""
    if not t_stop > t_start:
        raise ValueError(f"t_stop ({t_stop} ms) must be after t_start ({t_start} ms)")
    with warnings.catch_warnings():
        # Elephant 1.2 passes an argument that quantities 0.16 deprecates; harmless noise.
        warnings.filterwarnings("ignore", message=".*'copy' argument in Quantity is deprecated.*")
        return _network_statistics(result, t_start, t_stop, bin_ms)


def _network_statistics(result: NetworkResult, t_start: float, t_stop: float, bin_ms: float) -> dict:
    import quantities as pq
    from elephant.conversion import BinnedSpikeTrain
    from elephant.spike_train_correlation import correlation_coefficient
    from elephant.statistics import cv, isi

    trains = _neo_trains(result, t_start, t_stop)
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
