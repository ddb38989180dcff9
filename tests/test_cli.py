"""The nest-workshop command: doctor, build, exercises."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nest_workshop.tools import cli

from .conftest import DOCTOR_MODEL

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args, cwd=ROOT, env_extra=None):
    import os

    env = {**os.environ, "NEST_WORKSHOP_THREADS": "1", **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "nest_workshop.tools.cli", *args], cwd=cwd, capture_output=True, text=True, env=env
    )


@pytest.mark.nestml_build
def test_doctor_passes_here_and_reports_versions(built_module_cache):
    cache, _ = built_module_cache
    out = run_cli("doctor", env_extra={"NEST_WORKSHOP_CACHE": str(cache)})
    assert out.returncode == 0, out.stdout + out.stderr
    for expected in [
        "✔ NEST ",
        "3.10.0",
        "✔ NESTML ",
        "9.0.0",
        "✔ NEAT ",
        "1.1",
        "✔ C++ compiler",
        "✔ NESTML build and run",
        "0 spikes at 300 pA",
        "All checks passed.",
    ]:
        assert expected in out.stdout, out.stdout


def test_doctor_names_the_fix_when_tools_are_missing(monkeypatch, capsys):
    monkeypatch.setattr(cli.nestml, "missing_build_tools", lambda: [("the C++ header <gsl/gsl_errno.h>", "libgsl-dev")])
    assert cli.doctor_command(None) == 1
    out = capsys.readouterr().out
    assert "✘ build tools and headers" in out and "sudo apt-get install -y libgsl-dev" in out
    assert "✘ NESTML build and run" in out and "skipped" in out


@pytest.mark.nestml_build
def test_build_prebuilds_the_manifest_then_reuses_it(tmp_path):
    materials = tmp_path / "materials" / "part"
    (materials / "models").mkdir(parents=True)
    shutil.copy(DOCTOR_MODEL, materials / "models")
    (materials / "nestml_modules.toml").write_text('[[module]]\nsources = ["models/doctor_lif_neuron.nestml"]\n')
    env = {"NEST_WORKSHOP_CACHE": str(tmp_path / "cache")}
    first = run_cli("build", cwd=tmp_path, env_extra=env)
    assert first.returncode == 0 and "built in" in first.stdout, first.stdout + first.stderr
    second = run_cli("build", cwd=tmp_path, env_extra=env)
    assert second.returncode == 0 and "cached in" in second.stdout, second.stdout + second.stderr


def test_build_prepares_neats_cache_for_shipped_morphologies(tmp_path):
    from .test_compartmental import BALL_AND_STICK

    data = tmp_path / "materials" / "part" / "data"
    data.mkdir(parents=True)
    (data / "cell.swc").write_text(BALL_AND_STICK)
    (data / "broken.swc").write_text("not a morphology\n")
    env = {"NEST_WORKSHOP_NEAT_CACHE": str(tmp_path / "neat")}
    out = run_cli("build", cwd=tmp_path, env_extra=env)
    assert out.returncode == 1, out.stdout + out.stderr  # the broken file is a failure, reported
    assert "✔ part/data/cell.swc (NEAT): tree modes cached" in out.stdout and "✘ part/data/broken.swc" in out.stdout
    assert list((tmp_path / "neat").rglob("*.p"))


def test_build_reports_a_bad_manifest(tmp_path):
    (tmp_path / "materials").mkdir()
    (tmp_path / "materials" / "nestml_modules.toml").write_text('[[module]]\nsource = ["x.nestml"]\n')
    out = run_cli("build", cwd=tmp_path)
    assert out.returncode != 0 and "needs 'sources'" in out.stderr + out.stdout


def test_exercises_check_passes_on_the_committed_materials():
    out = run_cli("exercises", "--check")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "unchanged" in out.stdout


def test_exercises_refuses_to_overwrite_an_edited_notebook(tmp_path):
    solution = tmp_path / "n_solution.ipynb"
    shutil.copy(ROOT / "materials" / "introduction" / "01_first_steps_solution.ipynb", solution)
    assert run_cli("exercises", str(solution)).returncode == 0
    participant = tmp_path / "n.ipynb"
    participant.write_text(participant.read_text().replace("YOUR CODE HERE", "my own code"))
    solution.write_text(solution.read_text().replace("First steps with NEST", "First steps with NEST (v2)"))
    out = run_cli("exercises", str(solution))
    assert out.returncode == 1 and "was not overwritten" in out.stdout
    assert "my own code" in participant.read_text()
