"""Self-checks print a plain sentence when the claim holds and raise when it does not."""

import math

import pytest

from nest_workshop.core import selfcheck as checks


def test_passing_check_prints_the_evidence(capsys):
    assert checks.check_less("test error", 0.04, 0.10, unit="%", claim="the network learned") is None
    assert capsys.readouterr().out.strip() == "✔ the network learned: test error 4 % < 10 %"


@pytest.mark.parametrize(
    "call",
    [
        lambda: checks.check_less("error", 0.3, 0.1),
        lambda: checks.check_greater("correlation", 0.5, 0.9),
        lambda: checks.check_between("rate", 12.0, 1.0, 10.0, unit="spikes/s"),
        lambda: checks.check_close("EPSP", 13.0, 12.0, rel=0.05, unit="mV"),
        lambda: checks.check(False, "it works", "it did not"),
    ],
)
def test_failing_check_raises_with_what_was_measured(call):
    with pytest.raises(checks.SelfCheckError, match="NOT TRUE"):
        call()


def test_failure_message_gives_value_and_hint():
    with pytest.raises(checks.SelfCheckError) as info:
        checks.check_greater("correlation", 0.5, 0.9, hint="train longer")
    assert "correlation is 0.5, not above 0.9" in str(info.value)
    assert "Hint: train longer" in str(info.value)


@pytest.mark.parametrize("value", [math.nan, "abc", None])
def test_non_numbers_fail_clearly(value):
    with pytest.raises(checks.SelfCheckError, match="rate"):
        checks.check_greater("rate", value, 1.0)


def test_boundaries():
    checks.check_between("x", 1.0, 1.0, 2.0)
    checks.check_close("x", 10.4, 10.0, rel=0.05)
    with pytest.raises(checks.SelfCheckError):
        checks.check_less("x", 1.0, 1.0)
    with pytest.raises(ValueError):
        checks.check_between("x", 1.0, 2.0, 1.0)
