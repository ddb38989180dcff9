"""NEST set-up: one call gives a fresh, seeded, quiet kernel.

Every notebook starts its simulations with :func:`reset_kernel`, so that a cell run
twice gives the same result and no state leaks between sections. The notebook owns the
kernel: this is the only place in the package that resets NEST, and the package's
helpers never choose a seed or a thread count of their own. A helper that builds a
network of its own asks for a fresh kernel with :func:`require_fresh_kernel`; one that
needs a time step or an unsimulated kernel asks with :func:`require_resolution` and
:func:`require_time_zero`. All of them raise :class:`KernelStateError`, whose message says
what to call.

What must come back after a reset (the models of loaded NESTML modules) registers a
hook with :func:`after_reset`; this module imports nothing else of the package.
"""

from __future__ import annotations

import os
from collections.abc import Callable

# Read by NEST at import time: no banner in notebooks. Set before anything imports nest.
os.environ.setdefault("PYNEST_QUIET", "1")

THREADS_ENV = "NEST_WORKSHOP_THREADS"

# Called, in order, after every reset (for example: install the NESTML modules again).
_after_reset_hooks: list[Callable[[], None]] = []


class KernelStateError(RuntimeError):
    """The kernel is not in the state this call needs; the message says what to call.

    The package's one error for a kernel precondition (a fresh kernel, a time step, a
    clock at 0 or at a presentation's start, kernel settings such as ``nest.set(...)``):
    the arguments may be right, the kernel is not ready for them."""


class KernelNotFreshError(KernelStateError):
    """A helper that builds its own network was called on a kernel that has nodes."""


def import_nest():
    """Import NEST quietly (no banner) and return the module."""
    import nest

    return nest


def available_cores() -> int:
    """Cores this process may run on (respects CPU affinity and container limits)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_threads() -> int:
    """Threads for NEST: ``$NEST_WORKSHOP_THREADS`` if set, else the available cores.

    NEST's OpenMP threads busy-wait, so more threads than free cores is much slower,
    not faster. Running several notebooks at once? Set ``NEST_WORKSHOP_THREADS=1``.
    """
    value = os.environ.get(THREADS_ENV)
    if value is None or value.strip() == "":
        return available_cores()
    try:
        threads = int(value)
    except ValueError:
        raise ValueError(f"{THREADS_ENV}={value!r} is not a whole number; set it to a number of threads such as 1 or 2") from None
    if threads < 1:
        raise ValueError(f"{THREADS_ENV}={value!r}: the number of threads must be at least 1")
    return threads


def reset_kernel(seed: int = 1, threads: int | None = None, resolution: float = 0.1, quiet: bool = True):
    """Reset NEST and configure it; return the ``nest`` module.

    Parameters
    ----------
    seed
        Seed of NEST's random number generators (``rng_seed``); the same seed and the
        same number of threads give the same simulation.
    threads
        Number of OpenMP threads; default :func:`default_threads`.
    resolution
        Simulation time step in ms.
    quiet
        Show only warnings and errors (no INFO messages, no progress line).

    NESTML modules loaded through :mod:`nest_workshop.core.nestml` are installed again
    after the reset (by the hook they registered), so their models stay available.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or not 1 <= seed < 2**31:
        raise ValueError(f"seed must be a whole number from 1 to 2**31 - 1, got {seed!r}")
    if threads is None:
        threads = default_threads()
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise ValueError(f"threads must be a whole number of at least 1, got {threads!r}")
    if not resolution > 0:
        raise ValueError(f"resolution must be a positive time step in ms, got {resolution!r}")

    nest = import_nest()
    nest.verbosity = nest.VerbosityLevel.WARNING if quiet else nest.VerbosityLevel.INFO
    nest.ResetKernel()
    nest.set(local_num_threads=threads, rng_seed=seed, resolution=resolution, print_time=not quiet)
    for hook in list(_after_reset_hooks):
        hook()
    return nest


def after_reset(hook: Callable[[], None]) -> None:
    """Call ``hook()`` after every :func:`reset_kernel` (registered once)."""
    if hook not in _after_reset_hooks:
        _after_reset_hooks.append(hook)


def current_settings() -> dict:
    """The running kernel's settings as :func:`reset_kernel` takes them."""
    nest = import_nest()
    seed, threads, resolution, print_time = nest.GetKernelStatus(["rng_seed", "local_num_threads", "resolution", "print_time"])
    return {"seed": int(seed), "threads": int(threads), "resolution": float(resolution), "quiet": not print_time}


def require_fresh_kernel(what: str):
    """Return ``nest`` if the kernel has no nodes yet; else raise :class:`KernelNotFreshError`.

    For helpers that build a network of their own: they run in the kernel the notebook
    set up (its seed, threads and resolution) and never reset it themselves.
    """
    nest = import_nest()
    if nest.network_size > 0:
        raise KernelNotFreshError(
            f"{what} builds its network in a fresh NEST kernel, and this one already has {nest.network_size} nodes. "
            "Call nw.reset_kernel(seed=...) first (it also sets threads and resolution), then call it again."
        )
    return nest


def require_resolution(what: str, resolution: float, why: str = ""):
    """Return ``nest`` if the kernel's time step is ``resolution`` ms; else raise
    :class:`KernelStateError` naming ``what`` and the ``nw.reset_kernel`` call that fixes
    it. ``why`` follows the step in the message (``", like NEST's e-prop examples"``)."""
    nest = import_nest()
    if nest.resolution != resolution:
        raise KernelStateError(
            f"{what} runs at a {resolution:g} ms time step{why}, and this kernel has {nest.resolution:g} ms: "
            f"call nw.reset_kernel(seed=..., resolution={resolution:g}) first"
        )
    return nest


def require_time_zero(what: str, needs: str, fix: str):
    """Return ``nest`` if the kernel has not simulated yet (its clock is at 0 ms); else
    raise :class:`KernelStateError`: ``"{what} {needs}, and this kernel has simulated
    ... ms already: {fix}"``, e.g. ``needs="counts presentations from time 0"``."""
    nest = import_nest()
    if nest.biological_time != 0.0:
        raise KernelStateError(f"{what} {needs}, and this kernel has simulated {nest.biological_time:g} ms already: {fix}")
    return nest
