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

Main entry points: :func:`build_models`, :class:`SequenceNetwork` (``train``,
``connectivity``) and :func:`replay`.
"""

from __future__ import annotations

import dataclasses
import string
from pathlib import Path

import numpy as np

from ..core import nestml
from ..core.kernel import require_fresh_kernel

MODELS = Path("models")  # relative to the part's folder, where its notebooks run


# ---------------------------------------------------------------------------
# The NESTML models


def build_models(models_dir: str | Path = MODELS) -> nestml.NestmlModule:
    """Build (or load from the cache) the dendritic neuron and the permanence synapse,
    generated together so the synapse can read the neuron's ``dAP_trace``.
    Keep in step with the part's ``nestml_modules.toml``."""
    models_dir = Path(models_dir)
    return nestml.build(
        [models_dir / "dendritic_neuron.nestml", models_dir / "permanence_synapse.nestml"],
        module_name="sequence_learning",
        codegen_opts={
            "weight_variable": {"permanence_synapse": "w"},
            "delay_variable": {"permanence_synapse": "d"},
            "continuous_state_buffering_method": "post_spike_based",
            "neuron_synapse_pairs": [
                {
                    "neuron": "dendritic_neuron",
                    "synapses": {"permanence_synapse": {"post_ports": ["post_spikes", ["dAP_trace", "dAP_trace"]]}},
                }
            ],
        },
    )


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


def model_names(module: nestml.NestmlModule) -> tuple[str, str]:
    """(neuron, synapse) names of the co-generated pair."""
    neuron = next(n for n in module.neuron_models if "__with_" in n)
    synapse = next(s for s in module.synapse_models if "__with_" in s)
    return neuron, synapse


# ---------------------------------------------------------------------------
# Experiments with one neuron and one synapse (notebook 1)


def neuron_experiment(
    module: nestml.NestmlModule,
    *,
    n_dendritic: int = 0,
    dendritic_time: float = 10.0,
    somatic_time: float | None = None,
    config: SequenceConfig | None = None,
    t_sim: float = 120.0,
) -> dict:
    """One neuron: ``n_dendritic`` coincident inputs of a mature synapse's weight reach
    its dendrite at ``dendritic_time``; optionally one stimulus (the network's external
    input) reaches its soma at ``somatic_time``. Returns the traces (every 0.1 ms) and
    the somatic spike times. Runs in a fresh kernel (call ``nw.reset_kernel`` first)."""
    config = config or SequenceConfig()
    if not isinstance(n_dendritic, int) or n_dendritic < 0:
        raise ValueError(f"n_dendritic must be a whole number of at least 0, got {n_dendritic!r}")
    neuron_model, _ = model_names(module)
    nest = require_fresh_kernel("neuron_experiment")
    neuron = nest.Create(neuron_model, params=_soma_params(config, tau_h=config.tau_dAP * 10))
    receptors = {k.lower(): v for k, v in nest.GetDefaults(neuron_model)["receptor_types"].items()}
    if n_dendritic:
        generator = nest.Create("spike_generator", params={"spike_times": [dendritic_time]})
        parrots = nest.Create("parrot_neuron", n_dendritic)
        nest.Connect(generator, parrots)
        nest.Connect(
            parrots, neuron, syn_spec={"weight": config.w_mature, "delay": 1.0, "receptor_type": receptors["dend_spikes"]}
        )
    if somatic_time is not None:
        stimulus = nest.Create("spike_generator", params={"spike_times": [somatic_time]})
        nest.Connect(
            stimulus,
            neuron,
            syn_spec={"weight": stimulus_weight(config), "delay": 0.1, "receptor_type": receptors["soma_spikes"]},
        )
    meter = nest.Create(
        "multimeter", params={"record_from": ["V_m", "I_dend", "active_dendrite_readout", "dAP_trace"], "interval": 0.1}
    )
    recorder = nest.Create("spike_recorder")
    nest.Connect(meter, neuron)
    nest.Connect(neuron, recorder)
    nest.Simulate(t_sim)
    events = meter.events
    return {
        **{k: np.asarray(events[k]) for k in ("times", "V_m", "I_dend", "active_dendrite_readout", "dAP_trace")},
        "spikes": np.asarray(recorder.events["times"]),
    }


def pairing_experiment(
    module: nestml.NestmlModule,
    dap_trace: float,
    *,
    lag: float = 40.0,
    n_pairings: int = 20,
    interval: float = 200.0,
    initial_permanence: float = 5.0,
    config: SequenceConfig | None = None,
) -> dict:
    """One plastic synapse under repeated pre-then-post pairing (the postsynaptic spike
    ``lag`` ms after the presynaptic one), with the postsynaptic dAP trace clamped at
    ``dap_trace`` (pA; the target is ``config.zt``). Returns the permanence after each
    pairing. Runs in a fresh kernel (call ``nw.reset_kernel`` first)."""
    config = config or SequenceConfig()
    if not dap_trace >= 0:
        raise ValueError(f"dap_trace must be at least 0, got {dap_trace!r}")
    if not isinstance(n_pairings, int) or n_pairings < 1:
        raise ValueError(f"n_pairings must be a whole number of at least 1, got {n_pairings!r}")
    neuron_model, synapse_model = model_names(module)
    nest = require_fresh_kernel("pairing_experiment")
    post = nest.Create(
        neuron_model, params={**_soma_params(config, tau_h=440.0), "evolve_dAP_trace": 0.0, "dAP_trace": float(dap_trace)}
    )
    pre = nest.Create("parrot_neuron")
    receptors = {k.lower(): v for k, v in nest.GetDefaults(neuron_model)["receptor_types"].items()}
    pre_times = [50.0 + i * interval for i in range(n_pairings)]
    pre_source = nest.Create("spike_generator", params={"spike_times": pre_times})
    nest.Connect(pre_source, pre)
    # the postsynaptic spike is forced by a strong somatic input; it fires ~1.6 ms later
    post_source = nest.Create("spike_generator", params={"spike_times": [t + lag - 1.6 for t in pre_times]})
    nest.Connect(
        post_source,
        post,
        syn_spec={"weight": 2 * stimulus_weight(config), "delay": 0.1, "receptor_type": receptors["soma_spikes"]},
    )
    nest.Connect(
        pre,
        post,
        syn_spec={
            "synapse_model": synapse_model,
            "receptor_type": receptors["dend_spikes"],
            "delay": 0.1,
            "permanence": initial_permanence,
            "permanence_min": 1.0,
            "lambda_plus": config.lambda_plus,
            "lambda_minus": config.lambda_minus,
            "lambda_h": config.lambda_h,
            "zt": config.zt,
            "tau_pre_trace": config.tau_pre_trace,
            "permanence_max": config.permanence_max,
            "dt_min": 4.0,
            "dt_max": 2 * config.delta_t,
        },
    )
    post_spikes = nest.Create("spike_recorder")
    nest.Connect(post, post_spikes)
    synapse = nest.GetConnections(pre, post)
    permanence = [initial_permanence]
    for t in pre_times:
        nest.Simulate(t + interval - nest.biological_time - 1.0)  # after the pairing, before the next one
        permanence.append(float(synapse.get("permanence")))
    post_times = np.asarray(post_spikes.events["times"])
    measured_lags = post_times - np.asarray(pre_times)[: len(post_times)]
    return {"permanence": np.asarray(permanence), "lags": measured_lags, "dap_trace": dap_trace}


INHIBITORY_NEURON = dict(
    C_m=250.0, tau_m=5.0, tau_syn_ex=0.5, tau_syn_in=1.65, V_th=15.0, V_reset=0.0, E_L=0.0, V_m=0.0, t_ref=2.0
)


def stimulus_weight(config: SequenceConfig) -> float:
    """External input: a PSP of 1.1 x the somatic threshold, so a stimulus makes a neuron fire."""
    return psc_for_psp(1.1 * config.V_th, 10.0, 2.0, 250.0)


def _connect_inhibition(
    nest, exc, inh, config: SequenceConfig, spikes_to_fire: int, inh_receptor: int, excites: bool = False
) -> None:
    """Winner-take-all inhibition per subpopulation: about ``spikes_to_fire`` spikes of
    a subpopulation fire its inhibitory neuron, which then silences the subpopulation.
    ``excites`` flips the inhibitory weight (the published tutorial's sign error)."""
    w_ie = psc_for_psp(1.2 * INHIBITORY_NEURON["V_th"] / spikes_to_fire, 5.0, 0.5, 250.0)
    w_ei = -psc_for_psp(2 * config.V_th, 10.0, 1.0, 250.0)  # negative: an inhibitory weight
    if excites:
        w_ei = -w_ei
    n = config.n_per_element
    for k in range(config.n_elements):
        members = exc[k * n : (k + 1) * n]
        nest.Connect(members, inh[k], syn_spec={"weight": w_ie, "delay": 0.1})
        nest.Connect(inh[k], members, syn_spec={"weight": w_ei, "delay": 0.1, "receptor_type": inh_receptor})


def _soma_params(config: SequenceConfig, tau_h: float) -> dict:
    return dict(
        C_m=250.0,
        tau_m=10.0,
        tau_syn_soma=2.0,
        tau_syn_dend=5.0,
        tau_syn_inh=1.0,
        V_th=config.V_th,
        V_reset=0.0,
        t_ref=10.0,
        theta_dAP=config.theta_dAP,
        I_p=config.I_p,
        tau_dAP=config.tau_dAP,
        tau_h=tau_h,
    )


# ---------------------------------------------------------------------------
# Sequences


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
    if n_elements is not None and len(vocabulary) > n_elements:
        raise ValueError(
            f"the sequences use {len(vocabulary)} elements {sorted(vocabulary)}, but the network has only "
            f"{n_elements} subpopulations: raise n_elements"
        )
    return sorted(vocabulary)


def psc_for_psp(psp_max: float, tau_m: float, tau_syn: float, C_m: float) -> float:
    """The amplitude (pA) of an exponential synaptic current that gives a leaky
    integrate-and-fire membrane (tau_m, C_m) a PSP peaking at ``psp_max`` mV."""
    if tau_m == tau_syn:
        raise ValueError("tau_m and tau_syn must differ")
    resistance = tau_m / C_m  # GΩ
    t_peak = tau_m * tau_syn / (tau_m - tau_syn) * np.log(tau_m / tau_syn)
    unit_psp = resistance * tau_syn / (tau_m - tau_syn) * (np.exp(-t_peak / tau_m) - np.exp(-t_peak / tau_syn))
    return psp_max / unit_psp


# ---------------------------------------------------------------------------
# The network


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
    # True reproduces the sign error of NESTML's published tutorial: its neuron subtracts
    # the inhibitory current while the network sends negative weights, so each
    # "inhibitory" spike excites
    inhibition_excites: bool = False

    @property
    def delta_t_sequences(self) -> float:
        """Pause between sequences: 2.5 delta_t, at least one dAP plateau."""
        return max(2.5 * self.delta_t, self.tau_dAP)

    def validate(self) -> None:
        for name in ("n_elements", "n_per_element", "pattern_size", "indegree"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number of at least 1, got {value!r}")
        if self.pattern_size > self.n_per_element:
            raise ValueError(f"pattern_size ({self.pattern_size}) cannot exceed n_per_element ({self.n_per_element})")
        if self.indegree >= self.n_elements * self.n_per_element:
            raise ValueError(f"indegree ({self.indegree}) must be below the {self.n_elements * self.n_per_element} neurons")
        for name in ("delta_t", "theta_dAP", "I_p", "tau_dAP", "w_mature", "V_th"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")
        if not 0 <= self.initial_permanence_max <= self.permanence_max:
            raise ValueError("initial_permanence_max must lie between 0 and permanence_max")


def episode_schedule(sequences, config: SequenceConfig, n_episodes: int):
    """Stimulus times: ``{element: [times]}``, and for every episode and sequence the
    time at which the prediction of its last element is read (the stimulus of its
    second-to-last element + ``record_delay``)."""
    if not isinstance(n_episodes, int) or n_episodes < 1:
        raise ValueError(f"n_episodes must be a whole number of at least 1, got {n_episodes!r}")
    stimuli: dict[str, list[float]] = {}
    readouts = []  # (episode, sequence index, time)
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
    return stimuli, readouts, t


@dataclasses.dataclass
class TrainingHistory:
    sequences: list[list[str]]
    error: np.ndarray  # per episode, mean over sequences
    false_positives: np.ndarray
    false_negatives: np.ndarray
    predicted: list[list[set]]  # per episode, per sequence: the elements predicted
    active_neurons: np.ndarray  # episodes x sequences x positions: neurons firing for each element
    spikes: dict  # times and senders (0-based neuron index) of excitatory spikes
    dap_last_episode: dict  # times and senders (0-based) of dAP samples (1 ms) in the last episode
    stimuli: dict

    def converged_episode(self, tolerance: float = 0.0) -> int | None:
        """First episode from which the error stays at or below ``tolerance`` (0-based)."""
        above = np.flatnonzero(self.error > tolerance)
        if above.size == 0:
            return 0
        return int(above[-1] + 1) if above[-1] + 1 < len(self.error) else None


class SequenceNetwork:
    """The network, built in the fresh NEST kernel the notebook set up (its seed and
    threads). ``train`` presents the sequences episode by episode with plasticity on and
    measures the predictions."""

    def __init__(self, sequences, module: nestml.NestmlModule, config: SequenceConfig | None = None):
        self.config = config or SequenceConfig()
        self.config.validate()
        self.vocabulary = validate_sequences(sequences, self.config.n_elements)
        self.sequences = [list(s) for s in sequences]
        self.element_index = {e: i for i, e in enumerate(self.vocabulary)}
        self.neuron_model, self.synapse_model = model_names(module)
        self.nest = require_fresh_kernel("SequenceNetwork")
        self.seed, self.threads = int(self.nest.rng_seed), int(self.nest.local_num_threads)
        self._build()

    # -- construction ---------------------------------------------------------
    def _build(self):
        nest, c = self.nest, self.config
        n = c.n_per_element
        self.exc = nest.Create(
            self.neuron_model, c.n_elements * n, params=_soma_params(c, tau_h=self.homeostasis_time_constant())
        )
        self.inh = nest.Create("iaf_psc_exp", c.n_elements, params=INHIBITORY_NEURON)
        receptors = nest.GetDefaults(self.neuron_model)["receptor_types"]
        self.receptors = {k.lower(): v for k, v in receptors.items()}

        nest.Connect(
            self.exc,
            self.exc,
            {"rule": "fixed_indegree", "indegree": c.indegree, "allow_autapses": False, "allow_multapses": False},
            {
                "synapse_model": self.synapse_model,
                "receptor_type": self.receptors["dend_spikes"],
                "delay": c.delay,
                "permanence": nest.random.uniform(min=0.0, max=c.initial_permanence_max),
                "Wmax": c.w_mature,
                "permanence_threshold": c.permanence_threshold,
                "permanence_max": c.permanence_max,
                "lambda_plus": c.lambda_plus,
                "lambda_minus": c.lambda_minus,
                "lambda_h": c.lambda_h,
                "zt": c.zt,
                "tau_pre_trace": c.tau_pre_trace,
                "dt_min": 4.0,
                "dt_max": 2 * c.delta_t,
            },
        )
        self.synapses_before = self.synapses_after = None

        _connect_inhibition(
            nest, self.exc, self.inh, c, c.pattern_size, self.receptors["inh_spikes"], excites=c.inhibition_excites
        )
        self.w_stimulus = stimulus_weight(c)
        self.spike_recorder = nest.Create("spike_recorder")
        nest.Connect(self.exc, self.spike_recorder)

    def homeostasis_time_constant(self) -> float:
        """tau_h: the dAP trace should count the dAPs of one presentation of all sequences."""
        c = self.config
        return sum((len(s) - 1) * c.delta_t + c.delta_t_sequences for s in self.sequences)

    def subpopulation(self, k: int):
        n = self.config.n_per_element
        return self.exc[k * n : (k + 1) * n]

    # -- training ---------------------------------------------------------------
    def train(self, n_episodes: int = 40, progress: bool = True) -> TrainingHistory:
        """Present all sequences ``n_episodes`` times with plasticity on; after each
        second-to-last element, read which subpopulations hold enough dAPs."""
        nest, c = self.nest, self.config
        stimuli, readouts, t_end = episode_schedule(self.sequences, c, n_episodes)
        self.stimuli = stimuli
        for element, times in stimuli.items():
            generator = nest.Create("spike_generator", params={"spike_times": times})
            nest.Connect(
                generator,
                self.subpopulation(self.element_index[element]),
                syn_spec={"weight": self.w_stimulus, "delay": 0.1, "receptor_type": self.receptors["soma_spikes"]},
            )
        episode_length = sum((len(s) - 1) * c.delta_t + c.delta_t_sequences for s in self.sequences)
        dap_meter = nest.Create(
            "multimeter",
            params={"record_from": ["active_dendrite_readout"], "interval": 1.0, "start": t_end - episode_length, "stop": t_end},
        )
        nest.Connect(dap_meter, self.exc)
        # after the last Connect (NEST invalidates connection handles when connections are added):
        # a synapse never falls below the permanence it started with
        recurrent = nest.GetConnections(self.exc, self.exc)
        recurrent.set(permanence_min=get_in_chunks(recurrent, ["permanence"])["permanence"].tolist())
        self.synapses_before = self._synapse_table()

        n_seq = len(self.sequences)
        predicted = [[set() for _ in range(n_seq)] for _ in range(n_episodes)]
        errors = np.zeros((n_episodes, n_seq))
        fps = np.zeros((n_episodes, n_seq))
        fns = np.zeros((n_episodes, n_seq))
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=n_episodes, desc="training", unit="episode")
        for episode, index, t_read in readouts:
            nest.Simulate(t_read - nest.biological_time)
            dap = np.asarray(self.exc.get("I_dend")) > c.I_p - 1.0  # neurons in a dAP plateau
            counts = dap.reshape(c.n_elements, c.n_per_element).sum(axis=1)
            target = self.element_index[self.sequences[index][-1]]
            enough = counts >= 0.5 * c.pattern_size
            predicted[episode][index] = {self.vocabulary[k] for k in np.flatnonzero(enough)}
            fps[episode, index] = np.sum(np.delete(enough, target))
            fns[episode, index] = 0.0 if enough[target] else 1.0
            errors[episode, index] = np.sqrt(fps[episode, index] + fns[episode, index])
            if bar is not None and index == n_seq - 1:
                bar.update(1)
                bar.set_postfix(error=f"{errors[episode].mean():.2f}")
        nest.Simulate(t_end - nest.biological_time)
        if bar is not None:
            bar.close()
        self.synapses_after = self._synapse_table()

        first = self.exc[0].global_id  # spikes and dAPs are stored with 0-based neuron indices
        times = np.asarray(self.spike_recorder.events["times"])
        senders = np.asarray(self.spike_recorder.events["senders"]) - first
        active = self._active_per_element(times, senders, n_episodes)
        events = dap_meter.events
        in_dap = np.asarray(events["active_dendrite_readout"]) > 0.5
        return TrainingHistory(
            sequences=self.sequences,
            error=errors.mean(axis=1),
            false_positives=fps.mean(axis=1),
            false_negatives=fns.mean(axis=1),
            predicted=predicted,
            active_neurons=active,
            spikes={"times": times, "senders": senders},
            dap_last_episode={
                "times": np.asarray(events["times"])[in_dap],
                "senders": np.asarray(events["senders"])[in_dap] - first,
            },
            stimuli=stimuli,
        )

    def _active_per_element(self, times, senders, n_episodes):
        """Number of distinct neurons of the stimulated subpopulation that fire within
        delta_t of each stimulus: about n_per_element for a surprise, about
        pattern_size for a predicted element."""
        c = self.config
        counts = np.zeros((n_episodes, len(self.sequences), max(len(s) for s in self.sequences)), dtype=int)
        occurrence = {e: 0 for e in self.stimuli}
        for episode in range(n_episodes):
            for i, sequence in enumerate(self.sequences):
                for position, element in enumerate(sequence):
                    t = self.stimuli[element][occurrence[element]]
                    occurrence[element] += 1
                    k = self.element_index[element]
                    window = (times >= t) & (times < t + c.delta_t)
                    members = senders[window] // c.n_per_element == k
                    counts[episode, i, position] = len(np.unique(senders[window][members]))
        return counts

    # -- analysis ----------------------------------------------------------------
    def _synapse_table(self) -> dict:
        """Source and target (0-based neuron indices) and permanence of every recurrent synapse."""
        # asked afresh: connection handles go stale when connections are added
        data = get_in_chunks(self.nest.GetConnections(self.exc, self.exc), ["source", "target", "permanence"])
        first = self.exc[0].global_id
        return {"source": data["source"] - first, "target": data["target"] - first, "permanence": data["permanence"]}

    def connectivity(self, after_training: bool = True, mature_only: bool = True) -> np.ndarray:
        """Synapses from each subpopulation (rows, presynaptic) to each subpopulation
        (columns): only mature ones (permanence above threshold) by default, or all."""
        table = self.synapses_after if after_training else self.synapses_before
        if table is None:
            raise RuntimeError("train the network first: connectivity is read at the start and end of training")
        c = self.config
        keep = table["permanence"] > c.permanence_threshold if mature_only else np.ones(len(table["source"]), bool)
        matrix = np.zeros((c.n_elements, c.n_elements), dtype=int)
        np.add.at(matrix, (table["source"][keep] // c.n_per_element, table["target"][keep] // c.n_per_element), 1)
        return matrix

    def mature_synapses(self) -> dict:
        """Source and target (0-based neuron indices) of the mature synapses after training."""
        if self.synapses_after is None:
            raise RuntimeError("train the network first")
        keep = self.synapses_after["permanence"] > self.config.permanence_threshold
        return {"source": self.synapses_after["source"][keep], "target": self.synapses_after["target"][keep]}


# ---------------------------------------------------------------------------
# Replay


def replay(network: SequenceNetwork, cues, *, interval: float = 250.0) -> dict:
    """Cue the trained network with first elements only and let it replay.

    A fresh kernel (call ``nw.reset_kernel`` after training, before this) holds the same neurons with the trained mature synapses as static ones
    (learning off). As in Bouhadjar et al., the somatic threshold is lowered to a quarter
    so a dAP alone makes a neuron fire, and the dAP threshold to 70 %, so that
    predictions become activity and activity the next prediction. Returns the spikes and,
    for each cue, the order in which subpopulations become active.
    """
    unknown = [c for c in cues if c not in network.element_index]
    if unknown:
        raise ValueError(f"cues {unknown} are not in the trained vocabulary {network.vocabulary}")
    mature = network.mature_synapses()
    c = network.config
    nest = require_fresh_kernel("replay")
    soma = dict(
        C_m=250.0,
        tau_m=10.0,
        tau_syn_soma=2.0,
        tau_syn_dend=5.0,
        tau_syn_inh=1.0,
        V_th=0.25 * c.V_th,
        V_reset=0.0,
        t_ref=10.0,
        theta_dAP=0.7 * c.theta_dAP,
        I_p=c.I_p,
        tau_dAP=c.tau_dAP,
    )
    exc = nest.Create(network.neuron_model, c.n_elements * c.n_per_element, params=soma)
    receptors = {k.lower(): v for k, v in nest.GetDefaults(network.neuron_model)["receptor_types"].items()}
    if len(mature["source"]):
        ids = np.asarray(exc.tolist())
        count = len(mature["source"])
        nest.Connect(
            ids[mature["source"]],
            ids[mature["target"]],
            "one_to_one",
            {"weight": np.full(count, c.w_mature), "delay": np.full(count, c.delay), "receptor_type": receptors["dend_spikes"]},
        )
    # inhibition needs the whole subpopulation now, so replayed activity is not cut short
    inh = nest.Create("iaf_psc_exp", c.n_elements, params=INHIBITORY_NEURON)
    _connect_inhibition(nest, exc, inh, c, c.n_per_element, receptors["inh_spikes"])
    n = c.n_per_element
    cue_times = [c.start + i * interval for i in range(len(cues))]
    w_stimulus = stimulus_weight(c)
    for cue, t in zip(cues, cue_times):
        k = network.element_index[cue]
        generator = nest.Create("spike_generator", params={"spike_times": [t]})
        nest.Connect(
            generator,
            exc[k * n : (k + 1) * n],
            syn_spec={"weight": w_stimulus, "delay": 0.1, "receptor_type": receptors["soma_spikes"]},
        )
    recorder = nest.Create("spike_recorder")
    nest.Connect(exc, recorder)
    nest.Simulate(cue_times[-1] + interval)
    times = np.asarray(recorder.events["times"])
    senders = np.asarray(recorder.events["senders"]) - exc[0].global_id
    orders = []
    for t in cue_times:
        window = (times >= t) & (times < t + interval)
        onsets = []
        for k, element in enumerate(network.vocabulary):
            mine = window & (senders // n == k)
            if len(np.unique(senders[mine])) >= c.pattern_size // 2:
                onsets.append((float(np.median(times[mine])), element))
        orders.append([element for _, element in sorted(onsets)])
    return {"times": times, "senders": senders, "cue_times": cue_times, "cues": list(cues), "orders": orders}


# ---------------------------------------------------------------------------
# Figures


def plot_activity(
    network: SequenceNetwork,
    history: TrainingHistory | None = None,
    *,
    spikes=None,
    daps=None,
    t_range=None,
    stimuli=None,
    title: str = "",
):
    """Raster of the excitatory neurons, one band per element: somatic spikes (dots),
    dAPs (light lines) and stimuli (triangles). Senders are 0-based neuron indices, as
    in ``TrainingHistory`` and :func:`replay`'s result. By default the last training
    episode."""
    import matplotlib.pyplot as plt

    from ..core.plotting import PALETTE, apply_style

    apply_style()
    c = network.config
    if history is not None:
        spikes = spikes or history.spikes
        daps = daps if daps is not None else history.dap_last_episode
        stimuli = stimuli or history.stimuli
        if t_range is None and len(daps["times"]):
            episode = sum((len(s) - 1) * c.delta_t + c.delta_t_sequences for s in network.sequences)
            end = max(max(times) for times in stimuli.values()) + c.delta_t_sequences
            t_range = (end - episode - 10.0, end)
    fig, ax = plt.subplots(figsize=(10, 4))
    for k in range(0, c.n_elements, 2):
        ax.axhspan(k * c.n_per_element, (k + 1) * c.n_per_element, color="0.93", zorder=0)
    if daps is not None and len(daps["times"]):
        ax.plot(daps["times"], daps["senders"], "|", ms=2, color=PALETTE[5], alpha=0.4, label="dAP (prediction)", zorder=1)
    ax.plot(spikes["times"], spikes["senders"], ".", ms=2, color=PALETTE[1], label="somatic spike", zorder=2)
    if stimuli:
        for element, times in stimuli.items():
            k = network.element_index[element]
            shown = [t for t in times if t_range is None or t_range[0] <= t <= t_range[1]]
            ax.plot(shown, [k * c.n_per_element - 8] * len(shown), "^", color="k", ms=5, zorder=3)
    ax.set_yticks([(k + 0.5) * c.n_per_element for k in range(len(network.vocabulary))], network.vocabulary)
    ax.set_ylabel("element (subpopulation)")
    ax.set_xlabel("time (ms)")
    if t_range is not None:
        ax.set_xlim(*t_range)
    ax.set_ylim(-15, c.n_elements * c.n_per_element)
    ax.legend(loc="upper right", fontsize=8, markerscale=4)
    if title:
        ax.set_title(title)
    return fig, ax


def plot_connectivity(network: SequenceNetwork):
    """All recurrent synapses between subpopulations before training, and the mature
    ones after, as matrices labelled with the elements."""
    import matplotlib.pyplot as plt

    from ..core.plotting import apply_style

    apply_style()
    labels = network.vocabulary + [""] * (network.config.n_elements - len(network.vocabulary))
    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    panels = [
        (network.connectivity(after_training=False, mature_only=False), "all synapses (before training)"),
        (network.connectivity(after_training=True), "mature synapses after training"),
    ]
    for ax, (matrix, title) in zip(axes, panels):
        image = ax.imshow(matrix, cmap="viridis")
        ax.set_xticks(range(len(labels)), labels)
        ax.set_yticks(range(len(labels)), labels)
        ax.set_xlabel("to (postsynaptic)")
        ax.set_ylabel("from (presynaptic)")
        ax.set_title(title, fontsize=10)
        fig.colorbar(image, ax=ax, shrink=0.8)
    return fig, axes
