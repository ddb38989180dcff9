"""Shared fixtures of the unit tests."""

import shutil
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")  # tests draw figures without a display

DATA = Path(__file__).resolve().parents[1] / "src" / "nest_workshop" / "tools" / "data"
DOCTOR_MODEL = DATA / "doctor_lif_neuron.nestml"


@pytest.fixture
def model_copy(tmp_path):
    """A private copy of the small test neuron (so edits do not touch the package)."""
    folder = tmp_path / "models"
    folder.mkdir()
    target = folder / DOCTOR_MODEL.name
    shutil.copy(DOCTOR_MODEL, target)
    return target


@pytest.fixture(scope="session")
def built_module_cache(tmp_path_factory):
    """A cache holding one cold build of the test neuron, shared by the tests that
    only need a built module (each build costs ~10-30 s on 2 cores)."""
    from nest_workshop.core import nestml

    cache = tmp_path_factory.mktemp("nestml-cache")
    module = nestml.build(DOCTOR_MODEL, cache_dir=cache, load=False)
    assert module.built, "a fresh cache must build"
    return cache, module


@pytest.fixture
def one_thread(monkeypatch):
    monkeypatch.setenv("NEST_WORKSHOP_THREADS", "1")
