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
