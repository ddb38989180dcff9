"""Input validation shared by the parts: one rule per kind of value, one wording.

Each function returns the value in its plain Python type, or raises ``ValueError`` with
a message that names the parameter, what is accepted and what was given, for example
``n_rec must be a whole number from 2 to 2000, got 1``. ``note`` adds a reason or a
typical range to the message (`` (typical values 1e-4 to 0.05)``).
"""

from __future__ import annotations

import math
import numbers

import numpy as np


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_whole_number(value) -> bool:
    """The one rule for a whole number (a count, an index): an ``int`` or a numpy integer,
    not a float and not a bool (``True`` is an ``int`` to Python, never a count here). For
    checks whose message names more than the range (``there is no compartment 7: ...``)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def whole_number(name: str, value, minimum: int = 1, maximum: int | None = None, note: str = "") -> int:
    """A whole number (``int`` or a numpy integer, not a float or bool) in ``[minimum, maximum]``."""
    accepted = f"from {minimum} to {maximum}" if maximum is not None else f"of at least {minimum}"
    if not is_whole_number(value):
        raise ValueError(f"{name} must be a whole number {accepted}{note}, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be a whole number {accepted}{note}, got {value!r}")
    return int(value)


def positive_number(name: str, value, maximum: float | None = None, note: str = "") -> float:
    """A finite number above 0 (and at most ``maximum`` when given)."""
    accepted = f"in (0, {maximum}]" if maximum is not None else "above 0"
    if not _is_real(value) or not math.isfinite(value) or not value > 0 or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be a positive number {accepted}{note}, got {value!r}")
    return float(value)


def nonnegative_number(name: str, value, note: str = "") -> float:
    """A finite number of at least 0."""
    if not _is_real(value) or not math.isfinite(value) or not value >= 0:
        raise ValueError(f"{name} must be a number of at least 0{note}, got {value!r}")
    return float(value)


def probability(name: str, value, note: str = "") -> float:
    """A probability: a number from 0 to 1."""
    if not _is_real(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability between 0 and 1{note}, got {value!r}")
    return float(value)


def event_times(name: str, times, t_stop: float) -> np.ndarray:
    """Event times in ms, sorted, each strictly between 0 and ``t_stop``.

    NEST drops an event scheduled at time 0 (the present) and never reaches ``t_stop``.
    """
    try:
        array = np.sort(np.asarray(times, dtype=float).ravel())
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a list of times in ms, got {times!r}") from None
    if array.size and (not np.all(np.isfinite(array)) or array[0] <= 0 or array[-1] >= t_stop):
        raise ValueError(f"{name}: times must lie between 0 and t_sim = {t_stop} ms, got {array[0]} to {array[-1]}")
    return array
