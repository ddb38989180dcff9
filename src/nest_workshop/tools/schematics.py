"""Schematics of NEST and of the parts' models, drawn with matplotlib.

Each function returns a figure. The decks show them as images that
:mod:`.deck_figures` draws from this code (``make deck-figures``), never pasted in; a
notebook can call them too.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Polygon, Rectangle

from ..core.plotting import PALETTE, apply_style

EXC, INH, SIGNAL, GREY = PALETTE[1], PALETTE[0], PALETTE[2], "#777777"


def _canvas(width: float, height: float, size=(9, 4)):
    apply_style()
    fig, ax = plt.subplots(figsize=size)
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig, ax


def _arrow(ax, start, end, color="black", style="-|>", rad=0.0, lw=1.5, ls="-"):
    ax.add_patch(
        FancyArrowPatch(
            start, end, arrowstyle=style, mutation_scale=12, color=color, lw=lw, ls=ls, connectionstyle=f"arc3,rad={rad}"
        )
    )


def _box(ax, xy, w, h, text, color, fontsize=10):
    ax.add_patch(FancyBboxPatch(xy, w, h, boxstyle="round,pad=0.1", fc=color, ec="black", alpha=0.25))
    ax.text(xy[0] + w / 2, xy[1] + h / 2, text, ha="center", va="center", fontsize=fontsize)


def eprop_architecture():
    """Inputs -> recurrent LIF/ALIF neurons -> readouts; the readout error returns as a
    learning signal to every recurrent neuron (e-prop, Bellec et al. 2020)."""
    fig, ax = _canvas(12, 6)
    for i in range(5):
        ax.add_patch(Circle((1.2, 1 + i), 0.22, fc=GREY, ec="black"))
    ax.text(1.2, 0.2, "inputs $x_i^t$", ha="center")
    recurrent = [(4.2 + 1.2 * (k % 3), 1.4 + 1.4 * (k // 3)) for k in range(9)]
    for k, (x, y) in enumerate(recurrent):
        # one colour (e-prop's recurrent neurons are not split into E and I); hatched: adaptive
        ax.add_patch(Circle((x, y), 0.3, fc=EXC, ec="black", alpha=0.8, hatch="////" if k % 3 == 0 else None))
    ax.text(5.4, 0.3, "recurrent neurons $z_j^t$\n(plain: LIF, hatched: adaptive ALIF)", ha="center")
    _arrow(ax, (1.5, 3), (3.7, 3))
    _arrow(ax, (4.5, 4.2), (5.1, 4.2), rad=-0.6)
    _arrow(ax, (6.9, 3), (8.7, 3))
    for y in (2.4, 3.6):
        ax.add_patch(Polygon([(9, y - 0.35), (9, y + 0.35), (9.6, y)], fc=SIGNAL, ec="black", alpha=0.8))
    ax.text(9.3, 1.6, "readouts $y_k^t$", ha="center")
    ax.text(11.2, 3, "target\n$y_k^{*,t}$", ha="center", va="center")
    _arrow(ax, (10.6, 3), (9.8, 3))
    _arrow(ax, (9.3, 4.2), (5.6, 5.3), color=SIGNAL, rad=0.3, ls="--")
    ax.text(7.6, 5.5, r"learning signal $L_j^t = \sum_k B_{jk}(y_k^t - y_k^{*,t})$", ha="center", color=SIGNAL)
    return fig


def sequence_network():
    """Two sequences that share elements, A-D-B-E and F-D-B-C: one subpopulation per element,
    each with its own inhibitory neuron (winner-take-all: excited by the subpopulation, it
    inhibits it back). Learned connections onto the dendrites predict the next element;
    after B, which of E or C follows depends on the context, carried by different B neurons."""
    fig, ax = _canvas(13, 7.2, size=(10, 5.5))
    first, second = SIGNAL, PALETTE[3] if len(PALETTE) > 3 else GREY
    places = {"A": (1.4, 5.0), "F": (1.4, 1.6), "D": (4.9, 3.3), "B": (8.1, 3.3), "E": (11.6, 5.0), "C": (11.6, 1.6)}
    for letter, (x, y) in places.items():
        _box(ax, (x - 1.2, y - 0.55), 2.4, 1.1, "", EXC)
        for n in range(4):
            x0 = x - 1.05 + 0.36 * n
            color = EXC
            if letter in ("D", "B"):
                color = first if n < 2 else second  # different D and B neurons fire in the two contexts
            ax.add_patch(Polygon([(x0, y - 0.35), (x0 + 0.24, y - 0.35), (x0 + 0.12, y + 0.1)], fc=color, ec="black", lw=0.5))
        ax.text(x, y + 0.72, letter, ha="center", fontsize=11, weight="bold")
        # the element's inhibitory neuron, excited by the subpopulation, inhibiting it back
        ax.add_patch(Circle((x + 0.85, y - 0.12), 0.2, fc=INH, ec="black", lw=0.5))
        _arrow(ax, (x + 0.38, y + 0.05), (x + 0.64, y + 0.0), lw=0.9)
        _arrow(ax, (x + 0.66, y - 0.28), (x + 0.4, y - 0.28), color=INH, lw=0.9)
    for (u, v), color in {
        ("A", "D"): first,
        ("B", "E"): first,
        ("F", "D"): second,
        ("B", "C"): second,
    }.items():
        (x0, y0), (x1, y1) = places[u], places[v]
        _arrow(ax, (x0 + 1.3, y0 + (0.15 if y1 >= y0 else -0.15)), (x1 - 1.3, y1), color=color, rad=0.1, lw=2)
    # D -> B twice: the D neurons of each context predict the B neurons of the same context
    (xd, yd), (xb, yb) = places["D"], places["B"]
    _arrow(ax, (xd + 1.3, yd + 0.25), (xb - 1.3, yb + 0.25), color=first, rad=-0.25, lw=2)
    _arrow(ax, (xd + 1.3, yd - 0.25), (xb - 1.3, yb - 0.25), color=second, rad=0.25, lw=2)
    ax.text(6.5, 6.7, "A-D-B-E and F-D-B-C share D-B: different D and B neurons carry each context", ha="center")
    ax.text(
        6.5,
        0.25,
        "arrows: learned synapses onto dendrites (a dAP predicts the next element);  "
        "circles: each element's inhibitory neuron (winner-take-all)",
        ha="center",
        fontsize=8,
        color=GREY,
    )
    return fig


def compartment_trees():
    """A branching morphology (many segments) and its NEAT reduction as notebook 3 fits it:
    a compartment at the soma and at each of four input sites, two support compartments on
    the path to each site (at 1/3 and 2/3 of its distance) and the two branch points NEAT
    adds where those paths part: 15 compartments, coupled by conductances. The oblique
    branch leaves the apical dendrite below the point where the paths to the trunk site and
    to the tuft part, as on the layer 2/3 cell of notebook 3."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.4))
    apply_style()
    for ax in (left, right):
        ax.set_xlim(-5, 5)
        ax.set_ylim(-3, 7)
        ax.set_aspect("equal")
        ax.axis("off")
    branches = [
        ((0, 0), (0, 2)),  # apical dendrite up to where the paths to the trunk site and the tuft part
        ((0, 1.3), (2.6, 2.4)),  # the oblique branch, leaving below that point
        ((0, 2), (1.6, 3.3)),  # the branch that holds the trunk site
        ((0, 2), (-0.6, 4.2)),
        ((-0.6, 4.2), (-2.2, 6.0)),  # the tuft
        ((-0.6, 4.2), (1.2, 6.3)),
        ((0, 0), (-3, -2)),  # basal dendrites
        ((0, 0), (3, -2.2)),
        ((0, 0), (-0.5, -2.6)),
    ]
    for (x0, y0), (x1, y1) in branches:
        left.plot([x0, x1], [y0, y1], color="black", lw=2)
        for t in (0.25, 0.5, 0.75):
            left.plot(x0 + t * (x1 - x0), y0 + t * (y1 - y0), "o", ms=3, color=GREY)
    left.add_patch(Circle((0, 0), 0.5, fc=EXC, ec="black"))
    left.set_title("full morphology: hundreds of segments")
    sites = {"basal": (-2.4, -1.6), "oblique": (2.1, 2.19), "trunk": (1.2, 2.98), "tuft": (-1.8, 5.55)}
    for name, (x, y) in sites.items():
        left.plot(x, y, "*", ms=12, color=SIGNAL)
        left.text(x + 0.3, y + 0.2, name, fontsize=8)
    left.text(0.6, -0.1, "soma", fontsize=8)

    # the reduced tree: {name: (x, y, kind)}, kind "site", "support" or "branch"
    # fmt: off
    nodes = {
        "soma": (0, 0, "soma"),
        "b1": (-1.0, -0.6, "support"), "b2": (-2.0, -1.2, "support"), "basal": (-3.0, -1.8, "site"),
        "a1": (0, 0.8, "support"), "a2": (0, 1.5, "support"), "B1": (0, 2.2, "branch"),
        "o2": (1.3, 2.8, "support"), "oblique": (2.6, 3.4, "site"),
        "a3": (0, 2.9, "support"), "B2": (0, 3.6, "branch"),
        "trunk": (1.4, 4.2, "site"),
        "t1": (-0.6, 4.3, "support"), "t2": (-1.2, 5.0, "support"), "tuft": (-1.8, 5.7, "site"),
    }
    parents = {
        "b1": "soma", "b2": "b1", "basal": "b2", "a1": "soma", "a2": "a1", "B1": "a2", "o2": "B1", "oblique": "o2",
        "a3": "B1", "B2": "a3", "trunk": "B2", "t1": "B2", "t2": "t1", "tuft": "t2",
    }
    # fmt: on
    for child, parent in parents.items():
        (x0, y0, _), (x1, y1, _) = nodes[parent], nodes[child]
        right.plot([x0, x1], [y0, y1], color=GREY, lw=3, zorder=0)
    right.text(-1.9, -0.45, r"$g_C$", fontsize=9, color=GREY)
    right.text(0.55, -0.3, "soma", fontsize=8)
    for name, (x, y, kind) in nodes.items():
        if kind == "soma":
            right.add_patch(Circle((x, y), 0.45, fc=EXC, ec="black"))
        elif kind == "site":
            right.add_patch(Circle((x, y), 0.32, fc=SIGNAL, ec="black"))
            right.text(x + (0.45 if x >= 0 else -0.45), y, name, fontsize=8, va="center", ha="left" if x >= 0 else "right")
        elif kind == "support":
            right.add_patch(Circle((x, y), 0.17, fc=GREY, ec="black", lw=0.8))
        else:
            right.plot(x, y, "D", ms=7, mfc="white", mec="black")
    right.plot([], [], "o", ms=9, mfc=SIGNAL, mec="black", label="input site")
    right.plot([], [], "o", ms=5, mfc=GREY, mec="black", label="support (1/3, 2/3 of the way)")
    right.plot([], [], "D", ms=6, mfc="white", mec="black", label="branch point")
    right.legend(loc="lower right", fontsize=7.5, frameon=False)
    right.set_title("NEAT's reduction: a few compartments")
    fig.text(
        0.5,
        0.02,
        r"each compartment $i$: $C_i\,\dot V_i = -g_{L,i}(V_i - E_{L,i}) - \sum_j g_{C,ij}(V_i - V_j) + I_i$",
        ha="center",
    )
    return fig


def tripartite_synapse():
    """A tripartite synapse as NEST builds it: the ``primary`` connection (pre → post),
    ``third_in`` (the same presynaptic spikes reach an astrocyte and raise its IP3 and
    calcium) and ``third_out`` (the astrocyte's slow inward current, SIC, to the
    postsynaptic neuron, a ``sic_connection``). The astrocyte is drawn from the
    postsynaptic neuron's pool: the astrocytes that ``TripartiteConnect`` may pair with
    connections onto that neuron."""
    fig, ax = _canvas(12, 5.6)
    ax.add_patch(Polygon([(1, 2), (1, 3), (2.2, 2.5)], fc=EXC, ec="black"))
    ax.text(1.5, 1.5, "presynaptic\nneuron", ha="center", fontsize=9)
    ax.add_patch(Polygon([(8.5, 2), (8.5, 3), (9.7, 2.5)], fc=EXC, ec="black"))
    ax.text(9.1, 1.5, "postsynaptic\nneuron", ha="center", fontsize=9)
    _arrow(ax, (2.3, 2.5), (8.4, 2.5))
    ax.text(5.3, 2.05, "primary: synapse (weight $w$)", ha="center", fontsize=9)
    ax.add_patch(Circle((5.3, 4.0), 0.55, fc=SIGNAL, ec="black", alpha=0.8))
    ax.text(5.3, 4.0, "astrocyte", ha="center", va="center", fontsize=8)
    ax.add_patch(Circle((7.0, 4.6), 0.4, fc=SIGNAL, ec="black", alpha=0.35))
    _arrow(ax, (4.0, 2.6), (4.8, 3.6), color=SIGNAL, rad=-0.2)
    ax.text(2.7, 3.4, "third_in: glutamate\n→ IP$_3$ → Ca$^{2+}$", ha="center", fontsize=9, color=SIGNAL)
    _arrow(ax, (5.9, 3.8), (8.6, 2.9), color=SIGNAL, rad=-0.3, ls="--")
    ax.text(9.6, 3.7, "third_out: slow inward\ncurrent (SIC)", ha="center", fontsize=9, color=SIGNAL)
    ax.add_patch(FancyBboxPatch((4.6, 3.3), 3.0, 1.85, boxstyle="round,pad=0.1", fc="none", ec=SIGNAL, ls=":"))
    ax.text(
        6.1,
        5.35,
        "the postsynaptic neuron's pool: the astrocytes its connections can be paired with",
        ha="center",
        fontsize=8.5,
        color=SIGNAL,
    )
    return fig


def simulation_loop():
    """NEST's simulation loop: virtual processes update their neurons for one minimum delay, then exchange spikes."""
    apply_style()

    fig, ax = plt.subplots(figsize=(9.5, 3.2))
    ax.set(xlim=(-2.3, 9.6), ylim=(-0.9, 2.9))
    ax.axis("off")
    rows = {"virtual process 0\n(thread 0, rank 0)": 1.9, "virtual process 1\n(thread 1, or rank 1)": 0.5}
    for label, y in rows.items():
        ax.text(-0.2, y + 0.3, label, ha="right", va="center", fontsize=9)
        for k in range(3):
            x = k * 3.1
            ax.add_patch(Rectangle((x, y), 2.4, 0.6, fc=PALETTE[2], ec="black", alpha=0.8))
            ax.text(
                x + 1.2, y + 0.3, "update its neurons\nfor one min. delay", ha="center", va="center", fontsize=8, color="white"
            )
    for k in range(3):
        x = k * 3.1 + 2.75
        ax.add_patch(FancyArrowPatch((x, 2.45), (x, 0.5), arrowstyle="<|-|>", mutation_scale=12, color="black", lw=1.5))
        ax.text(x, -0.05, "exchange\nspikes", ha="center", va="top", fontsize=8)
    ax.add_patch(FancyArrowPatch((0, -0.75), (9.4, -0.75), arrowstyle="-|>", mutation_scale=12, color="#777777"))
    ax.text(9.4, -0.6, "time", ha="right", fontsize=8, color="#777777")
    return fig


def ei_network():
    """The E/I network of the warm-up notebook (Brunel 2000), drawn."""
    apply_style()

    fig, ax = plt.subplots(figsize=(9, 3.6))
    ax.set(xlim=(-0.5, 10.5), ylim=(-0.3, 4.3), aspect="equal")
    ax.axis("off")

    def arrow(a, b, color, rad=0.0, head="-|>", label=None, at=(0, 0)):
        ax.add_patch(
            FancyArrowPatch(
                a,
                b,
                arrowstyle=head,
                mutation_scale=16,
                color=color,
                lw=2,
                connectionstyle=f"arc3,rad={rad}",
                shrinkA=2,
                shrinkB=2,
            )
        )
        if label:
            ax.text(*at, label, ha="center", va="center", fontsize=10, color=color)

    for x, color, name in ((3, EXC, "E\n800 neurons"), (7, INH, "I\n200 neurons")):
        ax.add_patch(Circle((x, 1.6), 0.9, fc=color, ec="black", alpha=0.85))
        ax.text(x, 1.6, name, ha="center", va="center", fontsize=10, color="white", weight="bold")
    ax.add_patch(FancyBboxPatch((3.6, 3.55), 2.8, 0.6, boxstyle="round,pad=0.05", fc="#eeeeee", ec="black"))
    ax.text(5, 3.85, "Poisson drive (η = 1.5)", ha="center", va="center", fontsize=10)
    arrow((4.2, 3.55), (3.4, 2.5), "black", label="J", at=(3.55, 3.1))
    arrow((5.8, 3.55), (6.6, 2.5), "black", label="J", at=(6.45, 3.1))
    arrow((3.9, 1.9), (6.1, 1.9), EXC, rad=-0.25, label="80 inputs, J = 0.5 mV", at=(5, 2.55))
    arrow((6.1, 1.3), (3.9, 1.3), INH, rad=-0.25, head="-[", label="20 inputs, −gJ = −3 mV", at=(5, 0.65))
    arrow((2.2, 1.2), (2.2, 2.0), EXC, rad=-1.8, label="80 inputs, J", at=(0.55, 1.6))
    arrow((7.8, 2.0), (7.8, 1.2), INH, rad=-1.8, head="-[", label="20 inputs, −gJ", at=(9.5, 1.6))
    ax.text(
        5,
        -0.1,
        "each neuron: fixed in-degree (10 % of each population), delay 1.5 ms, iaf_psc_delta",
        ha="center",
        fontsize=9,
        color="#555555",
    )
    return fig
