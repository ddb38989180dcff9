"""Compartmental neurons with cm_default: the tree, validation, and dendritic summation."""

import pytest

from nest_workshop import compartmental as C

NMDA = {"NMDA_ratio": 3.0}


def test_tree_layout():
    tree = C.BallAndSticks(n_branches=2, compartments_per_branch=3)
    compartments = tree.compartments()
    assert [c["parent_idx"] for c in compartments] == [-1, 0, 1, 2, 0, 4, 5]
    assert tree.n_compartments == 7 and tree.tip(1) == 6 and tree.base(1) == 4
    with pytest.raises(ValueError, match="branch must be 0 to 1"):
        tree.tip(2)


@pytest.mark.parametrize("receptors, message", [
    ([(1, "AMPA"), (7, "AMPA")], "no compartment 7: this neuron has compartments 0 to 6"),
    ([(1, "GABAB")], "unknown receptor type 'GABAB': cm_default has AMPA, GABA, NMDA, AMPA_NMDA"),
])
def test_bad_receptors_are_explained(receptors, message):
    with pytest.raises(ValueError, match=message):
        C.check_receptors(receptors, 7)


def test_bad_summation_requests_are_explained():
    with pytest.raises(ValueError, match="layout must be"):
        C.summation(2, layout="random", weight=0.0003, receptor_type="AMPA")
    with pytest.raises(ValueError, match="at most 12"):
        C.summation(13, layout="distributed", weight=0.0003, receptor_type="AMPA")
    with pytest.raises(ValueError, match="positive conductance"):
        C.synchronous_input([1], weight=0.0)


def test_a_single_input_is_its_own_linear_prediction():
    run = C.summation(1, layout="clustered", weight=0.0003, receptor_type="AMPA")
    assert run["ratio"] == pytest.approx(1.0) and run["soma_epsp"] > 0


def test_three_kinds_of_summation():
    distributed = C.summation(12, layout="distributed", weight=0.0003, receptor_type="AMPA")
    clustered = C.summation(12, layout="clustered", weight=0.0003, receptor_type="AMPA")
    nmda_8 = C.summation(8, layout="clustered", weight=0.0003, receptor_type="AMPA_NMDA", receptor_params=NMDA)
    nmda_12 = C.summation(12, layout="clustered", weight=0.0003, receptor_type="AMPA_NMDA", receptor_params=NMDA)
    assert 0.9 < distributed["ratio"] < 1.1
    assert clustered["ratio"] < 0.8
    assert nmda_12["ratio"] > 1.3 and nmda_12["soma_epsp"] > 2 * nmda_8["soma_epsp"]


# --- NEAT: morphology, reduction, NEURON comparison (notebook 3) ---

from pathlib import Path

MORPHOLOGY = Path(__file__).resolve().parents[1] / "materials" / "compartmental" / "data" / "L23PyrBranco.swc"
# a soma (three-point SWC soma, radius 10 µm) with one 200 µm basal dendrite of radius 0.5 µm
BALL_AND_STICK = """# ball and stick
1 1 0 0 0 10 -1
2 1 0 -10 0 10 1
3 1 0 10 0 10 1
4 3 10 0 0 0.5 1
5 3 110 0 0 0.5 4
6 3 210 0 0 0.5 5
"""


def test_a_missing_morphology_names_the_files_there(tmp_path):
    (tmp_path / "cell.swc").write_text(BALL_AND_STICK)
    with pytest.raises(FileNotFoundError, match=r"no morphology file .*cel\.swc.*SWC files in .*: cell\.swc"):
        C.check_swc(tmp_path / "cel.swc")


def test_a_file_that_is_not_swc_is_explained(tmp_path):
    table = tmp_path / "cell.swc"
    table.write_text("time,voltage\n0.0,-70.0\n")
    with pytest.raises(ValueError, match="not an SWC file: line 1 .*7 numbers: id, type, x, y, z, radius, parent"):
        C.check_swc(table)
    rootless = tmp_path / "rootless.swc"
    rootless.write_text("1 3 0 0 0 1 2\n2 3 0 1 0 1 1\n")
    with pytest.raises(ValueError, match="exactly one root point .* found 0 roots, no soma"):
        C.check_swc(rootless)


def test_the_shipped_morphology_is_swc():
    assert C.check_swc(MORPHOLOGY) == MORPHOLOGY


@pytest.fixture(scope="module")
def ball_and_stick(tmp_path_factory):
    path = tmp_path_factory.mktemp("morphology") / "ball_and_stick.swc"
    path.write_text(BALL_AND_STICK)
    return C.load_morphology(path)


@pytest.mark.parametrize("sites, message", [
    ({"soma": (1, 0.5), "far": (7, 0.5)}, r"site 'far': node 7 is not on the tree; its nodes are 1, 4–6 \(1 = soma"),
    ({"soma": (1, 0.5), "tip": (6, 1.5)}, r"site 'tip': x = 1.5 is off the branch; x runs from 0 .* to 1"),
    ({"tip": (6, 1.0)}, "the first site must be the soma"),
    ({"soma": 1}, r"site 'soma' must be \(node, x\)"),
])
def test_bad_sites_are_explained(ball_and_stick, sites, message):
    with pytest.raises(ValueError, match=message):
        C.check_sites(ball_and_stick, sites)


def test_neat_writes_nothing_into_the_working_directory(tmp_path, monkeypatch, ball_and_stick):
    monkeypatch.chdir(tmp_path)
    C.reduce_morphology(ball_and_stick, {"soma": (1, 0.5), "tip": (6, 1.0)}, support=())
    assert list(tmp_path.iterdir()) == []


def test_the_reduced_ball_and_stick_matches_neuron(ball_and_stick):
    sites = {"soma": (1, 0.5), "middle": (5, 0.5), "tip": (6, 1.0)}
    reduced = C.reduce_morphology(ball_and_stick, sites, support=(0.5,))
    assert reduced.site_compartment["soma"] == 0 and set(reduced.site_compartment) == set(sites)
    assert C.distance_to_soma(ball_and_stick, sites["tip"]) == pytest.approx(210.0, abs=1.0)
    for row in C.compare_epsps(ball_and_stick, reduced, weight=0.0005):
        assert abs(row["soma_error"]) < 0.05 and abs(row["local_error"]) < 0.05, row["site"]
    with pytest.raises(ValueError, match="unknown site 'apical': this neuron has sites soma, middle, tip"):
        C.epsp_reduced(reduced, "apical", weight=0.001)
    with pytest.raises(ValueError, match="unknown receptor type 'GABAB'"):
        C.create_reduced(C.reset_kernel(), reduced, receptor_sites=["tip"], receptor_type="GABAB")
