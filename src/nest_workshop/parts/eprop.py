"""e-prop: training recurrent spiking networks online (the e-prop part of the workshop).

Eligibility propagation (e-prop, Bellec et al. 2020) trains a recurrent spiking network
without backpropagation through time: every synapse keeps an *eligibility trace* of its
recent pre- and postsynaptic activity, and a *learning signal* sent back from the readout
neurons says how the synapse should change. NEST 3.10 ships the models.

This module holds what the e-prop notebooks need:

- task generators: :func:`sine_pattern` and :func:`trajectory_pattern` (targets for
  regression), :func:`frozen_noise` (the input that drives the pattern generator),
  :class:`CueTask` and :func:`cue_trials` (evidence accumulation);
- :class:`PatternGenerator`: a recurrent network of ``eprop_iaf`` neurons with one
  readout per target dimension, trained by gradient descent on the mean squared error;
- :class:`EvidenceAccumulator`: regular and adaptive ``_bsshslm_2020`` neurons with two
  readouts, trained with Adam on the cross-entropy loss and judged on held-out trials;
- small measures: :func:`mse_loss`, :func:`correlation`.

Both networks are built in the current NEST kernel: call ``nw.reset_kernel(...)`` first.
Time runs in steps of 1 ms (the networks set the kernel's resolution). Only what the
notebooks analyse is recorded: the readout signals all the time, everything else (spikes,
membrane voltages, pseudo-derivatives, learning signals) only in the trials that are
plotted. Recording everything is what made NEST's own examples slow and memory-hungry.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..core import validation
from ..core.kernel import import_nest, require_fresh_kernel
from ..scaleout.gather import gather_events

STEP_MS = 1.0  # e-prop networks here run at 1 ms resolution, like NEST's examples


# ---------------------------------------------------------------------------------------
# input validation


def _learning_rate(value) -> float:
    return validation.positive_number("learning_rate", value, 1.0, " (typical values 1e-4 to 0.05)")


# ---------------------------------------------------------------------------------------
# targets and inputs


def sine_pattern(
    duration_ms: float = 1000.0, periods_ms=(1000.0, 500.0, 333.0, 200.0), *, amplitude: float = 1.0, seed: int = 1
) -> np.ndarray:
    """A sum of sine waves with random amplitudes (0.5-2) and phases, one value per ms.

    The pattern starts at 0 and is scaled so that its largest absolute value equals
    ``amplitude``. Returns an array of ``duration_ms`` values.
    """
    steps = validation.whole_number(
        "duration_ms",
        duration_ms if float(duration_ms) != int(duration_ms) else int(duration_ms),
        10,
        note=" of ms (at least 10)",
    )
    periods = np.atleast_1d(np.asarray(periods_ms, dtype=float))
    if periods.ndim != 1 or periods.size == 0 or not np.all(np.isfinite(periods)) or np.any(periods <= 0):
        raise ValueError(f"periods_ms must be one or more positive periods in ms, got {periods_ms!r}")
    amplitude = validation.positive_number("amplitude", amplitude)
    rng = np.random.default_rng(seed)
    amplitudes = rng.uniform(0.5, 2.0, periods.size)
    phases = rng.uniform(0.0, 2.0 * np.pi, periods.size)
    t = np.arange(steps) * STEP_MS
    pattern = sum(a * np.sin(2.0 * np.pi * t / p + phi) for a, p, phi in zip(amplitudes, periods, phases))
    pattern = pattern - pattern[0]
    return amplitude * pattern / max(np.abs(pattern).max(), 1e-12)


def _heart(s):
    return 16 * np.sin(s) ** 3, 13 * np.cos(s) - 5 * np.cos(2 * s) - 2 * np.cos(3 * s) - np.cos(4 * s)


def _figure_eight(s):
    return np.sin(s), np.sin(s) * np.cos(s)


def _circle(s):
    return np.sin(s), np.cos(s)


TRAJECTORIES = {"heart": _heart, "figure_eight": _figure_eight, "circle": _circle}


def trajectory_pattern(shape="heart", duration_ms: float = 1000.0, *, amplitude: float = 1.0) -> np.ndarray:
    """A closed 2-D curve drawn once in ``duration_ms``: array of shape (2, duration_ms),
    row 0 the x and row 1 the y coordinate.

    ``shape`` is one of :data:`TRAJECTORIES` or a function ``s -> (x, y)`` of the phase
    ``s`` in [0, 2 pi). The curve is centred and scaled so that its largest absolute
    coordinate equals ``amplitude``.
    """
    if callable(shape):
        curve = shape
    elif shape in TRAJECTORIES:
        curve = TRAJECTORIES[shape]
    else:
        raise ValueError(f"shape must be one of {sorted(TRAJECTORIES)} or a function s -> (x, y), got {shape!r}")
    steps = validation.whole_number(
        "duration_ms",
        int(duration_ms) if float(duration_ms) == int(duration_ms) else duration_ms,
        10,
        note=" of ms (at least 10)",
    )
    amplitude = validation.positive_number("amplitude", amplitude)
    s = 2.0 * np.pi * np.arange(steps) / steps
    xy = np.array([np.asarray(c, dtype=float) * np.ones(steps) for c in curve(s)])
    if xy.shape != (2, steps) or not np.all(np.isfinite(xy)):
        raise ValueError("the shape function must return two finite arrays (x, y) as long as its phase argument")
    xy -= (xy.max(axis=1, keepdims=True) + xy.min(axis=1, keepdims=True)) / 2
    return amplitude * xy / max(np.abs(xy).max(), 1e-12)


def frozen_noise(n_inputs: int, duration_ms: float, rate_hz: float = 50.0, *, seed: int = 1, silent_ms: int = 0) -> np.ndarray:
    """Boolean spike matrix (n_inputs, duration_ms): input neuron i spikes in ms t.

    Each input spikes with probability ``rate_hz / 1000`` per ms; the first ``silent_ms``
    ms are silent. The same seed gives the same ("frozen") noise.
    """
    n_inputs = validation.whole_number("n_inputs", n_inputs, 1)
    steps = validation.whole_number("duration_ms", int(duration_ms), 1)
    rate_hz = validation.positive_number("rate_hz", rate_hz, 1000.0, " of spikes/s (at most one spike per ms)")
    spikes = np.random.default_rng(seed).random((n_inputs, steps)) < rate_hz / 1000.0
    spikes[:, :silent_ms] = False
    return spikes


@dataclass(frozen=True)
class CueTask:
    """Evidence accumulation: ``n_cues`` cues, each on the left or the right, then a delay,
    then a recall cue; the network must report the side that had more cues.

    A trial (all times in ms): ``n_cues`` x (``spacing_ms`` pause + ``cue_ms`` cue),
    ``delay_ms`` without cues, ``recall_ms`` recall. The input has four equal groups of
    ``n_inputs / 4`` neurons: left cue, right cue, recall cue (each firing at ``rate_hz``
    while on) and background noise (``noise_hz`` all the time). In each trial one side
    is favoured: each cue falls on it with probability ``p_favoured``.
    """

    n_cues: int = 3
    cue_ms: int = 100
    spacing_ms: int = 50
    delay_ms: int = 200
    recall_ms: int = 150
    n_inputs: int = 40
    rate_hz: float = 40.0
    noise_hz: float = 10.0
    p_favoured: float = 0.7

    def __post_init__(self):
        validation.whole_number("n_cues", self.n_cues, 1, note=" (odd, so that one side always has more cues)")
        if self.n_cues % 2 == 0:
            raise ValueError(f"n_cues must be an odd whole number (so that one side always has more cues), got {self.n_cues}")
        validation.whole_number("cue_ms", self.cue_ms, 1)
        validation.whole_number("spacing_ms", self.spacing_ms, 10, note=" (at least 10 ms)")
        validation.whole_number("delay_ms", self.delay_ms, 0)
        validation.whole_number("recall_ms", self.recall_ms, 20, note=" (at least 20 ms)")
        validation.whole_number("n_inputs", self.n_inputs, 4)
        if self.n_inputs % 4:
            raise ValueError(f"n_inputs must be a multiple of 4 (left, right, recall, noise groups), got {self.n_inputs}")
        validation.positive_number("rate_hz", self.rate_hz, 1000.0, " of spikes/s")
        validation.positive_number("noise_hz", self.noise_hz, 1000.0, " of spikes/s")
        p = validation.probability("p_favoured", self.p_favoured)
        if p < 0.5:
            raise ValueError(f"p_favoured must be between 0.5 and 1, got {p}")

    @property
    def trial_ms(self) -> int:
        return self.n_cues * (self.spacing_ms + self.cue_ms) + self.delay_ms + self.recall_ms

    @property
    def group_size(self) -> int:
        return self.n_inputs // 4

    def cue_windows(self):
        """(start, stop) in ms of each cue within a trial."""
        return [
            (k * (self.spacing_ms + self.cue_ms) + self.spacing_ms, (k + 1) * (self.spacing_ms + self.cue_ms))
            for k in range(self.n_cues)
        ]


@dataclass
class CueTrials:
    spikes: np.ndarray  # bool (n_trials, n_inputs, trial_ms)
    cues: np.ndarray  # int (n_trials, n_cues): 0 left, 1 right
    labels: np.ndarray  # int (n_trials,): 0 left had more cues, 1 right had more


def cue_trials(n_trials: int, task: CueTask = CueTask(), *, rng=None) -> CueTrials:
    """Generate ``n_trials`` evidence-accumulation trials (see :class:`CueTask`).

    ``rng`` is a :class:`numpy.random.Generator` or a seed. Each trial's label is the
    side (0 left, 1 right) with more cues. The first 10 ms of a trial carry no spikes, so
    that trials can be scheduled while a simulation is under way.
    """
    n_trials = validation.whole_number("n_trials", n_trials, 1)
    if not isinstance(task, CueTask):
        raise ValueError(f"task must be a CueTask, got {type(task).__name__}")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    favoured = rng.integers(0, 2, n_trials)
    on_favoured = rng.random((n_trials, task.n_cues)) < task.p_favoured
    cues = np.where(on_favoured, favoured[:, None], 1 - favoured[:, None]).astype(int)
    labels = (cues.sum(axis=1) * 2 > task.n_cues).astype(int)
    g = task.group_size
    spikes = np.zeros((n_trials, task.n_inputs, task.trial_ms), dtype=bool)
    for first in range(0, n_trials, 64):  # in chunks: many trials at once would need GBs of random numbers
        chunk = cues[first : first + 64]
        prob = np.zeros((len(chunk), task.n_inputs, task.trial_ms))
        for k, (start, stop) in enumerate(task.cue_windows()):
            for side in (0, 1):
                trials = np.flatnonzero(chunk[:, k] == side)
                prob[np.ix_(trials, np.arange(side * g, (side + 1) * g), np.arange(start, stop))] = task.rate_hz / 1000.0
        prob[:, 2 * g : 3 * g, task.trial_ms - task.recall_ms :] = task.rate_hz / 1000.0
        prob[:, 3 * g :, :] = task.noise_hz / 1000.0
        spikes[first : first + 64] = rng.random(prob.shape) < prob  # same random stream as one big draw
    spikes[:, :, :10] = False
    return CueTrials(spikes, cues, labels)


# ---------------------------------------------------------------------------------------
# measures


def mse_loss(readout, target) -> float:
    """Loss of one pattern: 0.5 * sum over time of (readout - target)^2, averaged over readouts."""
    readout, target = np.atleast_2d(readout), np.atleast_2d(target)
    if readout.shape != target.shape:
        raise ValueError(f"readout {readout.shape} and target {target.shape} must have the same shape")
    return float(0.5 * np.mean(np.sum((readout - target) ** 2, axis=-1)))


def correlation(readout, target) -> float:
    """Pearson correlation of readout and target (the smallest over readouts, if several)."""
    readout, target = np.atleast_2d(readout), np.atleast_2d(target)
    if readout.shape != target.shape:
        raise ValueError(f"readout {readout.shape} and target {target.shape} must have the same shape")
    return float(min(np.corrcoef(r, t)[0, 1] for r, t in zip(readout, target)))


# ---------------------------------------------------------------------------------------
# shared machinery


def _fresh_kernel(what: str, seed):
    """The kernel the notebook set up for an e-prop network: fresh, at 1 ms steps. Returns
    the seed of the task's own random numbers (the kernel's seed unless one is given)."""
    nest = require_fresh_kernel(what)
    if nest.resolution != STEP_MS:
        raise ValueError(
            f"{what} runs at a {STEP_MS:g} ms time step, like NEST's e-prop examples, and this kernel "
            f"has {nest.resolution:g} ms: call nw.reset_kernel(seed=..., resolution={STEP_MS:g}) first"
        )
    return int(nest.rng_seed) if seed is None else validation.whole_number("seed", seed, 1)


def _progress(iterable, enabled: bool, description: str):
    if not enabled:
        return iterable
    from tqdm.std import tqdm  # a text bar: works in notebooks without ipywidgets, and in terminals

    return tqdm(iterable, desc=description, unit="it", mininterval=1.0)


def _samples(multimeter, variables, senders, t0: float, n_steps: int) -> dict:
    """Dense arrays (len(senders), n_steps) of recorded ``variables`` at times t0 + 1 ... t0 + n_steps
    (NaN where nothing was recorded)."""
    events = gather_events(multimeter)  # collective under MPI: every rank runs the training loop
    times = np.asarray(events["times"], dtype=float)
    who = np.asarray(events["senders"])
    index = np.rint(times - t0).astype(int) - 1
    keep = (index >= 0) & (index < n_steps)
    row = {s: i for i, s in enumerate(senders)}
    rows = np.array([row.get(s, -1) for s in who[keep]], dtype=int)
    out = {}
    for variable in variables:
        dense = np.full((len(senders), n_steps), np.nan)
        ok = rows >= 0
        dense[rows[ok], index[keep][ok]] = np.asarray(events[variable])[keep][ok]
        out[variable] = dense
    return out


def _spike_events(recorder, t0: float, t1: float, node_ids) -> tuple[np.ndarray, np.ndarray]:
    """Spike times (ms, relative to t0) and neuron indices (0 ... len(node_ids)-1) in [t0, t1)."""
    events = gather_events(recorder)  # collective under MPI: every rank runs the training loop
    times = np.asarray(events["times"], dtype=float)
    senders = np.asarray(events["senders"])
    first = min(node_ids)
    keep = (times >= t0) & (times < t1)
    return times[keep] - t0, senders[keep] - first


@dataclass
class Snapshot:
    """What was recorded during one trial or pattern presentation (times in ms from its start)."""

    readout: np.ndarray  # (n_out, steps)
    target: np.ndarray  # (n_out, steps)
    rec_spikes: tuple  # (times, neuron index)
    in_spikes: tuple | None = None  # (times, input index)
    neurons: dict = field(default_factory=dict)  # variable -> (n_record, steps)
    label: int | None = None


# ---------------------------------------------------------------------------------------
# regression: pattern generation with eprop_iaf


class PatternGenerator:
    """A recurrent network of ``eprop_iaf`` neurons that learns to generate ``target``.

    ``n_input`` input neurons replay the same frozen noise (``input_rate_hz``) in every
    presentation; ``n_rec`` recurrent neurons project to one ``eprop_readout`` per row of
    ``target`` (shape (steps,) or (n_out, steps), one value per ms). All weights
    (input, recurrent, output) learn by e-prop with gradient descent on the loss
    0.5 * sum_t (y - y*)^2; weights change online, at every presynaptic spike. The
    neuron and learning parameters are those of NEST's sine-wave example
    (``eprop_supervised_regression_sine-waves.py``); see that example for their meaning.

    ``record_neurons`` recurrent neurons are recorded (membrane voltage ``V_m``,
    pseudo-derivative ``surrogate_gradient``, ``learning_signal``) in the first training
    presentation and in :meth:`test`.
    """

    KAPPA = 0.97  # low-pass filter of the eligibility trace (the example's value)

    def __init__(
        self,
        target,
        *,
        n_input: int = 100,
        n_rec: int = 100,
        input_rate_hz: float = 50.0,
        seed: int | None = None,
        record_neurons: int = 3,
    ):
        target = np.asarray(target, dtype=float)
        if target.ndim == 1:
            target = target[None, :]
        if target.ndim != 2 or target.shape[1] < 10 or target.shape[0] < 1 or target.shape[0] > 10:
            raise ValueError(
                "target must have shape (steps,) or (n_out, steps): 1 to 10 readouts, at least 10 steps of "
                f"1 ms; got shape {np.shape(target)}"
            )
        if not np.all(np.isfinite(target)):
            raise ValueError("target must contain finite numbers only")
        n_input = validation.whole_number("n_input", n_input, 1, 2000)
        n_rec = validation.whole_number("n_rec", n_rec, 2, 2000)
        self.record_neurons = validation.whole_number("record_neurons", record_neurons, 0, n_rec)
        nest = import_nest()
        self.nest = nest
        self.seed = _fresh_kernel(type(self).__name__, seed)
        rng = np.random.default_rng(self.seed)
        self.target = target
        self.n_out, self.steps = target.shape
        self.offset = 2.0  # ms: spike generators emit from 1 ms on, plus 1 ms input delay
        sf = 1.0 - self.KAPPA  # weights and rates are rescaled by (1 - kappa), as in NEST's example
        self.scale = sf
        T = float(self.steps)

        rec_params = {
            "C_m": 1.0,
            "c_reg": 300.0 / T,
            "E_L": 0.0,
            "eprop_isi_trace_cutoff": 100,
            "f_target": 10.0,
            "flush_event_send_interval": T,
            "I_e": 0.0,
            "kappa": self.KAPPA,
            "kappa_reg": self.KAPPA,
            "surrogate_gradient_function": "piecewise_linear",
            "surrogate_gradient_height": 10.0,
            "surrogate_gradient_width": 1.0 / 33.3,
            "t_ref": 0.0,
            "tau_m": 30.0,
            "V_m": 0.0,
            "V_th": 0.03,
        }
        out_params = {"C_m": 1.0, "E_L": 0.0, "eprop_isi_trace_cutoff": 100, "I_e": 0.0, "tau_m": 30.0, "V_m": 0.0}
        self.generators = nest.Create("spike_generator", n_input)
        self.inputs = nest.Create("parrot_neuron", n_input)
        self.rec = nest.Create("eprop_iaf", n_rec, rec_params)
        self.out = nest.Create("eprop_readout", self.n_out, out_params)
        self.target_gen = nest.Create("step_rate_generator", self.n_out)
        window_gen = nest.Create("step_rate_generator", params={"amplitude_times": [self.offset], "amplitude_values": [1.0]})
        self._set_eta(0.0)
        syn = {"synapse_model": "eprop_synapse", "delay": STEP_MS}
        all_to_all = {"rule": "all_to_all", "allow_autapses": False}
        w_in = rng.standard_normal((n_rec, n_input)) / np.sqrt(n_input) * sf
        w_rec = rng.standard_normal((n_rec, n_rec)) / np.sqrt(n_rec) * sf
        np.fill_diagonal(w_rec, 0.0)
        w_out = rng.standard_normal((self.n_out, n_rec)) / np.sqrt(n_rec) * sf
        w_fb = rng.standard_normal((n_rec, self.n_out)) / np.sqrt(n_rec) * sf
        nest.Connect(self.generators, self.inputs, "one_to_one", {"delay": STEP_MS})
        nest.Connect(self.inputs, self.rec, all_to_all, {**syn, "weight": w_in})
        nest.Connect(self.rec, self.rec, all_to_all, {**syn, "weight": w_rec})
        nest.Connect(self.rec, self.out, all_to_all, {**syn, "weight": w_out})
        nest.Connect(
            self.out,
            self.rec,
            all_to_all,
            {"synapse_model": "eprop_learning_signal_connection", "delay": STEP_MS, "weight": w_fb},
        )
        rate = {"synapse_model": "rate_connection_delayed", "delay": STEP_MS}
        nest.Connect(self.target_gen, self.out, "one_to_one", {**rate, "receptor_type": 2})
        nest.Connect(window_gen, self.out, "all_to_all", {**rate, "receptor_type": 1})

        # Recorders: the readout all the time (needed for the loss), the rest only when switched on.
        self.mm_out = nest.Create("multimeter", {"interval": STEP_MS, "record_from": ["readout_signal", "target_signal"]})
        nest.Connect(self.mm_out, self.out)
        self.mm_rec = nest.Create(
            "multimeter",
            {"interval": STEP_MS, "start": 0.0, "stop": 0.0, "record_from": ["V_m", "surrogate_gradient", "learning_signal"]},
        )
        if self.record_neurons:
            nest.Connect(self.mm_rec, self.rec[: self.record_neurons])
        self.sr_rec = nest.Create("spike_recorder", {"start": 0.0, "stop": 0.0})
        nest.Connect(self.rec, self.sr_rec)

        self.noise = frozen_noise(n_input, self.steps, input_rate_hz, seed=self.seed + 1, silent_ms=3)
        self._spike_offsets = [np.flatnonzero(row).astype(float) + 1.0 for row in self.noise]
        self.history = {"loss": []}
        self.before: Snapshot | None = None
        self.after: Snapshot | None = None
        self.n_presentations = 0
        self.learning_rate = None

    def _set_eta(self, eta: float):
        self.nest.SetDefaults(
            "eprop_synapse",
            {
                "optimizer": {
                    "type": "gradient_descent",
                    "batch_size": 1,
                    "eta": eta,
                    "optimize_each_step": False,
                    "Wmin": -100.0,
                    "Wmax": 100.0,
                }
            },
        )

    def _schedule(self, n: int):
        """Input spikes and target values for the next ``n`` presentations."""
        t0 = self.n_presentations * self.steps
        starts = t0 + self.steps * np.arange(n, dtype=float)
        self.generators.set([{"spike_times": (starts[:, None] + offsets[None, :]).ravel()} for offsets in self._spike_offsets])
        times = t0 + self.offset + np.arange(n * self.steps, dtype=float)
        self.target_gen.set([{"amplitude_times": times, "amplitude_values": np.tile(row, n)} for row in self.target])

    def _record_window(self, on: bool, t0: float = 0.0, t1: float = 0.0):
        self.mm_rec.set(start=t0 if on else 0.0, stop=t1 if on else 0.0)
        self.sr_rec.set(start=t0 if on else 0.0, stop=t1 if on else 0.0)

    def _present(self, record: bool) -> Snapshot:
        """Simulate one presentation; return its readout and, if ``record``, the neurons' traces."""
        nest = self.nest
        t0 = float(self.n_presentations * self.steps)
        if record:
            self._record_window(True, t0, t0 + self.steps + self.offset + 1)
        nest.Simulate(float(self.steps))
        self.n_presentations += 1
        # The readout sees presentation k from t0 + offset on: read it up to the end of what is simulated.
        span = self.steps
        data = _samples(self.mm_out, ["readout_signal", "target_signal"], list(self.out.tolist()), t0 + self.offset - 1, span)
        readout, target = data["readout_signal"], data["target_signal"]
        valid = ~np.isnan(readout[0])
        snap = Snapshot(readout=readout[:, valid], target=target[:, valid], rec_spikes=(np.array([]), np.array([])))
        if record:
            snap.rec_spikes = _spike_events(self.sr_rec, t0, t0 + self.steps, self.rec.tolist())
            if self.record_neurons:
                snap.neurons = _samples(
                    self.mm_rec,
                    ["V_m", "surrogate_gradient", "learning_signal"],
                    self.rec[: self.record_neurons].tolist(),
                    t0,
                    self.steps,
                )
            self._record_window(False)
            self.mm_rec.n_events = 0
            self.sr_rec.n_events = 0
        self.mm_out.n_events = 0
        return snap

    def train(self, n_iterations: int = 200, learning_rate: float = 5e-4, *, progress: bool = True) -> dict:
        """Present the pattern ``n_iterations`` times while the weights learn.

        ``learning_rate`` is the gradient-descent rate before the (1 - kappa)^2 rescaling
        of NEST's example (whose value is 1e-4). Returns ``history`` (``loss`` per
        iteration); the progress bar shows iteration and loss.
        """
        n_iterations = validation.whole_number("n_iterations", n_iterations, 1, 10000)
        self.learning_rate = _learning_rate(learning_rate)
        self._set_eta(self.learning_rate * self.scale**2)
        self._schedule(n_iterations)
        bar = _progress(range(n_iterations), progress, "e-prop training")
        for _ in bar:
            snap = self._present(record=self.before is None)
            if self.before is None:
                self.before = snap
            loss = mse_loss(snap.readout, snap.target[:, : snap.readout.shape[1]])
            self.history["loss"].append(loss)
            if progress:
                bar.set_postfix(loss=f"{loss:.3g}")
        return self.history

    def test(self) -> Snapshot:
        """One more presentation with the learning rate at 0 (weights frozen), with the
        recurrent neurons recorded: what the trained network generates."""
        self._set_eta(0.0)
        self._schedule(1)
        self.after = self._present(record=True)
        return self.after

    @property
    def test_loss(self) -> float:
        if self.after is None:
            raise ValueError("call test() first")
        return mse_loss(self.after.readout, self.after.target)

    @property
    def test_correlation(self) -> float:
        if self.after is None:
            raise ValueError("call test() first")
        return correlation(self.after.readout, self.after.target)


# ---------------------------------------------------------------------------------------
# classification: evidence accumulation with the _bsshslm_2020 models


class EvidenceAccumulator:
    """Recurrent network of ``n_regular`` leaky integrate-and-fire and ``n_adaptive``
    adaptive-threshold neurons (``eprop_iaf_bsshslm_2020``,
    ``eprop_iaf_adapt_bsshslm_2020``) with two readouts (left, right) trained on the
    cross-entropy loss of their softmax during the recall cue.

    The weights are updated once per batch of ``batch_size`` trials (the gradient is
    summed over each trial's recall window and averaged over the batch), with the Adam
    optimizer. Neuron parameters follow NEST's evidence-accumulation example
    (``eprop_supervised_classification_evidence-accumulation_bsshslm_2020.py``): the
    adaptive neurons' threshold rises with each spike and decays with 2 s, which is the
    network's memory of the cues over the delay. Neurons are reset at the start of each
    trial, so trials are independent.
    """

    def __init__(
        self,
        task: CueTask = CueTask(),
        *,
        n_regular: int = 25,
        n_adaptive: int = 25,
        batch_size: int = 8,
        seed: int | None = None,
        record_neurons: int = 3,
    ):
        if not isinstance(task, CueTask):
            raise ValueError(f"task must be a CueTask, got {type(task).__name__}")
        n_regular = validation.whole_number("n_regular", n_regular, 0, 2000)
        n_adaptive = validation.whole_number("n_adaptive", n_adaptive, 0, 2000)
        if n_regular + n_adaptive < 2:
            raise ValueError(
                f"the network needs at least 2 recurrent neurons, got n_regular={n_regular} + n_adaptive={n_adaptive}"
            )
        self.batch_size = validation.whole_number("batch_size", batch_size, 1, 256)
        self.record_neurons = validation.whole_number("record_neurons", record_neurons, 0, 50)
        nest = import_nest()
        self.nest = nest
        self.seed = _fresh_kernel(type(self).__name__, seed)
        self.rng = np.random.default_rng(self.seed)
        self.task = task
        T = float(task.trial_ms)
        nest.set(eprop_learning_window=float(task.recall_ms), eprop_reset_neurons_on_update=True, eprop_update_interval=T)
        self.offset = 4  # ms from a trial's start until the readout sees it: generator 1 + three 1-ms delays
        v_th = 0.6
        common = {
            "C_m": 1.0,
            "c_reg": 300.0,
            "E_L": 0.0,
            "f_target": 10.0,
            "flush_event_send_interval": T,
            "I_e": 0.0,
            "regular_spike_arrival": True,
            "surrogate_gradient_function": "piecewise_linear",
            "surrogate_gradient_height": 0.3 / v_th,
            "surrogate_gradient_width": 1.0 * v_th,
            "t_ref": 5.0,
            "tau_m": 20.0,
            "V_m": 0.0,
            "V_th": v_th,
        }
        self.adapt_tau = 2000.0
        self.adapt_beta = 1.7 * (1.0 - np.exp(-STEP_MS / self.adapt_tau)) / (1.0 - np.exp(-STEP_MS / 20.0))
        adaptive = {**common, "adapt_tau": self.adapt_tau, "adaptation": 0.0, "adapt_beta": self.adapt_beta}
        out_params = {
            "C_m": 1.0,
            "E_L": 0.0,
            "I_e": 0.0,
            "loss": "cross_entropy",
            "regular_spike_arrival": False,
            "tau_m": 20.0,
            "V_m": 0.0,
        }
        n_in = task.n_inputs
        self.generators = nest.Create("spike_generator", n_in)
        self.inputs = nest.Create("parrot_neuron", n_in)
        empty = nest.NodeCollection([])
        self.regular = nest.Create("eprop_iaf_bsshslm_2020", n_regular, common) if n_regular else empty
        self.adaptive = nest.Create("eprop_iaf_adapt_bsshslm_2020", n_adaptive, adaptive) if n_adaptive else empty
        self.rec = self.regular + self.adaptive if n_regular and n_adaptive else (self.regular if n_regular else self.adaptive)
        n_rec = len(self.rec)
        self.out = nest.Create("eprop_readout_bsshslm_2020", 2, out_params)
        self.target_gen = nest.Create("step_rate_generator", 2)
        self._optimizer = {
            "type": "adam",
            "batch_size": self.batch_size,
            "beta_1": 0.9,
            "beta_2": 0.999,
            "epsilon": 1e-8,
            "Wmin": -100.0,
            "Wmax": 100.0,
        }
        self._set_eta(0.0)

        rng = self.rng
        w_in = rng.standard_normal((n_rec, n_in)) / np.sqrt(n_in)
        w_rec = rng.standard_normal((n_rec, n_rec)) / np.sqrt(n_rec)
        np.fill_diagonal(w_rec, 0.0)
        limit = np.sqrt(3.0 / max(1.0, (n_rec + 2) / 2.0))  # Glorot uniform
        w_out = rng.uniform(-limit, limit, (2, n_rec))
        w_fb = rng.standard_normal((n_rec, 2))
        syn = {"synapse_model": "eprop_synapse_bsshslm_2020", "delay": STEP_MS, "tau_m_readout": 20.0}
        all_to_all = {"rule": "all_to_all", "allow_autapses": False}
        nest.Connect(self.generators, self.inputs, "one_to_one", {"delay": STEP_MS})
        nest.Connect(self.inputs, self.rec, all_to_all, {**syn, "weight": w_in})
        nest.Connect(self.rec, self.rec, all_to_all, {**syn, "weight": w_rec})
        nest.Connect(self.rec, self.out, all_to_all, {**syn, "weight": w_out})
        nest.Connect(
            self.out,
            self.rec,
            all_to_all,
            {"synapse_model": "eprop_learning_signal_connection_bsshslm_2020", "delay": STEP_MS, "weight": w_fb},
        )
        rate = {"synapse_model": "rate_connection_delayed", "delay": STEP_MS}
        nest.Connect(self.target_gen, self.out, "one_to_one", {**rate, "receptor_type": 2})
        nest.Connect(self.out, self.out, all_to_all, {**rate, "receptor_type": 1, "weight": 1.0})  # softmax

        self.mm_out = nest.Create("multimeter", {"interval": STEP_MS, "record_from": ["readout_signal"]})
        nest.Connect(self.mm_out, self.out)
        self.variables = ["V_m", "surrogate_gradient", "learning_signal"]
        off = {"start": 0.0, "stop": 0.0}
        self.mm_reg = nest.Create("multimeter", {"interval": STEP_MS, "record_from": self.variables, **off})
        self.mm_ad = nest.Create("multimeter", {"interval": STEP_MS, "record_from": self.variables + ["V_th_adapt"], **off})
        if self.record_neurons and n_regular:
            nest.Connect(self.mm_reg, self.regular[: min(self.record_neurons, n_regular)])
        if self.record_neurons and n_adaptive:
            nest.Connect(self.mm_ad, self.adaptive[: min(self.record_neurons, n_adaptive)])
        self.sr_rec = nest.Create("spike_recorder", off)
        self.sr_in = nest.Create("spike_recorder", off)
        nest.Connect(self.rec, self.sr_rec)
        nest.Connect(self.inputs, self.sr_in)
        self.n_trials_run = 0
        self.history = {"loss": [], "error": []}

    def _set_eta(self, eta: float):
        self.nest.SetDefaults(
            "eprop_synapse_bsshslm_2020", {"optimizer": {**self._optimizer, "eta": eta}, "average_gradient": True}
        )

    def _run_block(self, trials: CueTrials, *, record: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Simulate the given trials back to back; return per-trial (loss, predicted label)."""
        nest, task = self.nest, self.task
        T = task.trial_ms
        n = len(trials.labels)
        t0 = float(self.n_trials_run * T)
        starts = t0 + T * np.arange(n, dtype=float)
        spike_times = []
        for i in range(task.n_inputs):
            trial_idx, step = np.nonzero(trials.spikes[:, i, :])
            spike_times.append({"spike_times": starts[trial_idx] + step + 1.0})
        self.generators.set(spike_times)
        # The readout's target switches 2 ms after the readout starts seeing the trial: the
        # first trial of a block then switches after the end of the previous block's
        # simulation (a change scheduled at the current time would be lost). Only the
        # recall window at the end of a trial enters the loss.
        change = starts + self.offset + 2
        onehot = np.eye(2)[trials.labels]
        self.target_gen.set([{"amplitude_times": change, "amplitude_values": onehot[:, k]} for k in range(2)])
        if record:
            window = {"start": t0, "stop": t0 + n * T + self.offset}
            for device in (self.mm_reg, self.mm_ad, self.sr_rec, self.sr_in):
                device.set(window)
        # Simulate until the readout's sample offset ms after the last trial's end is recorded.
        nest.Simulate(float(n * T + (self.offset + 1 if self.n_trials_run == 0 else 0)))
        self.n_trials_run += n
        return self._evaluate(trials, t0)

    def _evaluate(self, trials, t0):
        task, T = self.task, self.task.trial_ms
        n = len(trials.labels)
        ids = self.out.tolist()
        data = _samples(self.mm_out, ["readout_signal"], ids, t0 - 1, n * T + self.offset + 1)["readout_signal"]
        # data[:, i] was recorded at time t0 + i. The readouts compute their softmax only in
        # the learning window, the last recall_ms of each trial as they see it (offset ms late).
        # This window is (start + T - recall_ms + offset, start + T + offset].
        window = np.arange(T - task.recall_ms + self.offset + 1, T + self.offset + 1)
        idx = T * np.arange(n)[:, None] + window[None, :]
        y = data[:, idx]  # (2, n, window)
        if np.isnan(y).any():
            raise RuntimeError("readout recording incomplete: the block was not simulated to its end")
        self._last_readout = data
        p_label = np.where(trials.labels[:, None] == 1, y[1], y[0])
        loss = -np.mean(np.log(np.clip(p_label, 1e-12, None)), axis=1)
        predicted = np.argmax(y.mean(axis=2), axis=0)
        self.mm_out.n_events = 0
        return loss, predicted

    def train(
        self,
        n_iterations: int = 400,
        learning_rate: float = 0.01,
        *,
        decay_after: float = 0.6,
        decay_to: float = 0.3,
        progress: bool = True,
    ) -> dict:
        """Train for ``n_iterations`` batches of fresh trials with Adam.

        After a fraction ``decay_after`` of the iterations the learning rate drops to
        ``decay_to`` times its value (1 and 1 keep it constant). Returns ``history`` with
        ``loss`` (mean cross-entropy) and ``error`` (fraction of wrong trials) per batch.
        The very last batch's weight update is lost: NEST applies it at the next
        presynaptic spike, which falls into the following (test) block.
        """
        n_iterations = validation.whole_number("n_iterations", n_iterations, 1, 100000)
        learning_rate = _learning_rate(learning_rate)
        decay_after = float(decay_after)
        if not 0.0 <= decay_after <= 1.0:
            raise ValueError(f"decay_after must be a fraction of the iterations between 0 and 1, got {decay_after}")
        decay_to = validation.positive_number("decay_to", decay_to, 1.0, " (a factor in (0, 1])")
        switch = int(round(decay_after * n_iterations))
        bar = _progress(range(n_iterations), progress, "e-prop training")
        for k in bar:
            self._set_eta(learning_rate * (decay_to if k >= switch else 1.0))
            trials = cue_trials(self.batch_size, self.task, rng=self.rng)
            loss, predicted = self._run_block(trials)
            self.history["loss"].append(float(loss.mean()))
            self.history["error"].append(float(np.mean(predicted != trials.labels)))
            if progress:
                bar.set_postfix(loss=f"{loss.mean():.3f}", error=f"{self.history['error'][-1]:.2f}")
        return self.history

    def test(self, n_trials: int = 256, *, adaptation: bool = True, seed: int | None = None) -> dict:
        """Error and loss on ``n_trials`` held-out trials, with the learning rate at 0.

        ``adaptation=False`` switches the adaptive neurons' threshold adaptation off
        (``adapt_beta = 0``) for this test only. ``seed`` gives the held-out trials
        their own generator (the same seed, the same trials).
        """
        n_trials = validation.whole_number("n_trials", n_trials, 1, 100000)
        rng = np.random.default_rng(seed) if seed is not None else self.rng
        trials = cue_trials(n_trials, self.task, rng=rng)
        self._set_eta(0.0)
        if not adaptation and len(self.adaptive):
            self.adaptive.set(adapt_beta=0.0)
        try:
            loss, predicted = self._run_block(trials)
        finally:
            if len(self.adaptive):
                self.adaptive.set(adapt_beta=self.adapt_beta)
        return {
            "error": float(np.mean(predicted != trials.labels)),
            "loss": float(loss.mean()),
            "n_trials": n_trials,
            "labels": trials.labels,
            "predicted": predicted,
        }

    def example_trial(self, label: int | None = None, *, seed: int | None = None) -> Snapshot:
        """One held-out trial (learning rate 0) with everything recorded: input and
        recurrent spikes, readout signals, and for ``record_neurons`` neurons of each
        kind their voltage, pseudo-derivative, learning signal (and adaptive threshold)."""
        if label not in (None, 0, 1):
            raise ValueError(f"label must be 0 (left), 1 (right) or None (either), got {label!r}")
        rng = np.random.default_rng(seed) if seed is not None else self.rng
        trials = cue_trials(1, self.task, rng=rng)
        while label is not None and trials.labels[0] != label:
            trials = cue_trials(1, self.task, rng=rng)
        self._set_eta(0.0)
        t0 = float(self.n_trials_run * self.task.trial_ms)
        T = self.task.trial_ms
        self._run_block(trials, record=True)
        # as the readout sees the trial (offset ms late), defined only in the recall window
        readout = self._last_readout[:, self.offset + 1 : T + self.offset + 1].copy()
        readout[:, : T - self.task.recall_ms] = np.nan
        snap = Snapshot(
            readout=readout,
            target=np.eye(2)[trials.labels[0]][:, None] * np.ones((2, T)),
            rec_spikes=_spike_events(self.sr_rec, t0, t0 + T, self.rec.tolist()),
            in_spikes=_spike_events(self.sr_in, t0, t0 + T, self.inputs.tolist()),
            label=int(trials.labels[0]),
        )
        snap.cues = trials.cues[0]
        for name, mm, pop in (("regular", self.mm_reg, self.regular), ("adaptive", self.mm_ad, self.adaptive)):
            n = min(self.record_neurons, len(pop))
            if n:
                variables = self.variables + (["V_th_adapt"] if name == "adaptive" else [])
                for var, values in _samples(mm, variables, pop[:n].tolist(), t0, T).items():
                    snap.neurons[f"{name}:{var}"] = values
        for device in (self.mm_reg, self.mm_ad, self.sr_rec, self.sr_in):
            device.set(start=0.0, stop=0.0)
            device.n_events = 0
        return snap
