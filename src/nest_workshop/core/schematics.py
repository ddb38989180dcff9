"""Schematics of NEST and of the parts' models, drawn with matplotlib: the one place
where the package draws networks, for the decks and the notebooks alike.

- for the decks (each returns a figure; :mod:`nest_workshop.tools.deck_figures` saves
  them as images, ``make deck-figures``): :func:`simulation_loop`, :func:`ei_network`,
  :func:`eprop_architecture`, :func:`sequence_contexts`, :func:`compartment_trees`,
  :func:`tripartite_synapse`;
- for the notebooks (each draws into the axes given, or a new figure, and returns the
  axes): :func:`eprop_network` (the e-prop network as notebooks 1 and 2 build it, also
  ``eprop.draw_network``), :func:`sequence_neuron` and :func:`sequence_network` (the
  sequence part's neuron and network, also ``sequences.draw_neuron`` and
  ``sequences.draw_network``).

Every drawing is made of the same few primitives (:func:`canvas`, :func:`arrow`,
:func:`box`, :func:`circle`, :func:`triangle`, :func:`label`) and the workshop's palette. A notebook can
call any of them: ``nw.schematics.tripartite_synapse()``.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Polygon

from .plotting import PALETTE, apply_style

EXC, INH, SIGNAL, GREY = PALETTE[1], PALETTE[0], PALETTE[2], "#777777"

# ---------------------------------------------------------------------------------------
# primitives


def canvas(xlim, ylim, size=(9, 4), *, ax=None, equal=True):
    """Axes without a frame showing ``xlim`` by ``ylim`` (a number ``w`` stands for
    ``(0, w)``), in the workshop's style: ``ax`` if given, else a new figure of ``size``
    inches. ``equal``: one unit is as long on both axes. Returns ``(figure, axes)``."""
    apply_style()
    if ax is None:
        _, ax = plt.subplots(figsize=size)
    ax.set_xlim(*((0, xlim) if np.isscalar(xlim) else xlim))
    ax.set_ylim(*((0, ylim) if np.isscalar(ylim) else ylim))
    if equal:
        ax.set_aspect("equal")
    ax.axis("off")
    return ax.figure, ax


def label(ax, xy, text, *, color="black", fontsize=9, ha="center", va="center", **text_kw):
    """Text at ``xy``, centred there unless ``ha``/``va`` say otherwise."""
    return ax.text(*xy, text, color=color, fontsize=fontsize, ha=ha, va=va, **text_kw)


def arrow(ax, start, end, *, color="black", style="-|>", rad=0.0, lw=1.5, ls="-", scale=12, text="", at=None, **label_kw):
    """An arrow from ``start`` to ``end``, bent by ``rad`` (matplotlib's ``arc3``); with
    ``text``, a label of the same colour at ``at`` (default: halfway), see :func:`label`.
    ``style`` is matplotlib's arrow style: ``"-|>"`` excites, ``"-["`` inhibits."""
    ax.add_patch(
        FancyArrowPatch(
            start, end, arrowstyle=style, mutation_scale=scale, color=color, lw=lw, ls=ls, connectionstyle=f"arc3,rad={rad}"
        )
    )
    if text:
        label(ax, at if at is not None else ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2), text, color=color, **label_kw)


def box(ax, xy, w, h, text="", *, fc="none", ec="black", alpha=None, shape="round", pad=0.1, fontsize=10, **patch_kw):
    """A box (a population, a process, a device) with its lower left corner at ``xy`` and
    ``text`` in its centre; ``shape`` is ``"round"`` or ``"square"``."""
    ax.add_patch(FancyBboxPatch(xy, w, h, boxstyle=f"{shape},pad={pad}", fc=fc, ec=ec, alpha=alpha, **patch_kw))
    if text:
        label(ax, (xy[0] + w / 2, xy[1] + h / 2), text, fontsize=fontsize)


def circle(ax, xy, radius, text="", *, fc, ec="black", alpha=None, lw=None, fontsize=8, **label_kw):
    """A circle (a neuron, a population, an astrocyte) with ``text`` in its centre."""
    ax.add_patch(Circle(xy, radius, fc=fc, ec=ec, alpha=alpha, lw=lw))
    if text:
        label(ax, xy, text, fontsize=fontsize, **label_kw)


def triangle(ax, x, y, width, height, **patch_kw):
    """A pyramidal neuron: a triangle pointing right, its base at ``x`` centred on ``y``."""
    ax.add_patch(Polygon([(x, y - height / 2), (x, y + height / 2), (x + width, y)], **patch_kw))


# ---------------------------------------------------------------------------------------
# NEST


def simulation_loop():
    """NEST's simulation loop: virtual processes update their neurons for one minimum delay, then exchange spikes."""
    fig, ax = canvas((-2.3, 9.6), (-0.9, 2.9), (9.5, 3.2), equal=False)
    rows = {"virtual process 0\n(thread 0, rank 0)": 1.9, "virtual process 1\n(thread 1, or rank 1)": 0.5}
    for text, y in rows.items():
        label(ax, (-0.2, y + 0.3), text, ha="right")
        for k in range(3):
            box(ax, (k * 3.1, y), 2.4, 0.6, "", fc=SIGNAL, alpha=0.8, shape="square", pad=0)
            label(ax, (k * 3.1 + 1.2, y + 0.3), "update its neurons\nfor one min. delay", fontsize=8, color="white")
    for k in range(3):
        x = k * 3.1 + 2.75
        arrow(ax, (x, 2.45), (x, 0.5), style="<|-|>")
        label(ax, (x, -0.05), "exchange\nspikes", fontsize=8, va="top")
    arrow(ax, (0, -0.75), (9.4, -0.75), color=GREY, lw=1.0)
    label(ax, (9.4, -0.6), "time", fontsize=8, color=GREY, ha="right", va="baseline")
    return fig


def ei_network():
    """The E/I network of the warm-up notebook (Brunel 2000), drawn."""
    fig, ax = canvas((-0.5, 10.5), (-0.3, 4.3), (9, 3.6))
    for x, color, name in ((3, EXC, "E\n800 neurons"), (7, INH, "I\n200 neurons")):
        circle(ax, (x, 1.6), 0.9, name, fc=color, alpha=0.85, fontsize=10, color="white", weight="bold")
    box(ax, (3.6, 3.55), 2.8, 0.6, "Poisson drive (η = 1.5)", fc="#eeeeee", pad=0.05)
    connection = {"lw": 2, "scale": 16, "fontsize": 10}
    arrow(ax, (4.2, 3.55), (3.4, 2.5), text="J", at=(3.55, 3.1), **connection)
    arrow(ax, (5.8, 3.55), (6.6, 2.5), text="J", at=(6.45, 3.1), **connection)
    arrow(ax, (3.9, 1.9), (6.1, 1.9), color=EXC, rad=-0.25, text="80 inputs, J = 0.5 mV", at=(5, 2.55), **connection)
    arrow(ax, (6.1, 1.3), (3.9, 1.3), color=INH, rad=-0.25, style="-[", text="20 inputs, −gJ = −3 mV", at=(5, 0.65), **connection)
    arrow(ax, (2.2, 1.2), (2.2, 2.0), color=EXC, rad=-1.8, text="80 inputs, J", at=(0.55, 1.6), **connection)
    arrow(ax, (7.8, 2.0), (7.8, 1.2), color=INH, rad=-1.8, style="-[", text="20 inputs, −gJ", at=(9.5, 1.6), **connection)
    label(
        ax,
        (5, -0.1),
        "each neuron: fixed in-degree (10 % of each population), delay 1.5 ms, iaf_psc_delta",
        color="#555555",
        va="baseline",
    )
    return fig


# ---------------------------------------------------------------------------------------
# e-prop


def eprop_architecture():
    """Inputs -> recurrent LIF/ALIF neurons -> readouts; the readout error returns as a
    learning signal to every recurrent neuron (e-prop, Bellec et al. 2020)."""
    fig, ax = canvas(12, 6)
    for i in range(5):
        circle(ax, (1.2, 1 + i), 0.22, fc=GREY)
    label(ax, (1.2, 0.2), "inputs $x_i^t$", fontsize=10, va="baseline")
    recurrent = [(4.2 + 1.2 * (k % 3), 1.4 + 1.4 * (k // 3)) for k in range(9)]
    for k, (x, y) in enumerate(recurrent):
        # one colour (e-prop's recurrent neurons are not split into E and I); hatched: adaptive
        ax.add_patch(Circle((x, y), 0.3, fc=EXC, ec="black", alpha=0.8, hatch="////" if k % 3 == 0 else None))
    label(ax, (5.4, 0.3), "recurrent neurons $z_j^t$\n(plain: LIF, hatched: adaptive ALIF)", fontsize=10, va="baseline")
    arrow(ax, (1.5, 3), (3.7, 3))
    arrow(ax, (4.5, 4.2), (5.1, 4.2), rad=-0.6)
    arrow(ax, (6.9, 3), (8.7, 3))
    for y in (2.4, 3.6):
        triangle(ax, 9, y, 0.6, 0.7, fc=SIGNAL, ec="black", alpha=0.8)
    label(ax, (9.3, 1.6), "readouts $y_k^t$", fontsize=10, va="baseline")
    label(ax, (11.2, 3), "target\n$y_k^{*,t}$", fontsize=10)
    arrow(ax, (10.6, 3), (9.8, 3))
    arrow(ax, (9.3, 4.2), (5.6, 5.3), color=SIGNAL, rad=0.3, ls="--")
    label(ax, (7.6, 5.5), r"learning signal $L_j^t = \sum_k B_{jk}(y_k^t - y_k^{*,t})$", color=SIGNAL, fontsize=10, va="baseline")
    return fig


def eprop_network(ax=None, *, kind: str = "regression"):
    """The notebook's e-prop network: populations as boxes, connections as arrows
    labelled with their NEST synapse model. ``kind`` is ``"regression"`` (notebook 1,
    ``eprop_iaf``) or ``"classification"`` (notebook 2, ``_bsshslm_2020`` models).
    Returns the axes."""
    if kind not in ("regression", "classification"):
        raise ValueError(f"kind must be 'regression' or 'classification', got {kind!r}")
    suffix = "" if kind == "regression" else "_bsshslm_2020"
    _, ax = canvas((-0.01, 1.01), (0, 1.05), (10, 3.6), ax=ax, equal=False)
    boxes = {
        "generators": (0.0, 0.6, "spike_generator\n(task input)"),
        "inputs": (0.26, 0.6, "parrot_neuron\ninputs"),
        "rec": (
            0.53,
            0.56,
            "eprop_iaf" + ("(_adapt)" if suffix else "") + "\n" + ("recurrent" if kind == "regression" else "regular + adaptive"),
        ),
        "readout": (0.84, 0.6, "eprop_readout\n" + ("readout(s)" if kind == "regression" else "left, right")),
        "target": (0.84, 0.06, "step_rate_generator\n(target)"),
    }
    size = {"rec": (0.18, 0.3)}
    place = {}
    for name, (x, y, text) in boxes.items():
        w, h = size.get(name, (0.15, 0.22))
        box(ax, (x, y), w, h, text, fc="#f2f2f2", lw=1, pad=0.01, fontsize=8)
        place[name] = (x, y, w, h)
    small = {"lw": 1.0, "scale": 10, "fontsize": 7}
    note = {"fontsize": 7, "va": "baseline"}

    def connect(a, b, text, *, dy=0.0):  # left to right, between the boxes' sides
        (xa, ya, wa, ha), (xb, yb, _, hb) = place[a], place[b]
        start, end = (xa + wa, ya + ha / 2 + dy), (xb, yb + hb / 2 + dy)
        arrow(ax, start, end, text=text, at=((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + 0.05), va="baseline", **small)

    connect("generators", "inputs", "one_to_one")
    connect("inputs", "rec", "eprop_synapse")
    connect("rec", "readout", "eprop_synapse", dy=0.05)
    (xr, yr, wr, hr), (xo, yo, wo, ho), (xt, yt, wt, ht) = place["rec"], place["readout"], place["target"]
    arrow(ax, (xo, yo + 0.04), (xr + wr, yr + 0.04), color=PALETTE[3], **small)
    label(ax, (xr + wr / 2, yr - 0.12), "learning signal:\neprop_learning_signal_connection", color=PALETTE[3], **note)
    arrow(ax, (xr + 0.06, yr + hr), (xr + 0.14, yr + hr), rad=-1.6, **small)
    label(ax, (xr + wr / 2, yr + hr + 0.21), "recurrent: eprop_synapse", **note)
    arrow(ax, (xt + wt / 2, yt + ht), (xo + wo / 2, yo), color=PALETTE[2], **small)
    label(
        ax,
        (xt - 0.01, yt + ht / 2),
        "target: rate_connection_delayed,\nreceptor_type 2",
        fontsize=7,
        color=PALETTE[2],
        ha="right",
    )
    receptor_1 = "softmax: readout to readout," if kind == "classification" else "learning window:"
    label(ax, (xo + wo / 2, yo + ho + 0.05), f"{receptor_1} receptor_type 1", color=PALETTE[2], **note)
    if suffix:
        label(
            ax,
            (0.0, 0.05),
            f"every e-prop model here has the suffix {suffix}",
            fontsize=8,
            style="italic",
            ha="left",
            va="baseline",
        )
    return ax


# ---------------------------------------------------------------------------------------
# sequence learning


def sequence_contexts():
    """Two sequences that share elements, A-D-B-E and F-D-B-C: one subpopulation per element,
    each with its own inhibitory neuron (winner-take-all: excited by the subpopulation, it
    inhibits it back). Learned connections onto the dendrites predict the next element;
    after B, which of E or C follows depends on the context, carried by different B neurons."""
    fig, ax = canvas(13, 7.2, (10, 5.5))
    first, second = SIGNAL, PALETTE[3] if len(PALETTE) > 3 else GREY
    places = {"A": (1.4, 5.0), "F": (1.4, 1.6), "D": (4.9, 3.3), "B": (8.1, 3.3), "E": (11.6, 5.0), "C": (11.6, 1.6)}
    for letter, (x, y) in places.items():
        box(ax, (x - 1.2, y - 0.55), 2.4, 1.1, fc=EXC, alpha=0.25)
        for n in range(4):
            color = EXC
            if letter in ("D", "B"):
                color = first if n < 2 else second  # different D and B neurons fire in the two contexts
            x0 = x - 1.05 + 0.36 * n
            ax.add_patch(Polygon([(x0, y - 0.35), (x0 + 0.24, y - 0.35), (x0 + 0.12, y + 0.1)], fc=color, ec="black", lw=0.5))
        label(ax, (x, y + 0.72), letter, fontsize=11, weight="bold", va="baseline")
        # the element's inhibitory neuron, excited by the subpopulation, inhibiting it back
        circle(ax, (x + 0.85, y - 0.12), 0.2, fc=INH, lw=0.5)
        arrow(ax, (x + 0.38, y + 0.05), (x + 0.64, y + 0.0), lw=0.9)
        arrow(ax, (x + 0.66, y - 0.28), (x + 0.4, y - 0.28), color=INH, lw=0.9)
    for (u, v), color in {
        ("A", "D"): first,
        ("B", "E"): first,
        ("F", "D"): second,
        ("B", "C"): second,
    }.items():
        (x0, y0), (x1, y1) = places[u], places[v]
        arrow(ax, (x0 + 1.3, y0 + (0.15 if y1 >= y0 else -0.15)), (x1 - 1.3, y1), color=color, rad=0.1, lw=2)
    # D -> B twice: the D neurons of each context predict the B neurons of the same context
    (xd, yd), (xb, yb) = places["D"], places["B"]
    arrow(ax, (xd + 1.3, yd + 0.25), (xb - 1.3, yb + 0.25), color=first, rad=-0.25, lw=2)
    arrow(ax, (xd + 1.3, yd - 0.25), (xb - 1.3, yb - 0.25), color=second, rad=0.25, lw=2)
    label(
        ax, (6.5, 6.7), "A-D-B-E and F-D-B-C share D-B: different D and B neurons carry each context", fontsize=10, va="baseline"
    )
    label(
        ax,
        (6.5, 0.25),
        "arrows: learned synapses onto dendrites (a dAP predicts the next element);  "
        "circles: each element's inhibitory neuron (winner-take-all)",
        fontsize=8,
        color=GREY,
        va="baseline",
    )
    return fig


def sequence_neuron(axes=None):
    """The sequence part's model pair: the neuron's soma and active dendrite with its
    three input ports, the dAP plateau, and the synapse's permanence update with the dAP
    trace as third factor; beside it, a dAP against time. Returns the two axes."""
    apply_style()
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [1.15, 1]})
    ax, ax_dap = axes
    canvas((0, 1), (-0.25, 1), ax=ax, equal=False)
    note = {"fontsize": 8, "ha": "left", "va": "baseline"}
    port = {"lw": 1.3, "scale": 11, **note}

    box(ax, (0.36, 0.62), 0.28, 0.16, "dendrite\nI_dend > theta_dAP: dAP", fc="#e8f1f8", ec=PALETTE[0], pad=0.02, fontsize=8)
    ax.plot([0.5, 0.5], [0.44, 0.6], color="k", lw=2)
    circle(ax, (0.5, 0.32), 0.12, "soma\nV_m > V_th: spike", fc="#fbe9e0", ec=PALETTE[1])
    arrow(
        ax, (0.04, 0.74), (0.35, 0.72), color=PALETTE[0], text="dend_spikes\n(recurrent, permanence_synapse)", at=(0, 0.8), **port
    )
    arrow(ax, (0.04, 0.34), (0.37, 0.34), color=PALETTE[2], text="soma_spikes (stimulus)", at=(0.0, 0.37), **port)
    arrow(ax, (0.04, 0.2), (0.39, 0.26), color=PALETTE[3], text="inh_spikes (inhibition,\nnegative weight)", at=(0, 0.07), **port)
    arrow(ax, (0.62, 0.32), (0.92, 0.32), text="spike", at=(0.74, 0.35), **port)
    label(ax, (0.67, 0.52), "dAP plateau I_p\ndepolarises the soma\n(a prediction)", color=PALETTE[0], **note)
    label(ax, (0.70, 0.88), "dAP_trace: +1 pA per dAP,\ndecays with tau_h;\nread by the synapse", color=PALETTE[4], **note)
    label(
        ax,
        (0.02, -0.08),
        "permanence_synapse, at a postsynaptic spike dt_min..dt_max after a presynaptic one:\n"
        "  P += lambda_plus * pre_trace * P_max  +  lambda_h * (zt - dAP_trace) * P_max\n"
        "transmits Wmax only when P > permanence_threshold (mature)",
        fontsize=8,
        family="monospace",
        ha="left",
        va="top",
    )

    # the dAP: dendritic current against time, input crossing threshold then the plateau
    t = np.linspace(0, 100, 1001)
    current = np.where(t < 10, 0.0, 70 * (t - 10) / 5 * np.exp(1 - (t - 10) / 5))
    start = np.argmax(current > 59)
    current[start:] = np.where(t[start:] < t[start] + 60, 200.0, 0.0)
    ax_dap.plot(t, current, color=PALETTE[0])
    ax_dap.axhline(59, color="gray", ls=":", lw=1)
    ax_dap.text(72, 65, "theta_dAP", fontsize=8, color="gray")
    ax_dap.annotate("", xy=(t[start] + 60, 215), xytext=(t[start], 215), arrowprops={"arrowstyle": "<->"})
    ax_dap.text(t[start] + 30, 222, "tau_dAP", ha="center", fontsize=8)
    ax_dap.text(t[start] + 30, 185, "I_p", ha="center", va="top", fontsize=8)
    ax_dap.set_xlabel("time (ms)")
    ax_dap.set_ylabel("I_dend (pA)")
    ax_dap.set_title("a dendritic action potential (dAP)", fontsize=10)
    ax_dap.set_ylim(-5, 245)
    return axes


def sequence_network(ax=None, vocabulary=("A", "B", "C", "D", "E", "F"), *, n_per_element: int = 150):
    """The sequence part's network as notebook 2 builds it: one subpopulation of
    ``n_per_element`` excitatory neurons and one inhibitory neuron per element of
    ``vocabulary``, the stimulus of each element, plastic recurrent synapses between all
    excitatory neurons, and winner-take-all inhibition within each subpopulation. The
    default ``n_per_element`` is ``sequences.SequenceConfig``'s. Returns the axes."""
    _, ax = canvas((0.05, 1.25), (0.1, 1.0), (10, 3.6), ax=ax, equal=False)
    width = 0.8 / len(vocabulary)
    centres = [0.1 + k * width + width * 0.375 for k in range(len(vocabulary))]
    for element, x in zip(vocabulary, centres):
        left = x - width * 0.375
        box(
            ax,
            (left, 0.45),
            width * 0.75,
            0.25,
            f"{element}\n{n_per_element} exc.",
            fc="#fbe9e0",
            ec=PALETTE[1],
            pad=0.01,
            fontsize=8,
        )
        circle(ax, (x, 0.22), 0.035, "inh", fc="#ece4f0", ec=PALETTE[3], fontsize=7)
        arrow(ax, (left + width * 0.25, 0.45), (left + width * 0.3, 0.255), lw=1.0, scale=8)
        arrow(ax, (left + width * 0.45, 0.255), (left + width * 0.5, 0.45), color=PALETTE[3], style="-[", lw=1.0, scale=5)
        arrow(
            ax, (x, 0.92), (x, 0.71), color=PALETTE[2], lw=1.0, scale=8, text="stimulus", at=(x, 0.94), fontsize=7, va="baseline"
        )
    for a, b, rad in ((0, 3, -0.35), (3, 1, 0.35), (1, 4, -0.35)):
        arrow(ax, (centres[a], 0.71), (centres[b], 0.71), color=PALETTE[0], rad=rad, lw=1.0, scale=9)
    label(
        ax,
        (0.92, 0.62),
        "recurrent: permanence_synapse\nexc -> exc (dendrite), fixed in-degree\n(shown: A->D->B->E once learned)",
        fontsize=8,
        color=PALETTE[0],
        ha="left",
    )
    label(
        ax,
        (0.92, 0.24),
        "winner-take-all: each element's\nneurons -> its inh neuron -> back\n(inh_spikes, negative weight)",
        fontsize=8,
        color=PALETTE[3],
        ha="left",
    )
    return ax


# ---------------------------------------------------------------------------------------
# compartmental neurons and astrocytes


def compartment_trees():
    """A branching morphology (many segments) and its NEAT reduction as notebook 3 fits it:
    a compartment at the soma and at each of four input sites, two support compartments on
    the path to each site (at 1/3 and 2/3 of its distance) and the two branch points NEAT
    adds where those paths part: 15 compartments, coupled by conductances. The oblique
    branch leaves the apical dendrite below the point where the paths to the trunk site and
    to the tuft part, as on the layer 2/3 cell of notebook 3."""
    apply_style()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.4))
    for ax in (left, right):
        canvas((-5, 5), (-3, 7), ax=ax)
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
    circle(left, (0, 0), 0.5, fc=EXC)
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
            circle(right, (x, y), 0.45, fc=EXC)
        elif kind == "site":
            circle(right, (x, y), 0.32, fc=SIGNAL)
            label(right, (x + (0.45 if x >= 0 else -0.45), y), name, fontsize=8, ha="left" if x >= 0 else "right")
        elif kind == "support":
            circle(right, (x, y), 0.17, fc=GREY, lw=0.8)
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
    fig, ax = canvas(12, 5.6)
    triangle(ax, 1, 2.5, 1.2, 1, fc=EXC, ec="black")
    label(ax, (1.5, 1.5), "presynaptic\nneuron", va="baseline")
    triangle(ax, 8.5, 2.5, 1.2, 1, fc=EXC, ec="black")
    label(ax, (9.1, 1.5), "postsynaptic\nneuron", va="baseline")
    arrow(ax, (2.3, 2.5), (8.4, 2.5), text="primary: synapse (weight $w$)", at=(5.3, 2.05), va="baseline")
    circle(ax, (5.3, 4.0), 0.55, "astrocyte", fc=SIGNAL, alpha=0.8)
    circle(ax, (7.0, 4.6), 0.4, fc=SIGNAL, alpha=0.35)
    arrow(
        ax,
        (4.0, 2.6),
        (4.8, 3.6),
        color=SIGNAL,
        rad=-0.2,
        text="third_in: glutamate\n→ IP$_3$ → Ca$^{2+}$",
        at=(2.7, 3.4),
        va="baseline",
    )
    arrow(
        ax,
        (5.9, 3.8),
        (8.6, 2.9),
        color=SIGNAL,
        rad=-0.3,
        ls="--",
        text="third_out: slow inward\ncurrent (SIC)",
        at=(9.6, 3.7),
        va="baseline",
    )
    box(ax, (4.6, 3.3), 3.0, 1.85, ec=SIGNAL, ls=":")
    label(
        ax,
        (6.1, 5.35),
        "the postsynaptic neuron's pool: the astrocytes its connections can be paired with",
        fontsize=8.5,
        color=SIGNAL,
        va="baseline",
    )
    return fig
