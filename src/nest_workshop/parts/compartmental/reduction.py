"""Notebook 3: from a reconstructed morphology (SWC) to a reduced ``cm_default`` neuron
with NEAT, and the comparison of its EPSPs with the full cell's in NEURON.

:mod:`.tolerance` builds on it (a reduction to a stated accuracy); the generic
isolation of third-party code (output on the file descriptors, the working directory)
is :mod:`nest_workshop.core.isolation`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import filecmp
import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ...core import build_cache, validation
from ...core.isolation import quiet_file_descriptors, working_directory
from ...core.kernel import import_nest, require_fresh_kernel
from .cells import check_receptors
from .nestml_model import COMPARTMENT_KEYS, E_H, MODEL_CHANNEL_KEYS, NESTML_MODEL

# ---------------------------------------------------------------------------------------
# NEAT: from a reconstructed morphology to a reduced cm_default neuron (notebook 3)
#
# NEAT (NEural Analysis Toolkit, ``pip install nest-neat``, imported as ``neat``) reads a
# morphology (SWC), gives it a passive membrane, and fits a small compartment tree whose
# compartments sit at chosen locations ("sites") so that it reproduces the full
# morphology's responses there. The fitted tree exports to ``cm_default``. The full
# morphology is simulated with NEURON through NEAT's ``NeuronSimTree``; a passive
# membrane needs only NEURON's built-in mechanisms (``pas``, ``Exp2Syn``, ``NetStim``),
# so nothing is compiled.
#
# NEAT writes a ``neatcache/`` folder into the working directory when trees are created,
# and on import without a display it switches matplotlib to the Agg backend. The helpers
# below run NEAT in a temporary folder and restore the matplotlib backend, so nothing is
# written into the materials and inline figures keep working.
# ---------------------------------------------------------------------------------------


# SWC point types NEAT keeps by default: 1 soma, 3 basal dendrite, 4 apical dendrite
SWC_TYPES = {1: "soma", 2: "axon", 3: "basal dendrite", 4: "apical dendrite"}
# The full cell's segments for EPSPs: 4 times the lambda rule's (Carnevale's rule at
# 100 Hz). A fast EPSP in a thin dendrite has more high frequencies than the rule is made
# for: with the rule alone, the local EPSP at a thin apical site 700 µm out was 19 % too
# large (2.93 mV against 2.47 converged, NEAT's cell1_simplified), at 4 times 1.4 %; the
# L2/3 cell's reduction errors shrink with it (local: 2-4 % -> 1-3 %).
FULL_MODEL_LAMBDA_FACTOR = 4.0
# passive membrane: capacitance (µF/cm²), axial resistance (Ω cm), membrane time constant
# (ms) and resting potential (mV); the leak conductance follows from tau_m and c_m
PASSIVE = {"c_m": 1.0, "r_a": 100.0, "tau_m": 10.0, "e_eq": -75.0}
# AMPA kinetics used in both simulators (cm_default's defaults): rise 0.2 ms, decay 3 ms
AMPA = {"e_AMPA": 0.0, "tau_r_AMPA": 0.2, "tau_d_AMPA": 3.0}
# Na and K of cm_default on the reduced soma, per nF of its capacitance (µS/nF); with them
# the reduced neuron fires (the dendrites stay passive)
ACTIVE_SOMA_DENSITY = {"gbar_Na": 90.0, "gbar_K": 30.0}
# one per user: on a shared machine (a workshop server) /tmp is everybody's
NEAT_WORKDIR = Path(tempfile.gettempdir()) / f"nest-workshop-neat-{os.getuid()}"
NEAT_CACHE_ENV = build_cache.CACHE_ENVS["neat"]  # NEST_WORKSHOP_NEAT_CACHE


def neat_cache_dir() -> Path:
    """Where NEAT's cached tree computations are kept between fits and sessions:
    ``$NEST_WORKSHOP_NEAT_CACHE``, or ``~/.cache/nest-workshop/neat``; one folder per NEAT
    version, whose files another version might not read."""
    return build_cache.cache_root("neat") / f"nest-neat-{importlib.metadata.version('nest-neat')}"


def _shared_neat_dir(own: Path) -> Path | None:
    """The shared, read-only counterpart of ``own`` (a folder of :func:`neat_cache_dir`'s
    parent) on a workshop server, if there is one (:func:`build_cache.shared_root`)."""
    shared = build_cache.shared_root("neat")
    return shared / own.name if shared is not None and (shared / own.name).is_dir() else None


def _in_neat_workdir():
    """Run NEAT inside a temporary folder: its ``neatcache/`` lands there, not here."""
    return working_directory(NEAT_WORKDIR)


def neat_workdir():
    """``with compartmental.neat_workdir(): ...`` runs NEAT calls in a temporary folder
    (``<tmp>/nest-workshop-neat-<uid>``) and comes back: NEAT 1.1's ``fit_model`` creates a
    ``neatcache/`` folder in the working directory even when its cache files go to the
    ``cache_path`` it is given (an ``EquilibriumTree`` made with the default path)."""
    return _in_neat_workdir()


def import_neat():
    """Import NEAT (which imports NEST and NEURON) without side effects: nothing written
    into the working directory, no banners, matplotlib's backend unchanged (without a
    display NEAT would switch it to Agg and inline figures would vanish). Raises an
    ImportError that says what to install."""
    if "neat" in sys.modules:
        return sys.modules["neat"]
    import matplotlib

    backend = matplotlib.get_backend()
    path = os.environ.get("PATH", "")
    # NEAT probes for a display by running `python -c "import matplotlib.pyplot ..."`:
    # let `python` be this environment's interpreter, which has matplotlib
    os.environ["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), path])
    try:
        with _in_neat_workdir(), quiet_file_descriptors():
            import neat
    except ImportError as error:
        raise ImportError("NEAT is missing: run `%pip install nest-neat==1.1 six` and restart the kernel") from error
    finally:
        os.environ["PATH"] = path
        if matplotlib.get_backend() != backend:
            matplotlib.use(backend)
    return neat


def check_swc(path) -> Path:
    """Check that ``path`` is an SWC morphology file: lines of seven numbers
    ``id type x y z radius parent`` (``#`` starts a comment), a soma point (type 1) as root."""
    path = Path(path)
    if not path.is_file():
        folder = path.parent if path.parent.is_dir() else Path(".")
        found = sorted(p.name for p in folder.glob("*.swc"))
        raise FileNotFoundError(
            f"no morphology file {str(path)!r}; SWC files in {str(folder)!r}: {', '.join(found) if found else 'none'}"
        )
    roots = 0
    soma = False
    with open(path, errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            fields = line.split()
            try:
                values = [float(v) for v in fields]
            except ValueError:
                values = []
            if len(fields) != 7 or not values:
                raise ValueError(
                    f"{path.name} is not an SWC file: line {number} is {line[:60]!r}; an SWC line has "
                    "7 numbers: id, type, x, y, z, radius, parent id (-1 for the root)"
                )
            roots += values[6] == -1
            soma |= values[1] == 1
    if roots != 1 or not soma:
        raise ValueError(
            f"{path.name} is not a usable SWC morphology: it needs exactly one root point "
            f"(parent -1) and a soma (type 1); found {roots} roots, {'a' if soma else 'no'} soma"
        )
    return path


def load_morphology(path, passive: dict | None = None, channels=()):
    """Read an SWC file into a NEAT ``PhysTree`` with a passive membrane (``PASSIVE``,
    overridable), ready for fitting and for NEURON. The axon is left out (NEAT's default).

    ``channels`` adds ion channels: ``(channel, density, region)`` each, with a NEAT
    ``IonChannel`` (for example :func:`ih_channel`), its density in µS/cm² (a number, or
    a function of the distance to the soma in µm) and NEAT's region name (``"somatic"``,
    ``"basal"``, ``"apical"``, or ``"all"``). Their NEURON mechanisms are compiled first
    (:func:`load_neuron_mechanisms`). The leak is then fitted so that the membrane rests
    at ``e_eq`` with time constant ``tau_m`` with the channels open as they are at rest."""
    path = check_swc(path).resolve()  # before NEAT runs in its own working directory
    params = {**PASSIVE, **(passive or {})}
    unknown = set(params) - set(PASSIVE)
    if unknown:
        raise ValueError(f"unknown passive parameters {sorted(unknown)}: use {', '.join(PASSIVE)}")
    neat = import_neat()
    channels = [_check_channel_entry(neat, entry) for entry in channels]
    if channels:
        load_neuron_mechanisms([channel for channel, _, _ in channels])
    with _in_neat_workdir(), quiet_file_descriptors():
        tree = neat.PhysTree(str(path))
        tree.set_physiology(params["c_m"], params["r_a"] * 1e-6)  # NEAT takes r_a in MΩ cm
        for channel, density, region in channels:
            tree.add_channel_current(channel, density, channel.e, node_arg=region)
        tree.fit_leak_current(params["e_eq"], params["tau_m"])
        tree.set_v_ep(params["e_eq"])
        tree.set_comp_tree()
    tree.passive = params
    return tree


NEAT_REGIONS = ("all", "somatic", "basal", "apical")


def _check_channel_entry(neat, entry):
    try:
        channel, density, region = entry
    except (TypeError, ValueError):
        raise ValueError(f"give each channel as (channel, density in µS/cm², region), got {entry!r}") from None
    if not isinstance(channel, neat.IonChannel):
        raise ValueError(f"{channel!r} is not a NEAT IonChannel (for the h-current use compartmental.ih_channel())")
    if region not in NEAT_REGIONS:
        raise ValueError(f"unknown region {region!r}: use one of {', '.join(NEAT_REGIONS)}")
    if not callable(density):
        density = validation.nonnegative_number(
            f"the density of {type(channel).__name__}", density, note=" (in µS/cm²; or give a function of distance)"
        )
    return channel, density, region


# The h-current of notebook 2 (``cm_with_ih``) for NEAT and NEURON: NEAT names a
# channel by its class, NEST's NESTML model by its own suffix.
IH_CHANNEL = "Ih"
NEAT_TO_NESTML_CHANNEL = {IH_CHANNEL: "h"}
# Hay et al. (2011), L5PCbiophys3: 0.2 mS/cm² in the soma, rising along the apical
# dendrite as 0.2 mS/cm² × (-0.8696 + 2.087 exp(d / 323 µm)) (d: distance to the soma)
IH_SOMA_DENSITY = 200.0  # µS/cm²


def ih_density_apical(distance):
    """Hay et al.'s apical h-channel density (µS/cm²) at ``distance`` µm from the soma."""
    return IH_SOMA_DENSITY * (-0.8696 + 2.087 * np.exp(np.asarray(distance, dtype=float) / 323.0))


def ih_channel():
    """The h-current of ``cm_with_ih`` (Kole et al. 2006, as in Hay et al. 2011) as a NEAT
    ``IonChannel``: one gate ``m`` with the rate functions of :func:`ih_kinetics`, reversal
    ``E_H``. NEAT writes its NEURON mechanism (``IIh``) and fits its conductance."""
    neat = import_neat()
    cls = globals().get(IH_CHANNEL)
    if cls is None:

        def define(self):
            self.p_open = "m"
            self.alpha = {"m": "0.00643 * (v + 154.9) / (exp((v + 154.9) / 11.9) - 1.)"}  # 1/ms
            self.beta = {"m": "0.193 * exp(v / 33.1)"}  # 1/ms
            self.e = E_H

        # a module-level class, so that NEAT can pickle trees that carry it
        cls = type(IH_CHANNEL, (neat.IonChannel,), {"define": define, "__module__": __name__, "__qualname__": IH_CHANNEL})
        globals()[IH_CHANNEL] = cls
    return cls()


_loaded_mechanisms: dict[str, str] = {}  # mod file name: key of the loaded build


def neuron_mechanisms_dir() -> Path:
    """Where compiled NEURON mechanisms are kept: beside NEAT's cache (see
    :func:`neat_cache_dir`), one folder per NEURON version."""
    return neat_cache_dir().parent / f"neuron-mechanisms-{importlib.metadata.version('neuron')}"


def _nrnivmodl() -> str:
    """NEURON's mechanism compiler, from this environment's NEURON wheel."""
    beside = Path(sys.executable).parent / "nrnivmodl"
    return str(beside) if beside.exists() else "nrnivmodl"


def load_neuron_mechanisms(channels) -> Path:
    """Write NEAT's ``.mod`` file of each channel, compile them with NEURON's
    ``nrnivmodl`` (a few seconds, once: the result is cached under
    :func:`neuron_mechanisms_dir`, keyed by the mod files' text) and load them into NEURON.
    A failed or interrupted compilation leaves no cache entry behind."""
    import neuron

    with tempfile.TemporaryDirectory() as folder:
        mech = Path(folder) / "mech"
        mech.mkdir()
        for channel in channels:
            channel.write_mod_file(str(mech) + os.sep)
        texts = {path.name: path.read_bytes() for path in sorted(mech.glob("*.mod"))}
        key = hashlib.sha256(b"".join(name.encode() + text for name, text in texts.items())).hexdigest()[:16]
        target = neuron_mechanisms_dir() / key
        shared = _shared_neat_dir(neuron_mechanisms_dir())
        if not target.is_dir() and shared is not None and (shared / key).is_dir():
            target = shared / key  # compiled once for everyone on a workshop server
        for name in texts:
            if _loaded_mechanisms.get(name, key) != key:
                raise RuntimeError(
                    f"NEURON already has another {name[:-4]} mechanism loaded, and cannot unload it: "
                    "restart the kernel to load a changed channel"
                )
        if not target.is_dir():
            _compile_mechanisms(mech, target, texts)
    if not all(_loaded_mechanisms.get(name) == key for name in texts):
        with quiet_file_descriptors():
            loaded = neuron.load_mechanisms(str(target))
        if not loaded:
            raise RuntimeError(f"NEURON could not load the mechanisms compiled in {target}")
        _loaded_mechanisms.update(dict.fromkeys(texts, key))
    return target


def _compile_mechanisms(mech: Path, target: Path, texts: dict) -> None:
    """Compile the ``.mod`` files in ``mech`` into the cache entry ``target``, through
    :mod:`~nest_workshop.core.build_cache`: one compiler per entry, built aside and
    published by one rename, so a failed or interrupted compilation leaves no entry."""
    root = target.parent
    with build_cache.entry_lock(root, target.name):
        if target.is_dir():  # another process compiled it while this one waited
            return
        build_cache.remove_stale_temporaries(root)
        with build_cache.staging(root, target.name) as staged:
            shutil.copytree(mech, staged / "mech")
            done = subprocess.run([_nrnivmodl(), "mech"], cwd=staged, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"nrnivmodl could not compile {', '.join(texts)}:\n{(done.stdout + done.stderr)[-3000:]}")
            build_cache.publish(staged, target)


def _ranges(numbers) -> str:
    numbers = sorted(numbers)
    parts, start = [], numbers[0]
    for previous, current in zip(numbers, numbers[1:] + [None]):
        if current != previous + 1:
            parts.append(f"{start}" if start == previous else f"{start}–{previous}")
            start = current
    return ", ".join(parts)


def check_sites(tree, sites: dict) -> None:
    """Each site is ``name: (node, x)``: a node of the tree and a position 0 ≤ x ≤ 1 along
    it (0 at the parent end); the soma is node 1. Errors name the valid choices."""
    if not isinstance(sites, dict) or not sites:
        raise ValueError("give the sites as a dict {name: (node, x)}, for example {'soma': (1, 0.5)}")
    valid = [node.index for node in tree]
    for name, site in sites.items():
        if not (isinstance(site, (tuple, list)) and len(site) == 2):
            raise ValueError(f"site {name!r} must be (node, x), got {site!r}")
        node, x = site
        if not validation.is_whole_number(node) or node not in valid:
            raise ValueError(
                f"site {name!r}: node {node!r} is not on the tree; its nodes are {_ranges(valid)} "
                "(1 = soma; the axon is left out)"
            )
        if not 0.0 <= float(x) <= 1.0:
            raise ValueError(f"site {name!r}: x = {x!r} is off the branch; x runs from 0 (parent end) to 1")
    if list(sites.values())[0][0] != 1:
        raise ValueError(f"the first site must be the soma (node 1): the reduced tree's root; got {list(sites.items())[0]}")


def distance_to_soma(tree, site) -> float:
    """Path length (µm) from the soma's centre to ``site = (node, x)``."""
    return float(tree.path_length(tuple(site), (1, 0.5)))


def site_region(tree, site) -> str:
    """ "soma", "basal dendrite" or "apical dendrite"."""
    return SWC_TYPES.get(tree[site[0]].swc_type, "other")


def support_locations(tree, site, fractions) -> list[tuple]:
    """Locations on the path from the soma to ``site`` at the given fractions of its
    distance: extra compartments that make the reduced model more accurate near ``site``."""
    total = distance_to_soma(tree, site)
    out = []
    for fraction in fractions:
        target = fraction * total
        for node in tree.path_to_root(tree[site[0]]):
            if node.index == 1:
                break
            end = distance_to_soma(tree, (node.index, 1.0))
            if end - node.L <= target <= end:
                out.append((node.index, float((target - end + node.L) / node.L)))
                break
    return out


@dataclasses.dataclass
class ReducedNeuron:
    """A reduced compartment tree fitted by NEAT, ready for ``cm_default``.

    ``site_compartment[name]`` is the ``cm_default`` compartment of each site (the soma is
    0); ``locations`` are all fitted locations (sites, support points, and bifurcations
    NEAT adds); ``fit_seconds`` is how long the fit took."""

    ctree: object
    sites: dict
    site_compartment: dict
    locations: list
    fit_seconds: float

    @property
    def n_compartments(self) -> int:
        return len(self.ctree)

    def compartments(self, active_soma: bool = False, model: str = "cm_default") -> list[dict]:
        """The ``compartments`` list for ``model`` (NEAT's export). ``active_soma``
        adds cm_default's Na and K channels to the soma (``ACTIVE_SOMA_DENSITY`` times its
        capacitance), so the neuron fires; the dendrites stay passive. A fitted h-current
        (NEAT's ``gbar_Ih``) becomes ``cm_with_ih``'s ``gbar_h``.

        NEAT 1.1's public export, ``NestCompartmentTree.init_model``, creates the neurons
        and sets this very list (from ``_make_compartments_params_list``); NEST sets a
        ``cm_default`` neuron's compartments only once, so a changed list (an active soma,
        another model's channel names) has to be taken from NEAT before ``Create``."""
        if model not in MODEL_CHANNEL_KEYS:
            raise ValueError(f"unknown model {model!r}: use one of {', '.join(MODEL_CHANNEL_KEYS)}")
        tree = self.ctree._make_compartments_params_list()
        for compartment in tree:
            compartment["params"] = _rename_channels(compartment["params"], model)
        if active_soma:
            soma = tree[0]["params"]
            soma.update({key: density * soma["C_m"] for key, density in ACTIVE_SOMA_DENSITY.items()}, e_Na=50.0, e_K=-85.0)
        return tree

    def check_site_names(self, names) -> None:
        for name in names:
            if name not in self.site_compartment:
                raise ValueError(f"unknown site {name!r}: this neuron has sites {', '.join(self.site_compartment)}")


def _rename_channels(params: dict, model: str) -> dict:
    """NEAT's channel parameters (``gbar_Ih``, ``e_Ih``, and the state ``m_Ih``, which
    NEST initialises itself) under the model's names."""
    renamed = {}
    for key, value in params.items():
        prefix, _, channel = key.partition("_")
        if channel in NEAT_TO_NESTML_CHANNEL:
            if prefix not in ("gbar", "e"):
                continue  # a gate's value at rest: the model sets it
            key = f"{prefix}_{NEAT_TO_NESTML_CHANNEL[channel]}"
        if key not in COMPARTMENT_KEYS + MODEL_CHANNEL_KEYS[model]:
            allowed = ", ".join(COMPARTMENT_KEYS + MODEL_CHANNEL_KEYS[model])
            raise ValueError(
                f"the fitted tree has {key!r}, which {model} does not know (it has {allowed}); "
                f"a reduction with NEAT's h-current (gbar_Ih) runs in {NESTML_MODEL}, notebook 2's model"
            )
        renamed[key] = float(value)
    return renamed


def _fit_with_cache(neat, tree, locations, scratch: Path):
    """NEAT's fit, with NEAT's own cache of what depends only on the tree (above all its
    separation-of-variables modes, most of a fit's time: about 19 s of 20 for the L2/3
    cell on 2 cores; a fit takes 2-4 s with the cache). NEAT reads and writes its cache
    files in ``scratch``; they are copied in from :func:`neat_cache_dir` before and published there
    after a successful fit, each by one rename, so an interrupted or failed fit leaves
    no partial file behind. A cached file NEAT cannot read is recomputed and replaced.
    ``scratch`` belongs to this process and is removed afterwards, so fits running at
    once in two processes do not meet."""
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    try:
        return _fit_in(neat, tree, locations, scratch, neat_cache_dir())
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _fit_in(neat, tree, locations, scratch: Path, store: Path):
    """The fit in ``scratch``, with the files of ``store`` copied in and the new or
    rewritten ones published back (see :func:`_fit_with_cache`)."""
    shared = _shared_neat_dir(store)
    # the shared files first (a workshop server's), then one's own, which take precedence
    for folder in [shared, store]:
        for path in sorted(folder.glob("*.p")) if folder is not None and folder.is_dir() else []:
            shutil.copy2(path, scratch / path.name)

    with contextlib.redirect_stdout(None):  # NEAT prints its cache status
        fitter = neat.CompartmentFitter(tree, save_cache=True, recompute_cache=False, cache_path=str(scratch))
        result = fitter.fit_model(locations)
    store.mkdir(parents=True, exist_ok=True)
    build_cache.remove_stale_temporaries(store)
    for path in scratch.glob("*.p"):
        target = store / path.name
        if shared is not None and not target.exists() and (shared / path.name).exists():
            if filecmp.cmp(path, shared / path.name, shallow=False):
                continue  # the shared cache has it: no copy per participant
        # new, or rewritten by NEAT (which recomputes a file it cannot read)
        if not target.exists() or not filecmp.cmp(path, target, shallow=False):
            with build_cache.entry_lock(store, path.name):
                build_cache.publish_file(path, target)
    return result


def reduce_morphology(tree, sites: dict, support=(1 / 3, 2 / 3)) -> ReducedNeuron:
    """Fit a reduced compartment tree with a compartment at each site (and at ``support``
    fractions of each dendritic site's distance to the soma; ``()`` for none) with NEAT's
    ``CompartmentFitter``. The first fit of a tree takes about 20 s for the L2/3 cell on 2
    cores; NEAT's cache (:func:`_fit_with_cache`) makes later fits of the same tree, in
    this session or another, take 2-4 s."""
    check_sites(tree, sites)
    if any(not 0.0 < f < 1.0 for f in support):
        raise ValueError(f"support fractions must lie between 0 and 1 (exclusive), got {support!r}")
    return fit_locations(tree, sites, {name: support for name in list(sites)[1:]})


def fit_locations(tree, sites: dict, support_by_site: dict, extra=()) -> ReducedNeuron:
    """The fit with a compartment at each site, at the support fractions given per
    dendritic site and at the ``extra`` locations (NEAT adds the branch points between
    them)."""
    neat = import_neat()
    locations = [tuple(s) for s in sites.values()]
    wanted = [loc for name, fractions in support_by_site.items() for loc in support_locations(tree, sites[name], fractions)]
    for location in [*wanted, *extra]:
        if all(location[0] != l[0] or abs(location[1] - l[1]) > 1e-6 for l in locations):  # noqa: E741
            locations.append(tuple(location))
    start = time.perf_counter()
    with _in_neat_workdir() as folder:
        ctree, fitted = _fit_with_cache(neat, tree, locations, folder / f"neatcache-{os.getpid()}")  # one per process
    return reduced_neuron(ctree, sites, fitted, fit_seconds=time.perf_counter() - start)


def reduced_neuron(ctree, sites: dict, locations, fit_seconds: float = float("nan")) -> ReducedNeuron:
    """The :class:`ReducedNeuron` of a fit made with NEAT directly::

        ctree, locations = neat.CompartmentFitter(tree, ...).fit_model(my_locations)
        reduced = compartmental.reduced_neuron(ctree, SITES, locations)

    where ``my_locations`` began with the sites, in the order of ``sites``. Finds the
    compartment of each site (NEAT numbers the compartments in its own order)."""
    neat = import_neat()
    if not isinstance(ctree, neat.CompartmentTree):
        raise ValueError(f"ctree must be the tree NEAT's fit_model returns (a CompartmentTree), got {type(ctree).__name__}")
    fitted = [(int(loc["node"]), float(loc["x"])) for loc in locations]
    for i, (name, (node, x)) in enumerate(sites.items()):
        if i >= len(fitted) or fitted[i][0] != node or (node != 1 and abs(fitted[i][1] - x) > 1e-3):
            got = fitted[i] if i < len(fitted) else "nothing"
            raise ValueError(
                f"the fit's location {i} is {got}, not site {name!r} {(node, x)}: give fit_model the sites first, "
                f"in the order of the sites dict ({', '.join(sites)}), then any other locations"
            )
    if not isinstance(ctree, neat.NestCompartmentTree):
        ctree = neat.NestCompartmentTree(ctree)
    ctree.reset_indices()  # compartment i of the NEST neuron is node i
    by_location = {node.loc_idx: node.index for node in ctree}
    site_compartment = {name: by_location[i] for i, name in enumerate(sites)}
    return ReducedNeuron(ctree, dict(sites), site_compartment, fitted, fit_seconds)


def create_reduced(
    nest,
    reduced: ReducedNeuron,
    n: int = 1,
    receptor_sites=(),
    receptor_type: str = "AMPA",
    receptor_params: dict | None = None,
    active_soma: bool = False,
):
    """Create ``n`` ``cm_default`` neurons of the reduced tree, with one receptor of
    ``receptor_type`` at each of ``receptor_sites`` (site names; receptor index i is the
    i-th name)."""
    reduced.check_site_names(receptor_sites)
    check_receptors([(reduced.site_compartment[s], receptor_type) for s in receptor_sites], reduced.n_compartments)
    params = dict(AMPA) if receptor_type == "AMPA" and receptor_params is None else dict(receptor_params or {})
    compartments = reduced.compartments(active_soma=active_soma)  # before Create: a clear error first
    neurons = nest.Create("cm_default", n)
    neurons.V_th = -20.0
    neurons.compartments = compartments
    neurons.receptors = [
        {"comp_idx": reduced.site_compartment[s], "receptor_type": receptor_type, "params": params} for s in receptor_sites
    ]
    return neurons


def _epsp_result(times, traces: dict, site: str, rest: float) -> dict:
    return {
        "times": np.asarray(times),
        "v": {k: np.asarray(v) for k, v in traces.items()},
        "soma_epsp": float(np.max(traces["soma"]) - rest),
        "local_epsp": float(np.max(traces[site]) - rest),
    }


def epsp_reduced(reduced: ReducedNeuron, site: str, *, weight: float, t_sim: float = 60.0, t_input: float = 10.0) -> dict:
    """One AMPA input of ``weight`` (µS) at ``site`` of the reduced neuron in NEST. Returns
    the voltage at every site (every time step) and the somatic and local EPSP peaks (mV).
    Runs in a fresh kernel (call ``nw.reset_kernel(..., resolution=...)`` first)."""
    return _epsps_reduced(reduced, [site], weight=weight, t_sim=t_sim, t_input=t_input, caller="epsp_reduced")[site]


def _epsps_reduced(
    reduced: ReducedNeuron, sites, *, weight: float, t_sim: float, t_input: float, caller: str, fresh: bool = True
) -> dict:
    """One reduced neuron per site, each with one input there, side by side in one fresh
    kernel (they are not connected): ``{site: result of epsp_reduced}``. With ``fresh=False``
    the kernel may hold earlier such neurons (:func:`reduce_to_tolerance` compares one fit
    after another in the notebook's kernel): the new ones get their input and are recorded
    from the kernel's present time on; the old ones rest, unconnected."""
    reduced.check_site_names(sites)
    weight = validation.positive_number("weight", weight, note=" (a conductance in µS)")
    nest = require_fresh_kernel(caller) if fresh else import_nest()
    now = float(nest.biological_time)
    volley = nest.Create("spike_generator", params={"spike_times": [now + t_input]})
    record_from = sorted({f"v_comp{c}" for c in reduced.site_compartment.values()})
    meters = {}
    for site in sites:
        neuron = create_reduced(nest, reduced, receptor_sites=[site])
        nest.Connect(volley, neuron, syn_spec={"weight": weight, "receptor_type": 0, "delay": 0.1})
        meters[site] = nest.Create("multimeter", params={"interval": nest.resolution, "record_from": record_from, "start": now})
        nest.Connect(meters[site], neuron)
    nest.Simulate(t_sim)
    rest = float(reduced.ctree[0].e_eq)
    results = {}
    for site, meter in meters.items():
        events = meter.events
        traces = {name: events[f"v_comp{c}"] for name, c in reduced.site_compartment.items()}
        results[site] = _epsp_result(events["times"], traces, site, rest)
    return results


def epsp_full(
    tree, sites: dict, site: str, *, weight: float, t_sim: float = 60.0, t_input: float = 10.0, dt: float = 0.025
) -> dict:
    """The same input on the full morphology, simulated by NEURON through NEAT's
    ``NeuronSimTree`` (segments: 4 times the lambda rule's, ``FULL_MODEL_LAMBDA_FACTOR``;
    built-in ``Exp2Syn`` and ``NetStim``)."""
    check_sites(tree, sites)
    if site not in sites:
        raise ValueError(f"unknown site {site!r}: the sites are {', '.join(sites)}")
    weight = validation.positive_number("weight", weight, note=" (a conductance in µS)")
    neat = import_neat()
    from neuron import h

    settle = 100.0  # ms without input before recording
    with _in_neat_workdir():
        model = neat.NeuronSimTree(tree)
    model.init_model(dt=dt, t_calibrate=settle, v_init=tree.passive["e_eq"], factor_lambda=FULL_MODEL_LAMBDA_FACTOR)
    model.store_locs([tuple(s) for s in sites.values()], "rec locs")
    model.add_double_exp_synapse(tuple(sites[site]), AMPA["tau_r_AMPA"], AMPA["tau_d_AMPA"], AMPA["e_AMPA"])
    stimulus = h.NetStim()
    stimulus.number, stimulus.start, stimulus.noise = 1, settle + t_input, 0
    connection = h.NetCon(stimulus, model.syns[0], 0, 0.1, weight)  # noqa: F841 (must stay alive)
    result = model.run(t_sim)
    model.delete_model()
    traces = {name: result["v_m"][i] for i, name in enumerate(sites)}
    return _epsp_result(result["t"], traces, site, tree.passive["e_eq"])


def current_step_full(
    tree, sites: dict, *, amplitude: float, t_on: float, duration: float, t_after: float, dt: float = 0.1
) -> dict:
    """A current step of ``amplitude`` nA into the soma of the full morphology, simulated
    by NEURON through NEAT's ``NeuronSimTree`` (with the tree's channels): ``{"times",
    "v": {site: voltage}}`` from the start of the run, the step from ``t_on`` to
    ``t_on + duration`` ms."""
    check_sites(tree, sites)
    t_on = validation.nonnegative_number("t_on", t_on, note=" (ms)")
    duration = validation.positive_number("duration", duration, note=" (ms)")
    t_after = validation.nonnegative_number("t_after", t_after, note=" (ms)")
    neat = import_neat()
    with _in_neat_workdir():
        model = neat.NeuronSimTree(tree)
    model.init_model(dt=dt, t_calibrate=0.0, v_init=tree.passive["e_eq"])
    model.store_locs([tuple(s) for s in sites.values()], "rec locs")
    model.add_i_clamp(tuple(sites[next(iter(sites))]), amplitude, t_on, duration)
    result = model.run(t_on + duration + t_after)
    model.delete_model()
    return {"times": np.asarray(result["t"]), "v": {name: np.asarray(result["v_m"][i]) for i, name in enumerate(sites)}}


def compare_epsps(tree, reduced: ReducedNeuron, *, weight: float, tolerance: float = 0.05) -> list[dict]:
    """Somatic and local EPSPs of one input at each dendritic site: full (NEURON) vs
    reduced (NEST), with relative errors. NEST runs one reduced neuron per site in one
    fresh kernel (call ``nw.reset_kernel(..., resolution=...)`` first); NEURON uses the
    same time step. Where an error exceeds ``tolerance``, prints what to add to the
    reduction (:func:`accuracy_report`)."""
    rows = compare_rows(tree, reduced, weight=weight)
    for line in accuracy_report(rows, reduced, tolerance=tolerance):
        print(line)
    return rows


def compare_rows(tree, reduced: ReducedNeuron, *, weight: float, fresh: bool = True, full_runs: dict | None = None) -> list[dict]:
    """:func:`compare_epsps`'s rows, without the report. ``full_runs`` keeps the full
    cell's runs by site name between calls (the full cell does not change)."""
    dt = import_nest().resolution
    reduced_runs = _epsps_reduced(
        reduced, list(reduced.sites), weight=weight, t_sim=60.0, t_input=10.0, caller="compare_epsps", fresh=fresh
    )
    full_runs = {} if full_runs is None else full_runs
    rows = []
    for name in reduced.sites:
        if name not in full_runs:
            full_runs[name] = epsp_full(tree, reduced.sites, name, weight=weight, dt=dt)
        full = full_runs[name]
        small = reduced_runs[name]
        rows.append(
            {
                "site": name,
                "distance": distance_to_soma(tree, reduced.sites[name]),
                "full": full,
                "reduced": small,
                "soma_error": small["soma_epsp"] / full["soma_epsp"] - 1,
                "local_error": small["local_epsp"] / full["local_epsp"] - 1,
            }
        )
    return rows


def accuracy_report(rows: list[dict], reduced: ReducedNeuron, *, tolerance: float = 0.05) -> list[str]:
    """What :func:`compare_epsps` found beyond ``tolerance`` (relative EPSP error), and
    what controls it: support compartments on the path to a site (a single compartment
    for a long thin stretch lumps its capacitance, which lowers and slows the fast local
    EPSP), and sites on the main branches (the somatic EPSP needs the path's axial
    resistance and membrane). Empty when every error is within ``tolerance``."""
    tolerance = validation.positive_number("tolerance", tolerance)
    lines = []
    for row in rows:
        for where, key in (("local", "local_error"), ("somatic", "soma_error")):
            error = row[key]
            if abs(error) > tolerance:
                lines.append(f"  {row['site']} ({row['distance']:.0f} µm): the {where} EPSP is off by {100 * error:+.1f} %")
    if not lines:
        return []
    local = any(abs(row["local_error"]) > tolerance for row in rows)
    advice = [
        f"The reduced model ({reduced.n_compartments} compartments, fitted in {reduced.fit_seconds:.1f} s) misses "
        f"{100 * tolerance:g} % here:",
        *lines,
        "What to add:",
    ]
    if local:
        advice.append(
            "  - support compartments between the soma and the site (reduce_morphology(..., support=(1/3, 2/3)), or "
            "denser, e.g. (0.25, 0.5, 0.75)): one compartment standing for a long thin stretch lumps its capacitance;"
        )
    advice.append(
        "  - a site on the main branch on the way to the site (a trunk or branch point), so the path's axial "
        "resistance and membrane are represented;"
    )
    advice.append(
        "  Each compartment makes the fit longer (NEAT fits all of them together) and the NEST neuron slower: "
        "add where the error is, not everywhere."
    )
    return advice


def plot_epsp_comparison(rows: list[dict], colors: dict | None = None, t_window=(5.0, 50.0)):
    """Notebook 3's accuracy figure from :func:`compare_epsps`' rows: for each dendritic
    site (columns), the voltage at the site (top) and at the soma (bottom) after one
    input at that site, full morphology (NEURON, grey) against the reduced neuron (NEST,
    dashed)."""
    import matplotlib.pyplot as plt

    dendritic = [row for row in rows if row["site"] != "soma"]
    fig, axes = plt.subplots(2, len(dendritic), figsize=(12, 5), sharex=True, squeeze=False)
    for column, row in zip(axes.T, dendritic):
        site = row["site"]
        for ax, where in zip(column, (site, "soma")):
            ax.plot(row["full"]["times"], row["full"]["v"][where], color="gray", lw=3, label="full (NEURON)")
            ax.plot(
                row["reduced"]["times"], row["reduced"]["v"][where], "--", color=(colors or {}).get(site), label="reduced (NEST)"
            )
            ax.set_xlim(*t_window)
        column[0].set_title(f"input at {site} ({row['distance']:.0f} µm)", fontsize=10)
    for ax in axes[1]:
        ax.set_xlabel("time (ms)")
    axes[0, 0].set_ylabel("V at the site (mV)")
    axes[1, 0].set_ylabel("V at the soma (mV)")
    axes[0, 0].legend(fontsize=8)
    return fig


def plot_morphology(tree, sites: dict | None = None, ax=None, colors=None):
    """The morphology seen from the side (x, y), line width by radius, coloured by
    region; ``sites`` are marked and labelled."""
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection

    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 6))
    region_color = {1: "black", 3: "tab:blue", 4: "tab:green"}
    segments, widths, line_colors = [], [], []
    for node in tree:
        if node.index == 1 or node.parent_node is None:
            continue
        start = node.parent_node.xyz if node.parent_node.index != 1 else tree[1].xyz
        segments.append([start[:2], node.xyz[:2]])
        widths.append(max(0.4, 1.2 * node.R))
        line_colors.append(region_color.get(node.swc_type, "gray"))
    ax.add_collection(LineCollection(segments, linewidths=widths, colors=line_colors))
    ax.add_patch(plt.Circle(tree[1].xyz[:2], tree[1].R, color="black"))
    for name, (node_index, x) in (sites or {}).items():
        node = tree[node_index]
        if node_index == 1:
            point = node.xyz[:2]
        else:
            parent = node.parent_node.xyz if node.parent_node.index != 1 else tree[1].xyz
            point = (1 - x) * parent[:2] + x * node.xyz[:2]
        color = (colors or {}).get(name, "tab:red")
        ax.plot(*point, "o", ms=9, mfc=color, mec="white", zorder=3)
        ax.annotate(name, point, xytext=(6, 4), textcoords="offset points", fontsize=9, color=color)
    ax.autoscale()
    ax.set_aspect("equal")
    ax.set_xlabel("x (µm)")
    ax.set_ylabel("y (µm)")
    ax.plot([], [], color="tab:blue", label="basal")
    ax.plot([], [], color="tab:green", label="apical")
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    return ax
