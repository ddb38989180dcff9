"""Spike measures on known data, and figures that are drawn and labelled."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from nest_workshop.core import analysis, plotting


@pytest.fixture
def regular_spikes():
    # 10 neurons, each firing every 10 ms from 5 ms to 995 ms: 100 spikes/s
    times = np.concatenate([np.arange(5.0, 1000.0, 10.0) for _ in range(10)])
    senders = np.repeat(np.arange(1, 11), 100)
    return {"times": times, "senders": senders}


def test_mean_rate_of_regular_firing(regular_spikes):
    assert analysis.mean_rate(regular_spikes, 10, 0.0, 1000.0) == pytest.approx(100.0)
    assert analysis.mean_rate(regular_spikes, 20, 0.0, 500.0) == pytest.approx(50.0)


def test_population_rate_bins(regular_spikes):
    centres, rates = analysis.population_rate(regular_spikes, 10, 0.0, 1000.0, bin_ms=10.0)
    assert len(centres) == 100 and centres[0] == pytest.approx(5.0)
    assert np.allclose(rates, 100.0)


def test_cv_isi_of_a_clock_and_of_poisson_trains(regular_spikes):
    assert analysis.cv_isi(regular_spikes, 0.0, 1000.0) == pytest.approx(0.0, abs=1e-9)
    rng = np.random.default_rng(1)
    times = np.concatenate([np.cumsum(rng.exponential(10.0, 500)) for _ in range(20)])  # Poisson, 100 spikes/s
    senders = np.repeat(np.arange(1, 21), 500)
    assert analysis.cv_isi({"times": times, "senders": senders}, 0.0, 4000.0) == pytest.approx(1.0, abs=0.08)
    assert np.isnan(analysis.cv_isi({"times": [1.0, 2.0], "senders": [1, 1]}, 0.0, 10.0))  # too few spikes


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda e: analysis.cv_isi(e, 0, 100, min_spikes=2), "min_spikes"),
        (lambda e: analysis.cv_isi(e, 10, 10), "t_stop"),
        (lambda e: analysis.mean_rate(e, 0, 0, 1), "n_neurons"),
        (lambda e: analysis.mean_rate(e, 1, 5, 1), "t_stop"),
        (lambda e: analysis.population_rate(e, 1, 0, 10, bin_ms=0), "bin_ms"),
        (lambda e: analysis.spike_times({"times": []}), "senders"),
        (lambda e: analysis.mean_rate(e, True, 0, 1000), r"n_neurons must be a whole number of at least 1 .*got True"),
        (lambda e: analysis.mean_rate(e, 10.5, 0, 1000), r"n_neurons must be a whole number .*got 10.5"),
        (lambda e: analysis.population_rate(e, True, 0, 10), r"n_neurons must be a whole number .*got True"),
        (lambda e: analysis.population_rate(e, 1, 0, 10, bin_ms=float("nan")), "bin_ms must be a positive number"),
        (lambda e: analysis.cv_isi(e, 0, 100, min_spikes=3.0), r"min_spikes must be a whole number of at least 3 \(two"),
    ],
)
def test_bad_input_is_explained(regular_spikes, call, message):
    with pytest.raises(ValueError, match=message):
        call(regular_spikes)


def test_numpy_integer_counts_are_accepted(regular_spikes):
    assert analysis.mean_rate(regular_spikes, np.int64(10), 0.0, 1000.0) == pytest.approx(100.0)
    assert analysis.population_rate(regular_spikes, np.int32(10), 0.0, 1000.0, bin_ms=10.0)[1] == pytest.approx(100.0)


def test_raster_has_spikes_and_labelled_rate(regular_spikes):
    fig, (ax_raster, ax_rate) = plotting.raster(regular_spikes, n_neurons=10, t_range=(0, 1000), bin_ms=10.0, title="test")
    assert ax_raster.get_ylabel() == "neuron id" and ax_raster.get_title() == "test"
    assert ax_rate.get_xlabel() == "time (ms)" and "rate" in ax_rate.get_ylabel()
    assert len(ax_raster.lines[0].get_xdata()) == 1000
    assert np.allclose(ax_rate.lines[0].get_ydata(), 100.0)
    plt.close(fig)


def test_traces_one_panel_per_variable_with_units():
    t = np.tile(np.arange(0.0, 10.0, 1.0), 2)
    events = {"times": t, "senders": np.repeat([1, 2], 10), "V_m": -70 + t, "I_SIC": t * 2}
    fig, axes = plotting.traces(events, ["V_m", "I_SIC"])
    assert [ax.get_ylabel() for ax in axes] == ["V_m (mV)", "I_SIC (pA)"]
    assert axes[-1].get_xlabel() == "time (ms)"
    assert len(axes[0].lines) == 2
    plt.close(fig)
    with pytest.raises(ValueError, match="record_from"):
        plotting.traces(events, "g_ex")


def test_learning_curve_labels_and_legend():
    fig, ax = plotting.learning_curve({"training": [3, 2, 1], "test": [3.5, 2.5, 1.5]}, ylabel="loss")
    assert ax.get_xlabel() == "iteration" and ax.get_ylabel() == "loss"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["training", "test"]
    assert list(ax.lines[0].get_xdata()) == [1, 2, 3]
    plt.close(fig)
