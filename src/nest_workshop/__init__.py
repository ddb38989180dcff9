"""nest_workshop: the shared helpers of the NEST workshop notebooks.

Shared modules: ``kernel`` (NEST set-up), ``nestml`` (building NESTML models),
``plotting``, ``analysis``, ``checks`` (self-checks), ``exercises`` (participant
notebooks), ``environment`` (the first-cell environment check) and ``cli``. Each part of
the workshop has its own module that uses these.

Importing this package is cheap: submodules, and NEST itself, are imported on first use
(``nest_workshop.plotting`` works without an explicit import).
"""

import importlib

__version__ = "0.1.0"

_SUBMODULES = {"analysis", "check", "checks", "cli", "environment", "exercises", "kernel", "nestml", "parallel", "plotting",
               "scaling",
               # the parts
               "astrocytes", "compartmental", "eprop", "sequences"}


def reset_kernel(*args, **kwargs):
    """Reset NEST with a seed, threads and resolution; see :func:`nest_workshop.kernel.reset_kernel`."""
    from .kernel import reset_kernel as _reset

    return _reset(*args, **kwargs)


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["reset_kernel", "__version__", *sorted(_SUBMODULES)]
