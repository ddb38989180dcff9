"""The bundle under MPI: NEST's virtual-process guarantee through the package's
rank-aware helpers, and the cached MPI wheel."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mpirun_helpers import BIN, clean_environment, run

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
SCALE = [str(BIN / "nest-workshop"), "scale"]


def gather_report(ranks: int, threads: int, out: Path | None = None) -> dict:
    extra = [str(out)] if out else []
    result = run([sys.executable, str(HERE / "gather_script.py"), str(threads), *extra], ranks=ranks)
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert len(lines) == 1, f"rank 0 alone reports, once: {result.stdout}"
    return json.loads(lines[0][len("RESULT ") :])


def test_helpers_gather_every_rank(tmp_path):
    two_ranks = gather_report(ranks=2, threads=1, out=tmp_path)
    one_rank = gather_report(ranks=1, threads=2)
    assert two_ranks["ranks"] == 2 and one_rank["ranks"] == 1
    # Each rank holds only part of the spikes and connections ...
    assert len(two_ranks["local_spikes"]) == 2 and 0 < min(two_ranks["local_spikes"])
    assert max(two_ranks["local_spikes"]) < two_ranks["gathered_spikes"]
    # ... and the helpers' totals are the sums, equal to the one-process run's.
    assert sum(two_ranks["local_spikes"]) == two_ranks["gathered_spikes"] == one_rank["gathered_spikes"] > 0
    assert (
        sum(two_ranks["local_connections"])
        == two_ranks["gathered_connections"]
        == two_ranks["counted_connections"]
        == one_rank["counted_connections"]
        == 200 * 20
    )
    assert two_ranks["spikes_sha"] == one_rank["spikes_sha"]
    assert two_ranks["rate_hz"] == one_rank["rate_hz"]
    # The figure shows all spikes; the files are written once, whole, with nothing left beside them.
    assert two_ranks["raster_points"] == two_ranks["gathered_spikes"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raster.png", "report.json"]
    assert json.loads((tmp_path / "report.json").read_text()) == two_ranks
    assert (tmp_path / "raster.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def astrocyte_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("astrocytes")
    common = ["astrocytes", "--size", "1", "--t-sim", "500", "--seed", "3"]
    run([*SCALE, *common, "--threads", "1", "--out", str(out / "2x1")], ranks=2)
    run([*SCALE, *common, "--threads", "2", "--out", str(out / "1x2")])
    run([*SCALE, *common, "--threads", "1", "--out", str(out / "1x1")])
    return {
        name: (json.loads((out / name / "summary.json").read_text()), np.load(out / name / "spikes.npz"))
        for name in ("2x1", "1x2", "1x1")
    }


def test_astrocyte_network_same_spikes_for_2_ranks_and_2_threads(astrocyte_runs):
    (s21, spikes21), (s12, spikes12) = astrocyte_runs["2x1"], astrocyte_runs["1x2"]
    assert (s21["ranks"], s21["threads_per_rank"], s12["ranks"], s12["threads_per_rank"]) == (2, 1, 1, 2)
    assert s21["nest_has_mpi"] and s21["virtual_processes"] == s12["virtual_processes"] == 2
    assert spikes21["times"].size > 1000
    # Bit-identical: same spikes, same order (the helpers' canonical order), same floats.
    assert np.array_equal(spikes21["times"], spikes12["times"])
    assert np.array_equal(spikes21["senders"], spikes12["senders"])
    for key in ("n_spikes", "n_connections", "rate_hz", "cv", "chi", "correlation"):
        assert s21[key] == s12[key], key
    assert len(s21["peak_memory_mb_per_rank"]) == 2


def test_a_different_number_of_virtual_processes_gives_other_spikes(astrocyte_runs):
    # The comparison above is not vacuous: 1 virtual process draws other random numbers.
    (_, spikes11), (_, spikes12) = astrocyte_runs["1x1"], astrocyte_runs["1x2"]
    assert not (spikes11["times"].size == spikes12["times"].size and np.array_equal(spikes11["times"], spikes12["times"]))


def test_eprop_weights_identical_for_2_ranks_and_2_threads(tmp_path):
    common = ["eprop", "--size", "0.5", "--iterations", "5", "--seed", "2"]
    run([*SCALE, *common, "--threads", "1", "--out", str(tmp_path / "2x1")], ranks=2)
    run([*SCALE, *common, "--threads", "2", "--out", str(tmp_path / "1x2")])
    w21, w12 = np.load(tmp_path / "2x1" / "weights.npz"), np.load(tmp_path / "1x2" / "weights.npz")
    assert w21["weight"].size == 50 * 50 + 50 * 49 + 50
    for key in ("source", "target", "weight"):
        assert np.array_equal(w21[key], w12[key]), key
    s21 = json.loads((tmp_path / "2x1" / "summary.json").read_text())
    s12 = json.loads((tmp_path / "1x2" / "summary.json").read_text())
    assert s21["loss"] == s12["loss"] and s21["last_loss"] < s21["first_loss"]


def test_cached_wheel_is_reused_without_compiling():
    # make mpi has run (test-mpi depends on it); asking again must find the wheel.
    result = subprocess.run(
        [sys.executable, "-m", "nest_workshop.scaleout.mpi_wheel", "--wheel-only"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=clean_environment(),
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "using the cached MPI wheel" in result.stdout and "no compilation" in result.stdout
    assert "building NEST" not in result.stdout
