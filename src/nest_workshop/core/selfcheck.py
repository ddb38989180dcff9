"""Self-checks: each notebook verifies its own scientific result.

A check prints one plain sentence when the result holds, and raises
:class:`SelfCheckError` with the same sentence and what went wrong when it does not.
Participants read the sentence; nbval fails the notebook on the error.

    check_less("test error", 0.04, 0.10, unit="%", claim="the network learned")
    # ✔ the network learned: test error 4 % < 10 %
"""

from __future__ import annotations

import math


class SelfCheckError(AssertionError):
    """A notebook's scientific result is not what the notebook claims."""


def _fmt(value: float, unit: str) -> str:
    if unit == "%":
        return f"{100 * value:.3g} %"
    text = f"{value:.4g}"
    return f"{text} {unit}".strip()


def check(condition: bool, claim: str, evidence: str = "", hint: str = "") -> None:
    """The general form: ``condition`` must hold for ``claim`` to be true.

    ``evidence`` is the measured fact behind the claim (shown in both cases); ``hint``
    says what to look at when the check fails.
    """
    sentence = f"{claim}: {evidence}" if evidence else claim
    if not bool(condition):
        message = f"✘ NOT TRUE that {sentence}"
        if hint:
            message += f"\n  Hint: {hint}"
        raise SelfCheckError(message)
    # Printed, not returned: a notebook cell ending in a check shows the sentence once.
    print(f"✔ {sentence}")


def _require_number(name: str, value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SelfCheckError(f"✘ {name} should be a number, got {value!r}") from None
    if math.isnan(number):
        raise SelfCheckError(f"✘ {name} is NaN (not a number): the computation that produced it failed")
    return number


def check_less(name: str, value, bound, *, unit: str = "", claim: str | None = None, hint: str = "") -> None:
    """Check ``value < bound``; e.g. an error below a threshold."""
    value, bound = _require_number(name, value), _require_number("the bound", bound)
    check(
        value < bound,
        claim or f"{name} is below {_fmt(bound, unit)}",
        f"{name} {_fmt(value, unit)} < {_fmt(bound, unit)}"
        if value < bound
        else f"{name} is {_fmt(value, unit)}, not below {_fmt(bound, unit)}",
        hint,
    )


def check_greater(name: str, value, bound, *, unit: str = "", claim: str | None = None, hint: str = "") -> None:
    """Check ``value > bound``; e.g. a correlation above a threshold."""
    value, bound = _require_number(name, value), _require_number("the bound", bound)
    check(
        value > bound,
        claim or f"{name} is above {_fmt(bound, unit)}",
        f"{name} {_fmt(value, unit)} > {_fmt(bound, unit)}"
        if value > bound
        else f"{name} is {_fmt(value, unit)}, not above {_fmt(bound, unit)}",
        hint,
    )


def check_between(name: str, value, low, high, *, unit: str = "", claim: str | None = None, hint: str = "") -> None:
    """Check ``low <= value <= high``; e.g. a rate in the range theory predicts."""
    value = _require_number(name, value)
    low, high = _require_number("the lower bound", low), _require_number("the upper bound", high)
    if low > high:
        raise ValueError(f"empty range: low {low} > high {high}")
    inside = low <= value <= high
    check(
        inside,
        claim or f"{name} is between {_fmt(low, unit)} and {_fmt(high, unit)}",
        f"{name} {_fmt(value, unit)} lies in [{_fmt(low, unit)}, {_fmt(high, unit)}]"
        if inside
        else f"{name} is {_fmt(value, unit)}, outside [{_fmt(low, unit)}, {_fmt(high, unit)}]",
        hint,
    )


def check_close(name: str, value, expected, *, rel: float, unit: str = "", claim: str | None = None, hint: str = "") -> None:
    """Check that ``value`` is within a relative tolerance ``rel`` of ``expected``."""
    value, expected = _require_number(name, value), _require_number("the expected value", expected)
    if not rel > 0:
        raise ValueError(f"rel must be a positive tolerance, got {rel!r}")
    deviation = abs(value - expected) / abs(expected) if expected != 0 else abs(value)
    ok = deviation <= rel
    check(
        ok,
        claim or f"{name} matches {_fmt(expected, unit)} within {100 * rel:.3g} %",
        f"{name} {_fmt(value, unit)} vs {_fmt(expected, unit)} (off by {100 * deviation:.2g} %)",
        hint,
    )
