"""Sequence learning with dendritic prediction: the spiking temporal-memory network of
Bouhadjar et al. (2022), with the part's NESTML neuron and synapse.

The network has one subpopulation of ``n_per_element`` excitatory neurons per element
of the vocabulary (A, B, C, ...), each with one inhibitory neuron. An element's stimulus
excites its whole subpopulation. Recurrent excitatory synapses (``permanence_synapse``)
onto the neurons' dendrites learn which elements follow which; once enough of them are
mature, a predecessor's spikes trigger dendritic action potentials (dAPs) in a subset of
the next element's neurons: a prediction. Predicted neurons fire a few ms earlier when
their stimulus arrives and, through the subpopulation's inhibitory neuron, silence the
rest: predicted elements give sparse activity, surprises make the whole subpopulation fire.

The notebooks build the network with NEST's calls. This module keeps what is not the
lesson: the NESTML build options (:func:`build_models`), the sequences and their
stimulus schedule (:func:`episode_schedule`), the training loop that simulates from one
read-out to the next and keeps the prediction errors (:func:`train`), reading a large
network's synapses in slices, the replay's read-out (:func:`replay_orders`), and figures
and schematics.
"""

from __future__ import annotations

import dataclasses
import string
from pathlib import Path

import numpy as np

from ..core import nestml, validation
from ..core.kernel import import_nest, require_time_zero

MODELS = Path("models")  # relative to the part's folder, where its notebooks run
MODEL_FILES = ("dendritic_neuron.nestml", "permanence_synapse.nestml")

# NESTML's options for the pair: the synapse reads the neuron's dAP_trace, so the two are
# generated together. Keep in step with the part's nestml_modules.toml (a test compares).
CODEGEN_OPTS = {
    "weight_variable": {"permanence_synapse": "w"},
    "delay_variable": {"permanence_synapse": "d"},
    "continuous_state_buffering_method": "post_spike_based",
    "neuron_synapse_pairs": [
        {
            "neuron": "dendritic_neuron",
            "synapses": {"permanence_synapse": {"post_ports": ["post_spikes", ["dAP_trace", "dAP_trace"]]}},
        }
    ],
}


# ---------------------------------------------------------------------------
# The NESTML models


def build_models(models_dir: str | Path = MODELS) -> nestml.NestmlModule:
    """Build (or load from the cache) the dendritic neuron and the permanence synapse
    from ``models_dir``, generated together so the synapse can read the neuron's
    ``dAP_trace``."""
    models_dir = Path(models_dir)
    return nestml.build([models_dir / name for name in MODEL_FILES], module_name="sequence_learning", codegen_opts=CODEGEN_OPTS)


def model_names(module: nestml.NestmlModule) -> tuple[str, str]:
    """(neuron, synapse) names of the co-generated pair."""
    neuron = next(n for n in module.neuron_models if "__with_" in n)
    synapse = next(s for s in module.synapse_models if "__with_" in s)
    return neuron, synapse


def receptor_types(neuron_model: str) -> dict[str, int]:
    """The neuron's spike ports as NEST receptor types: ``{"soma_spikes": 1, ...}``."""
    nest = import_nest()
    return {name.lower(): int(port) for name, port in nest.GetDefaults(neuron_model)["receptor_types"].items()}


def get_in_chunks(connections, keys: list[str], chunk: int = 10000) -> dict:
    """``connections.get(keys)`` as arrays, a slice at a time. NEST builds the full status
    dictionary of every connection it is asked about: for the network's 162,000 synapses
    at once that costs about 1 GB, in slices of 10,000 a few tens of MB."""
    parts = {key: [] for key in keys}
    for start in range(0, len(connections), chunk):
        values = connections[start : start + chunk].get(keys)
        for key in keys:
            parts[key].append(np.atleast_1d(np.asarray(values[key])))
    return {key: np.concatenate(parts[key]) if parts[key] else np.array([]) for key in keys}


# The inhibitory neurons (iaf_psc_exp), as in the paper: one per subpopulation.
INHIBITORY_PARAMS = {
    "C_m": 250.0,
    "tau_m": 5.0,
    "tau_syn_ex": 0.5,
    "tau_syn_in": 1.65,
    "t_ref": 2.0,
    "E_L": 0.0,
    "V_m": 0.0,
    "V_reset": 0.0,
    "V_th": 15.0,
}


def synapse_params(config: SequenceConfig) -> dict:
    """The permanence synapse's plasticity parameters (the paper's), for a ``syn_spec``:
    maturity threshold and bounds, the weight of a mature synapse, learning rates, the
    target dAP trace and the potentiation window (4 ms to 2 delta_t)."""
    return {
        "permanence_threshold": config.permanence_threshold,
        "permanence_max": config.permanence_max,
        "Wmax": config.w_mature,
        "lambda_plus": config.lambda_plus,
        "lambda_minus": config.lambda_minus,
        "lambda_h": config.lambda_h,
        "zt": config.zt,
        "tau_pre_trace": config.tau_pre_trace,
        "dt_min": 4.0,
        "dt_max": 2 * config.delta_t,
    }


# ---------------------------------------------------------------------------
# Weights


def psc_for_psp(psp_max: float, tau_m: float, tau_syn: float, C_m: float) -> float:
    """The amplitude (pA) of an exponential synaptic current that gives a leaky
    integrate-and-fire membrane (tau_m, C_m) a PSP peaking at ``psp_max`` mV."""
    for name, value in (("tau_m", tau_m), ("tau_syn", tau_syn), ("C_m", C_m)):
        validation.positive_number(name, value, note=" (ms for the time constants, pF for C_m)")
    if tau_m == tau_syn:
        raise ValueError(f"tau_m and tau_syn must differ (both are {tau_m} ms): the PSP formula divides by their difference")
    resistance = tau_m / C_m  # GΩ
    t_peak = tau_m * tau_syn / (tau_m - tau_syn) * np.log(tau_m / tau_syn)
    unit_psp = resistance * tau_syn / (tau_m - tau_syn) * (np.exp(-t_peak / tau_m) - np.exp(-t_peak / tau_syn))
    return psp_max / unit_psp


def stimulus_weight(config: SequenceConfig) -> float:
    """External input: a PSP of 1.1 x the somatic threshold, so a stimulus makes a neuron fire."""
    return psc_for_psp(1.1 * config.V_th, 10.0, 2.0, 250.0)


def connect_winner_take_all(subpopulations, inhibitory, w_ie: float, w_ei: float) -> None:
    """Notebook 2's exercise, for a participant who left it blank: each subpopulation
    excites its own inhibitory neuron (``w_ie``), which inhibits the subpopulation on
    the neuron's ``inh_spikes`` port (``w_ei``, negative)."""
    nest = import_nest()
    print("connect_winner_take_all comes from the package (the exercise is blank): write it yourself to see how.")
    inh_receptor = receptor_types(subpopulations[0][0].get("model"))["inh_spikes"]
    for members, inhibitory_neuron in zip(subpopulations, inhibitory):
        nest.Connect(members, inhibitory_neuron, syn_spec={"weight": w_ie, "delay": 0.1})
        nest.Connect(inhibitory_neuron, members, syn_spec={"weight": w_ei, "delay": 0.1, "receptor_type": inh_receptor})


def check_winner_take_all(subpopulations, inhibitory, w_ie: float, w_ei: float) -> None:
    """Notebook 2's self-check of the exercise: each subpopulation excites its own
    inhibitory neuron with ``w_ie``, which inhibits that subpopulation, and only it, with
    ``w_ei`` on the neurons' ``inh_spikes`` port, once."""
    from ..core import selfcheck

    nest = import_nest()
    ports = receptor_types(subpopulations[0][0].get("model"))
    # a NESTML neuron stores a connection's port as its receptor type minus the smallest one
    inh_receptor = {ports["inh_spikes"], ports["inh_spikes"] - min(ports.values())}
    n_exc = sum(len(members) for members in subpopulations)
    problems = []

    def table(connections, keys):
        if len(connections) == 0:
            return {key: np.array([]) for key in keys}
        values = connections.get(keys)
        return {key: np.atleast_1d(np.asarray(values[key])) for key in keys}

    for k, (members, inhibitory_neuron) in enumerate(zip(subpopulations, inhibitory)):
        ids = set(members.tolist())
        up = table(nest.GetConnections(target=inhibitory_neuron), ["source", "weight"])
        down = table(nest.GetConnections(source=inhibitory_neuron), ["target", "weight", "receptor"])
        if len(up["source"]) != len(ids) or set(up["source"].tolist()) != ids or not np.allclose(up["weight"], w_ie):
            problems.append(f"subpopulation {k} -> its inhibitory neuron: {len(up['source'])} connections")
        if (
            len(down["target"]) != len(ids)
            or set(down["target"].tolist()) != ids
            or not np.allclose(down["weight"], w_ei)
            or not set(down["receptor"].tolist()) <= inh_receptor
        ):
            problems.append(f"inhibitory neuron {k} -> its subpopulation: {len(down['target'])} connections")
    selfcheck.check(
        not problems,
        "each subpopulation is connected to its own inhibitory neuron (w_ie) and back (w_ei, on inh_spikes)",
        f"{2 * n_exc} connections expected" + (f"; wrong: {'; '.join(problems[:3])}" if problems else ""),
        hint="connect each subpopulation to its inhibitory neuron and back, once (run the notebook from the top "
        "if you ran this cell twice), with the given weights, and receptors['inh_spikes'] on the way back",
    )


# ---------------------------------------------------------------------------
# Sequences and their schedule


def validate_sequences(sequences, n_elements: int | None = None) -> list[str]:
    """Check a set of sequences and return its vocabulary (sorted letters).

    Each sequence is a string or list of single capital letters, with at least two
    elements and no element twice in a row; the vocabulary must fit the network
    (``n_elements`` subpopulations)."""
    if isinstance(sequences, str) or not sequences:
        raise ValueError("give a list of sequences, e.g. ['ADBE', 'FDBC'] or [['A', 'D', 'B', 'E'], ...]")
    vocabulary = set()
    for sequence in sequences:
        elements = list(sequence)
        if len(elements) < 2:
            raise ValueError(f"sequence {sequence!r} is too short: a sequence needs at least two elements")
        unknown = [e for e in elements if not (isinstance(e, str) and len(e) == 1 and e in string.ascii_uppercase)]
        if unknown:
            raise ValueError(f"sequence {sequence!r} has unknown elements {unknown}: use single capital letters A-Z")
        repeats = [a for a, b in zip(elements, elements[1:]) if a == b]
        if repeats:
            raise ValueError(f"sequence {sequence!r} repeats {repeats[0]} in a row, which one subpopulation cannot represent")
        vocabulary.update(elements)
    if n_elements is not None and len(vocabulary) > validation.whole_number("n_elements", n_elements):
        raise ValueError(
            f"the sequences use {len(vocabulary)} elements {sorted(vocabulary)}, but the network has only "
            f"{n_elements} subpopulations: raise n_elements"
        )
    return sorted(vocabulary)


@dataclasses.dataclass
class SequenceConfig:
    """Parameters of Bouhadjar et al. (2022); docs/science-notes.md says where each comes from."""

    n_elements: int = 6  # subpopulations (one per vocabulary element)
    n_per_element: int = 150  # excitatory neurons per subpopulation
    pattern_size: int = 20  # neurons expected to fire for a predicted element
    indegree: int = 180  # recurrent excitatory inputs per neuron (p = 0.2)
    delta_t: float = 40.0  # ms between elements of a sequence
    start: float = 30.0  # ms, first stimulus
    record_delay: float = 8.0  # ms after an element's stimulus at which predictions are read
    # neuron
    V_th: float = 20.0  # mV
    theta_dAP: float = 59.0  # pA
    I_p: float = 200.0  # pA
    tau_dAP: float = 60.0  # ms
    # synapse
    lambda_plus: float = 0.08
    lambda_minus: float = 0.0015
    lambda_h: float = 0.014
    zt: float = 1.0  # target dAP trace
    permanence_threshold: float = 10.0
    permanence_max: float = 20.0
    initial_permanence_max: float = 8.0  # initial permanences are uniform in [0, this]
    w_mature: float = 12.98  # pA: 1.1 * theta_dAP / 5, so 5 coincident mature synapses make a dAP
    tau_pre_trace: float = 20.0
    delay: float = 2.0  # ms, recurrent synapses

    @property
    def delta_t_sequences(self) -> float:
        """Pause between sequences: 2.5 delta_t, at least one dAP plateau."""
        return max(2.5 * self.delta_t, self.tau_dAP)

    def validate(self) -> None:
        """Refuse parameters the network cannot have (``ValueError`` naming the field)."""
        validation.whole_number("n_elements", self.n_elements, note=" (subpopulations, one per element)")
        validation.whole_number("n_per_element", self.n_per_element, note=" (excitatory neurons per subpopulation)")
        validation.whole_number(
            "pattern_size", self.pattern_size, maximum=self.n_per_element, note=" (at most n_per_element neurons)"
        )
        n_exc = self.n_elements * self.n_per_element
        validation.whole_number("indegree", self.indegree, maximum=n_exc - 1, note=f" (below the {n_exc} excitatory neurons)")
        for name in ("delta_t", "theta_dAP", "I_p", "tau_dAP", "w_mature", "V_th", "permanence_max", "tau_pre_trace", "delay"):
            validation.positive_number(name, getattr(self, name))
        validation.positive_number("start", self.start, note=" (ms; NEST drops a stimulus at time 0)")
        for name in ("record_delay", "permanence_threshold", "zt"):
            validation.nonnegative_number(name, getattr(self, name))
        for name in ("lambda_plus", "lambda_minus", "lambda_h"):
            validation.nonnegative_number(name, getattr(self, name), note=" (a learning rate of the permanence synapse)")
        validation.nonnegative_number("initial_permanence_max", self.initial_permanence_max)
        if self.initial_permanence_max > self.permanence_max:
            raise ValueError(
                f"initial_permanence_max must lie between 0 and permanence_max ({self.permanence_max}), "
                f"got {self.initial_permanence_max!r}"
            )


@dataclasses.dataclass
class Schedule:
    """When each element is presented, and when each prediction is read."""

    sequences: list[list[str]]
    vocabulary: list[str]
    config: SequenceConfig
    n_episodes: int
    stimuli: dict[str, list[float]]  # element: stimulus times (ms)
    readouts: list[tuple[int, int, float]]  # (episode, sequence index, time of the read-out)
    t_end: float  # end of the last episode (ms)
    episode_length: float  # ms: one presentation of every sequence

    @property
    def last_episode_start(self) -> float:
        return self.t_end - self.episode_length


def episode_schedule(sequences, config: SequenceConfig, n_episodes: int) -> Schedule:
    """Stimulus times for ``n_episodes`` presentations of all sequences, and for every
    episode and sequence the time at which the prediction of its last element is read
    (the stimulus of its second-to-last element + ``record_delay``)."""
    config.validate()
    vocabulary = validate_sequences(sequences, config.n_elements)
    n_episodes = validation.whole_number("n_episodes", n_episodes)
    stimuli: dict[str, list[float]] = {}
    readouts = []
    t = config.start
    for episode in range(n_episodes):
        for index, sequence in enumerate(sequences):
            for position, element in enumerate(sequence):
                if position:
                    t += config.delta_t
                stimuli.setdefault(element, []).append(t)
                if position == len(sequence) - 2:
                    readouts.append((episode, index, t + config.record_delay))
            t += config.delta_t_sequences
    episode_length = sum((len(s) - 1) * config.delta_t + config.delta_t_sequences for s in sequences)
    return Schedule([list(s) for s in sequences], vocabulary, config, n_episodes, stimuli, readouts, t, episode_length)


# ---------------------------------------------------------------------------
# Training: the loop around the notebook's network


@dataclasses.dataclass
class TrainingHistory:
    schedule: Schedule
    error: np.ndarray  # per episode, mean over sequences
    false_positives: np.ndarray
    false_negatives: np.ndarray
    predicted: list[list[set]]  # per episode, per sequence: the elements predicted
    active_neurons: np.ndarray  # episodes x sequences x positions: neurons firing for each element
    spikes: dict  # times and senders (0-based neuron index) of excitatory spikes
    dap_last_episode: dict  # times and senders (0-based) of dAP samples in the last episode
    synapses_before: dict  # source, target (0-based) and permanence of every recurrent synapse
    synapses_after: dict

    @property
    def config(self) -> SequenceConfig:
        return self.schedule.config

    def converged_episode(self, tolerance: float = 0.0) -> int | None:
        """First episode from which the error stays at or below ``tolerance`` (0-based)."""
        above = np.flatnonzero(self.error > tolerance)
        if above.size == 0:
            return 0
        return int(above[-1] + 1) if above[-1] + 1 < len(self.error) else None

    def connectivity(self, after_training: bool = True, mature_only: bool = True) -> np.ndarray:
        """Synapses from each subpopulation (rows, presynaptic) to each subpopulation
        (columns): only mature ones (permanence above threshold) by default, or all."""
        table = self.synapses_after if after_training else self.synapses_before
        c = self.config
        keep = table["permanence"] > c.permanence_threshold if mature_only else np.ones(len(table["source"]), bool)
        matrix = np.zeros((c.n_elements, c.n_elements), dtype=int)
        np.add.at(matrix, (table["source"][keep] // c.n_per_element, table["target"][keep] // c.n_per_element), 1)
        return matrix

    def mature_synapses(self) -> dict:
        """Source and target (0-based neuron indices) of the synapses mature after training."""
        keep = self.synapses_after["permanence"] > self.config.permanence_threshold
        return {"source": self.synapses_after["source"][keep], "target": self.synapses_after["target"][keep]}


def synapse_table(exc) -> dict:
    """Source and target (0-based indices into ``exc``) and permanence of every synapse
    among ``exc``, read in slices."""
    nest = import_nest()
    # asked afresh: connection handles go stale when connections are added
    data = get_in_chunks(nest.GetConnections(exc, exc), ["source", "target", "permanence"])
    first = exc[0].global_id
    return {"source": data["source"] - first, "target": data["target"] - first, "permanence": data["permanence"]}


def train(exc, schedule: Schedule, *, spike_recorder, dap_recorder, progress: bool = True) -> TrainingHistory:
    """Run the schedule on the notebook's network: simulate to each read-out (just after
    a sequence's second-to-last element), count the neurons of each subpopulation in a
    dAP plateau, and keep the prediction errors; then read the spikes and dAPs.

    ``exc`` are the excitatory neurons, subpopulation k (the vocabulary's k-th element)
    being ``exc[k * n_per_element:(k + 1) * n_per_element]``; ``spike_recorder`` records
    them, ``dap_recorder`` is a multimeter recording their ``active_dendrite_readout``."""
    nest = import_nest()
    c = schedule.config
    n = c.n_per_element
    if len(exc) != c.n_elements * n:
        raise ValueError(f"exc has {len(exc)} neurons; the schedule's config expects {c.n_elements} x {n}")
    require_time_zero(
        "train",
        "runs the schedule from time 0",
        "build the network again in a fresh kernel (nw.reset_kernel) to train it",
    )
    element_index = {e: i for i, e in enumerate(schedule.vocabulary)}
    synapses_before = synapse_table(exc)

    n_seq = len(schedule.sequences)
    n_episodes = schedule.n_episodes
    predicted = [[set() for _ in range(n_seq)] for _ in range(n_episodes)]
    errors, fps, fns = (np.zeros((n_episodes, n_seq)) for _ in range(3))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_episodes, desc="training", unit="episode")
    for episode, index, t_read in schedule.readouts:
        nest.Simulate(t_read - nest.biological_time)
        in_dap = np.asarray(exc.get("I_dend")) > c.I_p - 1.0  # neurons in a dAP plateau
        counts = in_dap.reshape(c.n_elements, n).sum(axis=1)
        target = element_index[schedule.sequences[index][-1]]
        enough = counts >= 0.5 * c.pattern_size
        predicted[episode][index] = {schedule.vocabulary[k] for k in np.flatnonzero(enough) if k < len(schedule.vocabulary)}
        fps[episode, index] = np.sum(np.delete(enough, target))
        fns[episode, index] = 0.0 if enough[target] else 1.0
        errors[episode, index] = np.sqrt(fps[episode, index] + fns[episode, index])
        if bar is not None and index == n_seq - 1:
            bar.update(1)
            bar.set_postfix(error=f"{errors[episode].mean():.2f}")
    nest.Simulate(schedule.t_end - nest.biological_time)
    if bar is not None:
        bar.close()

    first = exc[0].global_id  # spikes and dAPs are kept with 0-based neuron indices
    times = np.asarray(spike_recorder.events["times"])
    senders = np.asarray(spike_recorder.events["senders"]) - first
    events = dap_recorder.events
    in_dap = np.asarray(events["active_dendrite_readout"]) > 0.5
    return TrainingHistory(
        schedule=schedule,
        error=errors.mean(axis=1),
        false_positives=fps.mean(axis=1),
        false_negatives=fns.mean(axis=1),
        predicted=predicted,
        active_neurons=_active_per_element(schedule, times, senders),
        spikes={"times": times, "senders": senders},
        dap_last_episode={"times": np.asarray(events["times"])[in_dap], "senders": np.asarray(events["senders"])[in_dap] - first},
        synapses_before=synapses_before,
        synapses_after=synapse_table(exc),
    )


def _active_per_element(schedule: Schedule, times, senders) -> np.ndarray:
    """Number of distinct neurons of the stimulated subpopulation that fire within
    delta_t of each stimulus: about n_per_element for a surprise, about pattern_size
    for a predicted element."""
    c = schedule.config
    element_index = {e: i for i, e in enumerate(schedule.vocabulary)}
    longest = max(len(s) for s in schedule.sequences)
    counts = np.zeros((schedule.n_episodes, len(schedule.sequences), longest), dtype=int)
    occurrence = {e: 0 for e in schedule.stimuli}
    for episode in range(schedule.n_episodes):
        for i, sequence in enumerate(schedule.sequences):
            for position, element in enumerate(sequence):
                t = schedule.stimuli[element][occurrence[element]]
                occurrence[element] += 1
                window = (times >= t) & (times < t + c.delta_t)
                members = senders[window] // c.n_per_element == element_index[element]
                counts[episode, i, position] = len(np.unique(senders[window][members]))
    return counts


def replay_orders(times, senders, cue_times, vocabulary, config: SequenceConfig, window: float) -> list[list[str]]:
    """For each cue, the elements whose subpopulation becomes active (at least half a
    pattern's neurons fire) within ``window`` ms, in the order of their median spike
    time. ``senders`` are 0-based neuron indices."""
    validation.positive_number("window", window, note=" (ms after each cue in which the replay is read)")
    times, senders = np.asarray(times), np.asarray(senders)
    orders = []
    for t in cue_times:
        in_window = (times >= t) & (times < t + window)
        onsets = []
        for k, element in enumerate(vocabulary):
            mine = in_window & (senders // config.n_per_element == k)
            if len(np.unique(senders[mine])) >= config.pattern_size // 2:
                onsets.append((float(np.median(times[mine])), element))
        orders.append([element for _, element in sorted(onsets)])
    return orders


# ---------------------------------------------------------------------------
# Figures


def plot_activity(history: TrainingHistory, *, spikes=None, daps=None, stimuli=None, t_range=None, title: str = ""):
    """Raster of the excitatory neurons, one band per element: somatic spikes (dots),
    dAPs (light lines) and stimuli (triangles). Without ``spikes``: the last training
    episode. With ``spikes`` (times and 0-based senders, e.g. of a replay): those."""
    import matplotlib.pyplot as plt

    from ..core.plotting import PALETTE, apply_style

    apply_style()
    c, vocabulary = history.config, history.schedule.vocabulary
    if spikes is None:
        spikes, daps, stimuli = history.spikes, history.dap_last_episode, history.schedule.stimuli
        if t_range is None:
            t_range = (history.schedule.last_episode_start - 10.0, history.schedule.t_end)
    fig, ax = plt.subplots(figsize=(10, 4))
    for k in range(0, c.n_elements, 2):
        ax.axhspan(k * c.n_per_element, (k + 1) * c.n_per_element, color="0.93", zorder=0)
    if daps is not None and len(daps["times"]):
        ax.plot(daps["times"], daps["senders"], "|", ms=2, color=PALETTE[5], alpha=0.4, label="dAP (prediction)", zorder=1)
    ax.plot(spikes["times"], spikes["senders"], ".", ms=2, color=PALETTE[1], label="somatic spike", zorder=2)
    for element, times in (stimuli or {}).items():
        k = vocabulary.index(element)
        shown = [t for t in times if t_range is None or t_range[0] <= t <= t_range[1]]
        ax.plot(shown, [k * c.n_per_element - 8] * len(shown), "^", color="k", ms=5, zorder=3)
    ax.set_yticks([(k + 0.5) * c.n_per_element for k in range(len(vocabulary))], vocabulary)
    ax.set_ylabel("element (subpopulation)")
    ax.set_xlabel("time (ms)")
    if t_range is not None:
        ax.set_xlim(*t_range)
    ax.set_ylim(-15, c.n_elements * c.n_per_element)
    ax.legend(loc="upper right", fontsize=8, markerscale=4)
    if title:
        ax.set_title(title)
    return fig, ax


def plot_dendritic_current(events: dict, neurons, ax=None):
    """Notebook 1's test: the dendritic current of each neuron (neuron k got k coincident
    inputs) from a multimeter's ``events``, with the dAP threshold."""
    import matplotlib.pyplot as plt

    from ..core.plotting import apply_style

    apply_style()
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.5))
    for k, neuron in enumerate(neurons, start=1):
        mine = np.asarray(events["senders"]) == neuron.global_id
        ax.plot(np.asarray(events["times"])[mine], np.asarray(events["I_dend"])[mine], label=f"{k} inputs", lw=1.2)
    ax.axhline(neurons[0].get("theta_dAP"), color="gray", ls=":", lw=1, label="theta_dAP")
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("I$_{dend}$ (pA)")
    ax.legend(fontsize=7, ncols=3)
    return ax


def plot_connectivity(history: TrainingHistory):
    """All recurrent synapses between subpopulations before training, and the mature
    ones after, as matrices labelled with the elements."""
    import matplotlib.pyplot as plt

    from ..core.plotting import apply_style

    apply_style()
    vocabulary = history.schedule.vocabulary
    labels = vocabulary + [""] * (history.config.n_elements - len(vocabulary))
    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    panels = [
        (history.connectivity(after_training=False, mature_only=False), "all synapses (before training)"),
        (history.connectivity(after_training=True), "mature synapses after training"),
    ]
    for ax, (matrix, title) in zip(axes, panels):
        image = ax.imshow(matrix, cmap="viridis")
        ax.set_xticks(range(len(labels)), labels)
        ax.set_yticks(range(len(labels)), labels)
        ax.set_xlabel("to (postsynaptic)")
        ax.set_ylabel("from (presynaptic)")
        ax.set_title(title, fontsize=10)
        fig.colorbar(image, ax=ax, shrink=0.8, label="synapses")
    return fig, axes


def draw_neuron(axes=None):
    """Schematic of the model pair: the neuron's soma and active dendrite with its three
    input ports, the dAP plateau, and the synapse's permanence update with the dAP trace
    as third factor. Drawn by :func:`nest_workshop.core.schematics.sequence_neuron`;
    returns the two axes."""
    from ..core import schematics  # matplotlib, imported on first use

    return schematics.sequence_neuron(axes)


def draw_network(ax=None, vocabulary=("A", "B", "C", "D", "E", "F")):
    """Schematic of the network: one excitatory subpopulation (``SequenceConfig``'s
    ``n_per_element`` neurons) and one inhibitory neuron per element, the stimulus of
    each element, plastic recurrent synapses between all excitatory neurons, and
    winner-take-all inhibition within each subpopulation. Drawn by
    :func:`nest_workshop.core.schematics.sequence_network`; returns the axes."""
    from ..core import schematics  # matplotlib, imported on first use

    return schematics.sequence_network(ax, vocabulary, n_per_element=SequenceConfig.n_per_element)
