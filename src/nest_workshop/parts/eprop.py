"""e-prop: training recurrent spiking networks online (the e-prop part of the workshop).

Eligibility propagation (e-prop, Bellec et al. 2020) trains a recurrent spiking network
without backpropagation through time: every synapse keeps an *eligibility trace* of its
recent pre- and postsynaptic activity, and a *learning signal* sent back from the readout
neurons says how the synapse should change. NEST 3.10 ships the models.

The networks are built in the notebooks, with NEST's own calls: that is the lesson. This
module holds what is not:

- task generators: :func:`sine_pattern` and :func:`trajectory_pattern` (targets for
  regression), :func:`frozen_noise` (the input that drives the pattern generator),
  :class:`CueTask` and :func:`cue_trials` (evidence accumulation);
- the training loops around a network the notebook built: :class:`PatternTrainer`
  (regression with ``eprop_iaf``: schedules input and target, one presentation per
  iteration, loss) and :class:`TrialTrainer` (classification with the ``_bsshslm_2020``
  models: batches of trials, cross-entropy loss, error, held-out tests);
- small measures: :func:`mse_loss`, :func:`correlation`, :func:`weight_matrix`.

Time runs in steps of 1 ms, like NEST's examples. Only what the notebooks analyse is
recorded: the readout signals all the time, the notebook's other recorders (spikes,
voltages, pseudo-derivatives, learning signals) only in the presentations and trials
that are plotted. Recording everything is what made NEST's own examples slow and
memory-hungry. The trainers never change a learning rate: the notebook sets it in the
synapse model's optimizer, and a test refuses to run unless it is 0.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from ..core import validation
from ..core.kernel import KernelStateError, import_nest, require_resolution, require_time_zero
from ..core.ranks import gather_events

STEP_MS = 1.0  # e-prop networks here run at 1 ms resolution, like NEST's examples


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


def _lemniscate(s):
    """Bernoulli's lemniscate, the target of NEST's lemniscate example."""
    return np.cos(s) / (1 + np.sin(s) ** 2), np.sin(s) * np.cos(s) / (1 + np.sin(s) ** 2)


TRAJECTORIES = {"heart": _heart, "figure_eight": _figure_eight, "circle": _circle, "lemniscate": _lemniscate}


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
    silent_ms = validation.whole_number("silent_ms", silent_ms, 0, steps - 1, " (ms at the start without spikes)")
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
# the training loop around a network the notebook built


def _nodes(name: str, value, n: int | None = None, what: str = ""):
    """``value`` must be a NodeCollection (of ``n`` nodes, if given)."""
    nest = import_nest()
    if not isinstance(value, nest.NodeCollection):
        raise TypeError(f"{name} must be a NodeCollection made by nest.Create, got {type(value).__name__}")
    if n is not None and len(value) != n:
        raise ValueError(f"{name} must have {n} nodes{what}, got {len(value)}")
    return value


def _recorder(name: str, value, variables=()):
    """``value`` must be one recording device; a multimeter must record ``variables``."""
    _nodes(name, value, 1, " (one recording device)")
    model = value.get("model")
    if model not in ("multimeter", "spike_recorder", "weight_recorder"):
        raise ValueError(f"{name} must be a multimeter, spike_recorder or weight_recorder, got a {model}")
    missing = [v for v in variables if v not in value.get("record_from")]
    if missing:
        raise ValueError(f"{name} must record {list(variables)} (its record_from), and misses {missing}")
    return value


def _trace_recorders(recorders) -> dict:
    if recorders is None:
        return {}
    if not isinstance(recorders, dict):
        raise TypeError("trace_recorders must be a dict {name: multimeter or spike_recorder}, e.g. {'spikes': sr}")
    return {str(k): _Recorder(_recorder(f"trace_recorders[{k!r}]", v)) for k, v in recorders.items()}


def _at_time_zero(what: str):
    """The e-prop loops count presentations from time 0 at 1 ms steps
    (:class:`~nest_workshop.core.kernel.KernelStateError` otherwise)."""
    require_resolution(what, STEP_MS, why=", like NEST's e-prop examples")
    return require_time_zero(
        what,
        "counts presentations from time 0",
        "build the network in a fresh kernel (nw.reset_kernel) and create the trainer before simulating",
    )


def _at_presentation_start(what: str, steps: int):
    """Like :func:`_at_time_zero`, but presentations the notebook ran by hand before are
    fine: the kernel's clock must stand at the start of a presentation (a whole number of
    ``steps`` ms)."""
    nest = require_resolution(what, STEP_MS, why=", like NEST's e-prop examples")
    now = nest.biological_time
    if abs(now / steps - round(now / steps)) > 1e-9:
        raise KernelStateError(
            f"{what} starts a presentation every {steps} ms, and this kernel stands at {now:g} ms, inside one: "
            "simulate whole presentations before (or build the network in a fresh kernel)"
        )
    return nest


def learning_rate_of(synapse_model: str) -> float:
    """The learning rate ``eta`` that ``synapse_model``'s optimizer uses now (nest.GetDefaults)."""
    return float(import_nest().GetDefaults(synapse_model)["optimizer"]["eta"])


def _require_frozen(synapse_model: str, what: str):
    eta = learning_rate_of(synapse_model)
    if eta != 0.0:
        raise ValueError(
            f"{what} measures what the network has learned, so its weights must not change, and the "
            f"learning rate of {synapse_model} is {eta:g}: set its optimizer's eta to 0 first "
            "(nest.SetDefaults)"
        )


def _progress(iterable, enabled: bool, description: str):
    if not enabled:
        return iterable
    from tqdm.std import tqdm  # a text bar: works in notebooks without ipywidgets, and in terminals

    return tqdm(iterable, desc=description, unit="it", mininterval=1.0)


def _dense(events: dict, variables, t0: float, n_steps: int) -> dict:
    """Multimeter events as arrays (n_senders, n_steps), senders in increasing id order, at
    times t0 + 1 ... t0 + n_steps (NaN where nothing was recorded)."""
    times = np.asarray(events["times"], dtype=float)
    who = np.asarray(events["senders"])
    senders = np.unique(who)
    index = np.rint(times - t0).astype(int) - 1
    keep = (index >= 0) & (index < n_steps)
    rows = np.searchsorted(senders, who[keep])
    out = {"senders": senders}
    for variable in variables:
        dense = np.full((len(senders), n_steps), np.nan)
        dense[rows, index[keep]] = np.asarray(events[variable])[keep]
        out[variable] = dense
    return out


def _read_and_clear(recorder, t0: float, n_steps: int, model: str, variables=()):
    """What ``recorder`` (of ``model``) holds for (t0, t0 + n_steps]; then its memory is freed.

    A multimeter gives {variable: (n_senders, n_steps), "senders": ids}; a spike
    recorder (times relative to t0, sender ids); a weight recorder its raw events.
    (Model and variables come from the caller: asking NEST at every iteration costs.)"""
    events = gather_events(recorder)  # collective under MPI: every rank runs the training loop
    recorder.n_events = 0
    if model == "multimeter":
        return _dense(events, variables, t0, n_steps)
    times = np.asarray(events["times"], dtype=float)
    if model == "weight_recorder":
        return events
    keep = (times > t0) & (times <= t0 + n_steps)
    return times[keep] - t0, np.asarray(events["senders"])[keep]


class _Recorder:
    """A recording device with what it is (asked of NEST once)."""

    def __init__(self, device):
        self.device = device
        self.model = device.get("model")
        self.variables = tuple(device.get("record_from")) if self.model == "multimeter" else ()

    def read(self, t0: float, n_steps: int):
        return _read_and_clear(self.device, t0, n_steps, self.model, self.variables)


def _switch(recorders: dict, start: float, stop: float):
    for recorder in recorders.values():
        recorder.device.set(start=start, stop=stop)


@dataclass
class Snapshot:
    """What was recorded during one presentation or trial (times in ms from its start).

    ``readout`` and ``target`` have one row per readout and one column per ms;
    ``recorded`` maps each trace recorder's name to what it recorded: for a multimeter
    {variable: (n_neurons, steps)}, for a spike recorder (times, sender ids)."""

    readout: np.ndarray
    target: np.ndarray
    recorded: dict = field(default_factory=dict)
    trial: CueTrials | None = None  # the trial's input, cues and label (classification only)


class PatternTrainer:
    """The training loop of a pattern-generation network that the notebook built.

    The network (inputs, e-prop neurons, readouts, plastic synapses, learning-signal
    connections, recorders) is made with NEST calls in the notebook; this class only
    schedules the input and the target of each presentation, runs the simulation one
    presentation at a time, reads the readout's recorder and keeps the loss.

    ``target`` is the pattern to learn, shape (steps,) or (n_out, steps), one value per
    ms; ``input_spikes`` a boolean array (n_inputs, steps), the frozen noise every
    presentation replays through ``input_generators`` (spike generators). The target
    goes to ``target_generators`` (step rate generators, one per readout); they and the
    input reach the readout ``offset_ms`` after a presentation starts (a spike generator
    emits 1 ms after its spike time, then 1 ms of input delay).
    ``readout_recorder`` is a multimeter that records ``readout_signal`` and
    ``target_signal`` of the readouts. The ``trace_recorders`` ({name: multimeter or
    spike recorder}) are switched on only in the presentations that :meth:`train`
    (the first) and :meth:`test` record: recording every step of every neuron is what
    makes NEST's own example slow. The learning rate is the notebook's business: it is
    set in the optimizer of ``synapse_model`` (``nest.SetDefaults``).
    """

    def __init__(
        self,
        target,
        input_spikes,
        *,
        input_generators,
        target_generators,
        readout_recorder,
        trace_recorders: dict | None = None,
        synapse_model: str = "eprop_synapse",
        offset_ms: float = 2.0,
    ):
        target = np.asarray(target, dtype=float)
        if target.ndim == 1:
            target = target[None, :]
        if target.ndim != 2 or target.shape[1] < 10 or not 1 <= target.shape[0] <= 10:
            raise ValueError(
                "target must have shape (steps,) or (n_out, steps): 1 to 10 readouts, at least 10 steps of "
                f"1 ms; got shape {np.shape(target)}"
            )
        if not np.all(np.isfinite(target)):
            raise ValueError("target must contain finite numbers only")
        self.target = target
        self.n_out, self.steps = target.shape
        spikes = np.asarray(input_spikes)
        if spikes.ndim != 2 or spikes.shape[1] != self.steps or spikes.dtype != bool:
            raise ValueError(
                f"input_spikes must be a boolean array (n_inputs, {self.steps}) as long as the target, "
                f"e.g. eprop.frozen_noise(n_inputs, {self.steps}); got {spikes.dtype} of shape {spikes.shape}"
            )
        if spikes[:, :3].any():
            raise ValueError("input_spikes must be silent in the first 3 ms of a presentation (frozen_noise(..., silent_ms=3))")
        self.nest = _at_presentation_start(type(self).__name__, self.steps)
        self.input_generators = _nodes("input_generators", input_generators, spikes.shape[0], " (one per row of input_spikes)")
        self.target_generators = _nodes("target_generators", target_generators, self.n_out, " (one per row of the target)")
        self.readout_recorder = _Recorder(_recorder("readout_recorder", readout_recorder, ("readout_signal", "target_signal")))
        self.trace_recorders = _trace_recorders(trace_recorders)
        self.nest.GetDefaults(synapse_model)  # an unknown model name fails here, with NEST's message
        self.synapse_model = synapse_model
        self.offset = validation.nonnegative_number("offset_ms", offset_ms)
        self._spike_offsets = [np.flatnonzero(row).astype(float) + 1.0 for row in spikes]
        _switch(self.trace_recorders, 0.0, 0.0)
        self.history = {"loss": []}
        self.before: Snapshot | None = None
        self.after: Snapshot | None = None
        # presentations already run (by hand, in the notebook) count: the next one starts now
        self.n_presentations = int(round(self.nest.biological_time / self.steps))

    def _schedule(self, n: int):
        """Input spikes and target values for the next ``n`` presentations."""
        t0 = self.n_presentations * self.steps
        starts = t0 + self.steps * np.arange(n, dtype=float)
        self.input_generators.set(
            [{"spike_times": (starts[:, None] + offsets[None, :]).ravel()} for offsets in self._spike_offsets]
        )
        times = t0 + self.offset + np.arange(n * self.steps, dtype=float)
        self.target_generators.set([{"amplitude_times": times, "amplitude_values": np.tile(row, n)} for row in self.target])

    def _present(self, record: bool) -> Snapshot:
        t0 = float(self.n_presentations * self.steps)
        if record:
            _switch(self.trace_recorders, t0, t0 + self.steps)
        self.nest.Simulate(float(self.steps))
        self.n_presentations += 1
        # The readout sees presentation k from t0 + offset on: read it up to the end of what is simulated.
        data = self.readout_recorder.read(t0 + self.offset - 1, self.steps)
        valid = ~np.isnan(data["readout_signal"][0])
        snap = Snapshot(readout=data["readout_signal"][:, valid], target=data["target_signal"][:, valid])
        if record:
            snap.recorded = {name: rec.read(t0, self.steps) for name, rec in self.trace_recorders.items()}
            _switch(self.trace_recorders, 0.0, 0.0)
        return snap

    def train(self, n_iterations: int = 200, *, progress: bool = True) -> dict:
        """Present the pattern ``n_iterations`` times, learning at the rate the synapse
        model's optimizer has. Returns ``history`` (``loss`` of each presentation,
        0.5 * sum_t (y - y*)^2); the first presentation ever is kept in ``before``."""
        n_iterations = validation.whole_number("n_iterations", n_iterations, 1, 10000)
        self._schedule(n_iterations)
        bar = _progress(range(n_iterations), progress, "e-prop training")
        for _ in bar:
            snap = self._present(record=self.before is None)
            if self.before is None:
                self.before = snap
            loss = mse_loss(snap.readout, snap.target)
            self.history["loss"].append(loss)
            if progress:
                bar.set_postfix(loss=f"{loss:.3g}", refresh=False)
        return self.history

    def test(self) -> Snapshot:
        """One more presentation, recorded, with the weights frozen (the optimizer's
        ``eta`` must be 0): what the trained network generates. Kept in ``after``."""
        _require_frozen(self.synapse_model, "test()")
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


class TrialTrainer:
    """The training loop of an evidence-accumulation network that the notebook built
    with NEST's ``_bsshslm_2020`` e-prop models.

    Each iteration is a batch of fresh :func:`cue_trials` (``seed`` seeds their
    generator); the batch size is that of the synapse model's optimizer, which updates
    the weights once per batch. The class schedules each trial's input through
    ``input_generators`` (spike generators, one per input neuron of ``task``) and its
    one-hot label through ``target_generators`` (two step rate generators: left, right),
    simulates the trials back to back, and reads the two readouts' softmax
    (``readout_signal``) from ``readout_recorder`` in the recall window, where the
    cross-entropy loss is computed. A trial reaches the readout ``offset_ms`` after it
    starts (the generator's 1 ms plus three 1 ms delays: generator to input, input to
    recurrent, recurrent to readout).

    The kernel must be set for trials of ``task.trial_ms``: ``eprop_update_interval``
    the trial length and ``eprop_learning_window`` the recall cue (``nest.set``).
    """

    def __init__(
        self,
        task: CueTask,
        *,
        input_generators,
        target_generators,
        readout_recorder,
        seed: int,
        trace_recorders: dict | None = None,
        synapse_model: str = "eprop_synapse_bsshslm_2020",
        offset_ms: int = 4,
    ):
        if not isinstance(task, CueTask):
            raise ValueError(f"task must be a CueTask, got {type(task).__name__}")
        self.task = task
        self.nest = nest = _at_time_zero(type(self).__name__)
        interval, window = nest.GetKernelStatus(["eprop_update_interval", "eprop_learning_window"])
        if interval != task.trial_ms or window != task.recall_ms:
            raise KernelStateError(
                f"the kernel must update once per trial, at the end of the recall cue: nest.set(eprop_update_interval="
                f"{task.trial_ms:g}, eprop_learning_window={task.recall_ms:g}); it has {interval:g} and {window:g}"
            )
        self.input_generators = _nodes("input_generators", input_generators, task.n_inputs, " (one per input neuron)")
        self.target_generators = _nodes("target_generators", target_generators, 2, " (left and right)")
        self.readout_recorder = _Recorder(_recorder("readout_recorder", readout_recorder, ("readout_signal",)))
        self.trace_recorders = _trace_recorders(trace_recorders)
        nest.GetDefaults(synapse_model)  # an unknown model name fails here, with NEST's message
        self.synapse_model = synapse_model
        self.offset = validation.whole_number("offset_ms", offset_ms, 0, 100)
        self.rng = np.random.default_rng(validation.whole_number("seed", seed, 0))
        _switch(self.trace_recorders, 0.0, 0.0)
        self.n_trials_run = 0
        self.history = {"loss": [], "error": []}

    @property
    def batch_size(self) -> int:
        return int(self.nest.GetDefaults(self.synapse_model)["optimizer"]["batch_size"])

    def _run_block(self, trials: CueTrials, *, record: bool = False):
        """Simulate the given trials back to back; return per-trial (loss, predicted label)
        and the readouts' recorded signal of the block (column i: recorded at time t0 + i)."""
        task, T = self.task, self.task.trial_ms
        n = len(trials.labels)
        t0 = float(self.n_trials_run * T)
        starts = t0 + T * np.arange(n, dtype=float)
        spike_times = []
        for i in range(task.n_inputs):
            trial_idx, step = np.nonzero(trials.spikes[:, i, :])
            spike_times.append({"spike_times": starts[trial_idx] + step + 1.0})
        self.input_generators.set(spike_times)
        # The readout's target switches 2 ms after the readout starts seeing the trial: the
        # first trial of a block then switches after the end of the previous block's
        # simulation (a change scheduled at the current time would be lost). Only the
        # recall window at the end of a trial enters the loss.
        change = starts + self.offset + 2
        onehot = np.eye(2)[trials.labels]
        self.target_generators.set([{"amplitude_times": change, "amplitude_values": onehot[:, k]} for k in range(2)])
        if record:
            _switch(self.trace_recorders, t0, t0 + n * T)
        # Simulate until the readout's sample offset ms after the last trial's end is recorded.
        self.nest.Simulate(float(n * T + (self.offset + 1 if self.n_trials_run == 0 else 0)))
        self.n_trials_run += n
        data = self.readout_recorder.read(t0 - 1, n * T + self.offset + 1)["readout_signal"]
        # data[:, i] was recorded at time t0 + i. The readouts compute their softmax only in
        # the learning window, the last recall_ms of each trial as they see it (offset ms late).
        window = np.arange(T - task.recall_ms + self.offset + 1, T + self.offset + 1)
        y = data[:, T * np.arange(n)[:, None] + window[None, :]]  # (2, n, window)
        if np.isnan(y).any():
            raise RuntimeError("readout recording incomplete: the block was not simulated to its end")
        p_label = np.where(trials.labels[:, None] == 1, y[1], y[0])
        loss = -np.mean(np.log(np.clip(p_label, 1e-12, None)), axis=1)
        predicted = np.argmax(y.mean(axis=2), axis=0)
        return loss, predicted, data

    def train(self, n_iterations: int = 400, *, progress: bool = True) -> dict:
        """Train for ``n_iterations`` batches of fresh trials, at the learning rate the
        synapse model's optimizer has now. Returns ``history``, continued over calls:
        ``loss`` (mean cross-entropy) and ``error`` (fraction of wrong trials) per batch.

        NEST applies a batch's update at each synapse's next presynaptic spike, in the
        next block: the update of the very last training batch lands early in the
        following test. It is applied with the training rate all the same: each synapse's
        optimizer keeps the learning rate in force when the update was archived
        (``eta_current_`` in NEST's ``weight_optimizer.cpp``), so setting ``eta`` to 0
        freezes the weights after that one update.
        """
        n_iterations = validation.whole_number("n_iterations", n_iterations, 1, 100000)
        batch = self.batch_size
        bar = _progress(range(n_iterations), progress, "e-prop training")
        for _ in bar:
            trials = cue_trials(batch, self.task, rng=self.rng)
            loss, predicted, _ = self._run_block(trials)
            self.history["loss"].append(float(loss.mean()))
            self.history["error"].append(float(np.mean(predicted != trials.labels)))
            if progress:
                bar.set_postfix(loss=f"{loss.mean():.3f}", error=f"{self.history['error'][-1]:.2f}", refresh=False)
        return self.history

    def test(self, n_trials: int = 256, *, seed: int) -> dict:
        """Error and loss on ``n_trials`` held-out trials drawn with their own ``seed``
        (the same seed, the same trials). The optimizer's ``eta`` must be 0."""
        n_trials = validation.whole_number("n_trials", n_trials, 1, 100000)
        _require_frozen(self.synapse_model, "test()")
        trials = cue_trials(n_trials, self.task, rng=np.random.default_rng(validation.whole_number("seed", seed, 0)))
        loss, predicted, _ = self._run_block(trials)
        return {
            "error": float(np.mean(predicted != trials.labels)),
            "loss": float(loss.mean()),
            "n_trials": n_trials,
            "labels": trials.labels,
            "predicted": predicted,
        }

    def example_trial(self, label: int | None = None, *, seed: int) -> Snapshot:
        """One held-out trial (``eta`` must be 0) with the trace recorders on: the
        readouts' softmax (NaN outside the recall window), the trial's input, and what
        the recorders recorded."""
        if label not in (None, 0, 1):
            raise ValueError(f"label must be 0 (left), 1 (right) or None (either), got {label!r}")
        _require_frozen(self.synapse_model, "example_trial()")
        rng = np.random.default_rng(validation.whole_number("seed", seed, 0))
        trials = cue_trials(1, self.task, rng=rng)
        while label is not None and trials.labels[0] != label:
            trials = cue_trials(1, self.task, rng=rng)
        T = self.task.trial_ms
        t0 = float(self.n_trials_run * T)
        _, _, data = self._run_block(trials, record=True)
        # as the readout sees the trial (offset ms late), defined only in the recall window
        readout = data[:, self.offset + 1 : T + self.offset + 1].copy()
        readout[:, : T - self.task.recall_ms] = np.nan
        recorded = {name: rec.read(t0, T) for name, rec in self.trace_recorders.items()}
        _switch(self.trace_recorders, 0.0, 0.0)
        return Snapshot(
            readout=readout, target=np.eye(2)[trials.labels[0]][:, None] * np.ones((2, T)), recorded=recorded, trial=trials
        )


def fallback_learning_signal(readout, neurons, *, weight_std: float, synapse_model: str = "eprop_learning_signal_connection"):
    """Connect ``readout`` to ``neurons`` with ``synapse_model`` (random normal feedback
    weights) if the notebook's exercise left them unconnected, and say so; otherwise do
    nothing. Returns the number of learning-signal connections now in place."""
    nest = import_nest()
    existing = nest.GetConnections(readout, neurons, synapse_model=synapse_model)
    if len(existing) == 0:
        print(
            f"No {synapse_model} connections yet (the exercise above is blank): the notebook connects them "
            "for you, all to all, so that training can go on. Fill in the exercise to do it yourself."
        )
        weight_std = validation.positive_number("weight_std", weight_std)
        nest.Connect(
            readout,
            neurons,
            "all_to_all",
            {"synapse_model": synapse_model, "delay": STEP_MS, "weight": nest.random.normal(0.0, weight_std)},
        )
    return len(nest.GetConnections(readout, neurons, synapse_model=synapse_model))


def check_learning_signal(readout, neurons, *, weight_std: float, synapse_model: str = "eprop_learning_signal_connection"):
    """Self-check of the learning-signal exercise: every readout connects to every neuron
    with ``synapse_model``, and the feedback weights are random with mean about 0 and a
    standard deviation within a factor 2 of ``weight_std``. Prints one sentence, or
    raises :class:`~nest_workshop.core.selfcheck.SelfCheckError` saying what is wrong."""
    from ..core import selfcheck

    nest = import_nest()
    weight_std = validation.positive_number("weight_std", weight_std)
    # Under MPI a rank holds the connections to its own neurons only: count those.
    expected = len(readout) * _local_count(nest, neurons)
    found = nest.GetConnections(readout, neurons, synapse_model=synapse_model)
    n = len(found)
    claim = "every recurrent neuron gets the learning signal of every readout"
    if n == 0:
        hint = f"connect readout to the neurons with nest.Connect and the synapse model {synapse_model}"
    elif n % expected == 0 and n > expected:
        hint = (
            "each run of the cell adds connections: the cell ran more than once. Build the network again: "
            "run the notebook again from the cell with nw.reset_kernel"
        )
    else:
        hint = "every readout to every recurrent neuron: the rule all_to_all"
    selfcheck.check(n == expected, claim, f"{n} {synapse_model}s, {expected} expected", hint if n != expected else "")
    weights = np.asarray(found.get("weight"), dtype=float).ravel()
    mean, std = float(weights.mean()), float(weights.std())
    evidence = f"feedback weights mean {mean:.2g}, standard deviation {std:.2g} (intended: 0 and {weight_std:.2g})"
    if std == 0.0:
        hint = (
            f"all {n} weights are {weights[0]:g}: without a weight, NEST gives every connection the same one. "
            f"Draw them with 'weight': nest.random.normal(0.0, {weight_std:.2g})"
        )
    else:
        hint = f"draw the weights with 'weight': nest.random.normal(0.0, std), std = {weight_std:.2g}"
    ok = weight_std / 2 < std < 2 * weight_std and abs(mean) < weight_std / 2
    selfcheck.check(ok, "the feedback weights are random, centred on 0, with the intended spread", evidence, hint)


def _local_count(nest, nodes) -> int:
    """How many of ``nodes`` live in this process (all of them without MPI)."""
    if nest.NumProcesses() == 1:
        return len(nodes)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*GetLocalNodeCollection.*")  # unsafe only in collective calls
        return len(nest.GetLocalNodeCollection(nodes))


def _softmax_connections(readout):
    nest = import_nest()
    found = nest.GetConnections(readout, readout)
    if len(found) == 0:
        return []
    data = found.get(["source", "target", "receptor", "synapse_model"])
    return list(
        zip(
            np.atleast_1d(data["source"]),
            np.atleast_1d(data["target"]),
            np.atleast_1d(data["receptor"]),
            np.atleast_1d(data["synapse_model"]),
        )
    )


def check_softmax(readout):
    """Self-check of the softmax exercise: each of the readouts sends its signal to each
    other readout, once, on receptor 1, with ``rate_connection_delayed``. Prints one
    sentence, or raises a :class:`~nest_workshop.core.selfcheck.SelfCheckError`."""
    from ..core import selfcheck

    connections = _softmax_connections(readout)
    n_out = len(readout)
    expected = n_out * (n_out - 1)
    autapses = sum(1 for s, t, _, _ in connections if s == t)
    pairs = {(s, t) for s, t, _, _ in connections if s != t}
    wrong = sorted({f"{m} on receptor {r}" for _, _, r, m in connections if r != 1 or m != "rate_connection_delayed"})
    evidence = f"{len(connections)} readout-to-readout connections ({autapses} from a readout to itself); {expected} expected"
    if not connections:
        hint = "connect readout to readout with nest.Connect"
    elif wrong:
        hint = f"found {', '.join(wrong)}: use the synapse specification rate_syn with receptor_type 1"
    elif len(connections) > expected and not autapses:
        hint = "the cell ran more than once (each run adds connections): run the notebook again from nw.reset_kernel"
    else:
        hint = "each readout to the other one: the rule all_to_all, with its option allow_autapses"
    ok = len(connections) == expected and not autapses and len(pairs) == expected and not wrong
    selfcheck.check(ok, "each readout receives the other readout's signal on receptor 1", evidence, hint)


def fallback_softmax(readout):
    """Connect the readouts to each other for their softmax (receptor 1, no autapses) if
    the notebook's exercise left them unconnected, and say so; otherwise do nothing.
    Returns the number of readout-to-readout connections now in place."""
    nest = import_nest()
    if not _softmax_connections(readout):
        print(
            "No readout-to-readout connections yet (the exercise above is blank): the notebook connects them for "
            "you, so that training can go on. Fill in the exercise to do it yourself."
        )
        nest.Connect(
            readout,
            readout,
            {"rule": "all_to_all", "allow_autapses": False},
            {"synapse_model": "rate_connection_delayed", "delay": STEP_MS, "receptor_type": 1},
        )
    return len(_softmax_connections(readout))


# ---------------------------------------------------------------------------------------
# weights


def weight_matrix(connections) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The weights of ``connections`` (a SynapseCollection from ``nest.GetConnections``)
    as a matrix, one row per target and one column per source, both in increasing node
    id order; 0 where there is no connection. Returns (matrix, source ids, target ids)."""
    nest = import_nest()
    if not isinstance(connections, nest.SynapseCollection):
        raise TypeError(f"connections must be what nest.GetConnections returns, got {type(connections).__name__}")
    data = connections.get(["source", "target", "weight"])
    sources, targets = np.atleast_1d(data["source"]), np.atleast_1d(data["target"])
    source_ids, target_ids = np.unique(sources), np.unique(targets)
    matrix = np.zeros((len(target_ids), len(source_ids)))
    matrix[np.searchsorted(target_ids, targets), np.searchsorted(source_ids, sources)] = np.atleast_1d(data["weight"])
    return matrix, source_ids, target_ids


# ---------------------------------------------------------------------------------------
# figures


def plot_pattern_training(trainer: PatternTrainer):
    """Notebook 1's result: the training loss (with the test loss), and readout and target
    in the first training presentation and in the test. Returns the figure."""
    import matplotlib.pyplot as plt

    from ..core import plotting

    if not isinstance(trainer, PatternTrainer) or trainer.after is None or trainer.before is None:
        raise ValueError("plot_pattern_training needs a PatternTrainer that has trained and tested (train(), test())")
    fig, axes = plt.subplots(1, 3, figsize=(13, 3), width_ratios=[1.2, 1, 1])
    plotting.learning_curve(
        {"training loss": trainer.history["loss"]},
        ylabel=r"loss $\frac{1}{2}\sum_t (y-y^*)^2$",
        logy=True,
        title="Loss during training",
        ax=axes[0],
    )
    axes[0].axhline(trainer.test_loss, color="gray", ls=":", label="test, learning rate 0")
    axes[0].legend()
    for ax, snap, title in zip(axes[1:], [trainer.before, trainer.after], ["first training presentation", "test (trained)"]):
        for k in range(len(snap.target)):
            ax.plot(snap.target[k], color="k", lw=2, label="target $y^*$" if k == 0 else None)
            ax.plot(snap.readout[k], color=plotting.PALETTE[1], label="readout $y$" if k == 0 else None)
        ax.set_xlabel("time in presentation (ms)")
        ax.set_title(title)
    axes[1].set_ylabel("signal")
    axes[1].legend(fontsize=8)
    return fig


# ---------------------------------------------------------------------------------------
# schematic


def draw_network(ax=None, *, kind: str = "regression"):
    """A schematic of the notebook's e-prop network: populations as boxes, connections as
    arrows labelled with their NEST synapse model. ``kind`` is ``"regression"`` (notebook
    1, ``eprop_iaf``) or ``"classification"`` (notebook 2, ``_bsshslm_2020`` models).
    Drawn by :func:`nest_workshop.core.schematics.eprop_network`; returns the axes."""
    from ..core import schematics  # matplotlib, imported on first use

    return schematics.eprop_network(ax, kind=kind)
