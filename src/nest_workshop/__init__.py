"""nest_workshop: the helpers of the NEST workshop notebooks.

The package has four rooms, one per audience (docs/architecture.md draws the plan):

``core``
    What a notebook uses at run time: ``kernel`` (the one way to reset NEST),
    ``nestml`` (build, cache and load NESTML models), ``analysis``, ``plotting``,
    ``schematics`` (the networks drawn, for notebooks and decks), ``selfcheck`` (the
    notebooks' self-checks), ``environment`` (the first-cell check) and ``validation``
    (clear errors for bad input).
``parts``
    One module per workshop part: ``eprop``, ``sequences``, ``compartmental``,
    ``astrocytes`` - tasks, stimuli, book-keeping, analysis and figures; the networks
    themselves are built in the notebooks.
``tools``
    For instructors and maintainers: the ``nest-workshop`` command (``cli``), the
    participant-notebook generator (``exercises``), the notebook runner, slides and
    workspaces.
``scaleout``
    For running at scale under MPI: explicit gathering across ranks, ``nest-workshop
    scale`` and the MPI-enabled NEST wheel (``make mpi``).

Notebooks import the package as ``nw`` and reach the core and the parts by short
names: ``nw.reset_kernel(seed=1)``, ``nw.nestml.build(...)``, ``nw.plotting``,
``nw.eprop``; or ``from nest_workshop import selfcheck, eprop``. Importing the package is
cheap: modules, and NEST itself, are imported on first use.
"""

import importlib

__version__ = "0.1.0"

# Short names a notebook uses, and the module each one stands for.
_CORE = ("analysis", "environment", "kernel", "nestml", "plotting", "schematics", "selfcheck", "validation")
_SHORT_NAMES = {
    **{name: f"core.{name}" for name in _CORE},
    **{name: f"parts.{name}" for name in ("astrocytes", "compartmental", "eprop", "sequences")},
}


# nw.reset_kernel(seed=..., threads=..., resolution=...), with its own signature and help;
# the module is light (NEST itself is imported on the first reset)
from .core.kernel import reset_kernel  # noqa: E402


def __getattr__(name):
    if name in _SHORT_NAMES:
        return importlib.import_module(f"{__name__}.{_SHORT_NAMES[name]}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    # the short names too, so that dir(nw) and completers offer nw.eprop, nw.plotting, ...
    return sorted(set(globals()) | set(_SHORT_NAMES))


__all__ = ["reset_kernel", "__version__", *sorted(_SHORT_NAMES)]
