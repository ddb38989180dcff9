"""The shared input checks: each names the parameter, what is accepted and what was given."""

import numpy as np
import pytest

from nest_workshop.core import validation


def test_accepted_values_come_back_in_plain_types():
    assert validation.whole_number("n", np.int64(3)) == 3 and type(validation.whole_number("n", np.int64(3))) is int
    assert validation.positive_number("rate", 2) == 2.0
    assert validation.nonnegative_number("w", 0) == 0.0
    assert validation.probability("p", 1) == 1.0
    assert list(validation.event_times("t", [3.0, 1.0], 10.0)) == [1.0, 3.0]


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: validation.whole_number("n_rec", 1, 2, 2000), "n_rec must be a whole number from 2 to 2000, got 1"),
        (lambda: validation.whole_number("n", 2.0), "n must be a whole number of at least 1, got 2.0"),
        (lambda: validation.whole_number("n", True), "got True"),
        (
            lambda: validation.positive_number("rate", 0, note=" of spikes/s"),
            "rate must be a positive number above 0 of spikes/s",
        ),
        (lambda: validation.positive_number("eta", 2.0, 1.0), r"in \(0, 1.0\]"),
        (lambda: validation.positive_number("x", float("inf")), "x must be a positive number"),
        (lambda: validation.positive_number("x", "3"), "got '3'"),
        (lambda: validation.nonnegative_number("w", -1), "w must be a number of at least 0, got -1"),
        (lambda: validation.probability("p", 1.5), "p must be a probability between 0 and 1, got 1.5"),
        (lambda: validation.event_times("ampa[3]", [0.0, 5.0], 10.0), "between 0 and t_sim = 10.0 ms"),
        (lambda: validation.event_times("ampa[3]", [5.0, 10.0], 10.0), "between 0 and t_sim"),
        (lambda: validation.event_times("ampa[3]", "soon", 10.0), "list of times in ms"),
    ],
)
def test_bad_values_are_explained(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_one_rule_for_whole_numbers():
    """Counts and indices: ints and numpy integers, never a bool or a float."""
    assert all(validation.is_whole_number(v) for v in (0, 3, np.int64(3), np.int32(-1), np.uint8(2)))
    assert not any(validation.is_whole_number(v) for v in (True, np.bool_(True), 2.0, np.float64(2.0), "2", None))
