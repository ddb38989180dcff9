"""The schematics of nest_workshop.core.schematics, for the decks and the notebooks alike.

Drawing only: no NEST.
"""

from __future__ import annotations

import inspect

import matplotlib.pyplot as plt
import pytest

import nest_workshop as nw
from nest_workshop.core import schematics
from nest_workshop.parts import eprop, sequences

DRAWINGS = {
    "simulation_loop": schematics.simulation_loop,
    "ei_network": schematics.ei_network,
    "eprop_architecture": schematics.eprop_architecture,
    "eprop_network/regression": lambda: schematics.eprop_network(kind="regression"),
    "eprop_network/classification": lambda: schematics.eprop_network(kind="classification"),
    "sequence_contexts": schematics.sequence_contexts,
    "sequence_neuron": schematics.sequence_neuron,
    "sequence_network": schematics.sequence_network,
    "compartment_trees": schematics.compartment_trees,
    "tripartite_synapse": schematics.tripartite_synapse,
}


def figure_of(drawn) -> plt.Figure:
    """Deck schematics return a figure, notebook ones their axes (one or two)."""
    if isinstance(drawn, plt.Figure):
        return drawn
    return drawn.figure if hasattr(drawn, "figure") else drawn[0].figure


@pytest.mark.parametrize("name", sorted(DRAWINGS))
def test_every_schematic_draws(name):
    fig = figure_of(DRAWINGS[name]())
    artists = sum(len(ax.patches) + len(ax.lines) + len(ax.texts) for ax in fig.axes)
    assert artists >= 8, f"{name} draws {artists} shapes"
    plt.close(fig)


def test_the_facade_offers_the_schematics():
    assert nw.schematics is schematics


def texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


def test_the_sequence_network_shows_the_parts_subpopulation_size():
    """The default is the part's: SequenceConfig.n_per_element, which the core cannot import."""
    default = inspect.signature(schematics.sequence_network).parameters["n_per_element"].default
    assert default == sequences.SequenceConfig().n_per_element
    ax = sequences.draw_network()
    assert f"A\n{sequences.SequenceConfig().n_per_element} exc." in texts(ax)
    plt.close(ax.figure)
    ax = schematics.sequence_network(vocabulary=("A", "B", "C", "D", "E"), n_per_element=40)
    assert "E\n40 exc." in texts(ax) and not any("150" in t for t in texts(ax))
    plt.close(ax.figure)


def test_the_parts_draw_with_the_core_schematics():
    """eprop.draw_network and sequences.draw_neuron/draw_network, which the notebooks call,
    draw what the core draws, into the axes they are given."""
    fig, ax = plt.subplots()
    assert eprop.draw_network(ax, kind="classification") is ax
    assert any("_bsshslm_2020" in t for t in texts(ax))
    with pytest.raises(ValueError, match="regression"):
        eprop.draw_network(kind="hopfield")
    plt.close(fig)
    fig, axes = plt.subplots(1, 2)
    assert sequences.draw_neuron(axes) is axes
    plt.close(fig)
