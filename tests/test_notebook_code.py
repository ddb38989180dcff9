"""The notebooks' network cells are the one definition of each network: they exist, they
define what `nest-workshop scale`, the benchmarks and the tests use, and running them
outside the notebook is safe and says clearly what went wrong."""

import json

import pytest

from nest_workshop import reset_kernel
from nest_workshop.core import notebook_code
from nest_workshop.parts import astrocytes

# (part, notebook): the names its network cells must define, which the others call, and
# whether the cells build the network (e-prop's section 2, cell by cell) or only define it.
NETWORKS = {
    ("astrocytes", "02_pools_and_network"): (
        {"SEED", "config", "create_nodes", "connect_excitatory", "finish_and_run", "run_network"},
        False,
    ),
    ("astrocytes", "01_astrocyte_and_synapse"): (
        {"SEED", "N_PRE", "PRE_RATE", "W_PRE", "W_SIC", "T_SIM", "spikes", "with_sic", "without_sic", "by_rate", "summary"},
        True,
    ),
    ("sequence_learning", "02_learning_and_replay"): (
        {"SEED", "config", "schedule", "exc", "inh", "subpopulations", "w_ie", "w_ei", "spike_recorder", "build_network"},
        True,
    ),
    ("eprop", "02_evidence_accumulation"): (
        {"seed", "task", "n_regular", "n_adaptive", "batch_size", "learning_rate", "trainer", "build_classifier"},
        True,
    ),
    ("eprop", "01_pattern_generation"): (
        {"seed", "n_in", "n_rec", "learning_rate", "target", "input_spikes", "rec_params", "trainer", "build_pattern_network"},
        True,
    ),
}


@pytest.mark.parametrize("part, name", sorted(NETWORKS))
def test_network_cells_exist_and_define_what_the_others_use(part, name, one_thread):
    notebook = notebook_code.solution_notebook(part, name)
    cells = notebook_code.tagged_cells(notebook)
    assert len([c for c in cells if notebook_code.PARAMETERS_TAG in c.tags]) == 1
    names, builds = NETWORKS[part, name]
    reset_kernel(threads=1)
    namespace = notebook_code.run_cells(notebook)
    assert names <= set(namespace), f"{name}'s network cells no longer define {names - set(namespace)}"
    assert (namespace["nest"].network_size > 0) == builds


@pytest.mark.parametrize("part, name", sorted(NETWORKS))
def test_the_participant_notebook_has_the_same_network_cells(part, name):
    """The participant's notebook is generated from the solution: the same tagged cells,
    with the same code outside the exercises."""
    solution = notebook_code.solution_notebook(part, name)
    participant = solution.with_name(solution.name.replace("_solution", ""))
    theirs, ours = notebook_code.tagged_cells(participant), notebook_code.tagged_cells(solution)
    assert [c.id for c in theirs] == [c.id for c in ours]
    exercises = {c.id for c in ours if "### BEGIN SOLUTION" in c.source}
    assert [c for c in theirs if c.id not in exercises] == [c for c in ours if c.id not in exercises]


def test_overrides_replace_the_parameters_and_unknown_names_are_refused():
    notebook = notebook_code.solution_notebook("astrocytes", "02_pools_and_network")
    small = astrocytes.BalancedNetworkConfig(n_neurons=200)
    assert notebook_code.run_cells(notebook, {"config": small, "SEED": 7})["config"] is small
    with pytest.raises(ValueError, match=r"no parameter sead; its parameters cell \(cell-06\) defines SEED, config"):
        notebook_code.run_cells(notebook, {"sead": 7})


def write_notebook(path, *cells):
    path.write_text(json.dumps({"cells": [
        {"cell_type": "code", "id": f"c{i}", "metadata": {"tags": tags}, "source": source, "outputs": []}
        for i, (source, tags) in enumerate(cells)
    ]}))  # fmt: skip
    return path


def test_bad_notebooks_are_explained(tmp_path):
    with pytest.raises(ValueError, match="has no code cell tagged 'network'"):
        notebook_code.run_cells(write_notebook(tmp_path / "a.ipynb", ("x = 1", [])))
    with pytest.raises(ValueError, match="exactly one 'network' cell tagged 'parameters'"):
        notebook_code.run_cells(write_notebook(tmp_path / "b.ipynb", ("x = 1", ["network"])), {"x": 2})
    with pytest.raises(ValueError, match=r"cell c0: a 'network' cell must be plain Python, found '%matplotlib inline'"):
        notebook_code.run_cells(write_notebook(tmp_path / "c.ipynb", ("%matplotlib inline\nx = 1", ["network"])))
    with pytest.raises(NameError) as failure:
        notebook_code.run_cells(write_notebook(tmp_path / "d.ipynb", ("x = 1", ["network"]), ("y = z", ["network"])))
    assert "d.ipynb[c1]" in "".join(__import__("traceback").format_tb(failure.value.__traceback__))


def test_until_stops_after_the_named_cell(tmp_path):
    notebook = write_notebook(tmp_path / "e.ipynb", ("x = 1", ["network"]), ("y = 2", ["network"]), ("z = 3", ["network"]))
    ran = notebook_code.run_cells(notebook, until="c1")
    assert (ran["x"], ran["y"], "z" in ran) == (1, 2, False)
    with pytest.raises(ValueError, match="has no 'network' cell 'c9'; they are c0, c1, c2"):
        notebook_code.run_cells(notebook, until="c9")


def test_parameters_are_assigned_names():
    assert notebook_code.assigned_names("a = 1\nb, (c, d) = 2, (3, 4)\ne: int = 5\nf += 1\ndef g(): h = 1") == {
        "a",
        "b",
        "c",
        "d",
        "e",
    }


def test_a_missing_bundle_or_notebook_is_explained(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="astrocytes has 01_astrocyte_and_synapse_solution.ipynb"):
        notebook_code.solution_notebook("astrocytes", "04_network")
    monkeypatch.setenv(notebook_code.BUNDLE_ENV, str(tmp_path))
    with pytest.raises(FileNotFoundError, match="set \\$NEST_WORKSHOP_BUNDLE to the nest-workshop folder"):
        notebook_code.bundle_root()
