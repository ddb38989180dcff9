"""Compartmental neurons with NEST's ``cm_default``: trees of compartments, receptors on
them, and dendritic computation; the same trees in the part's NESTML model; a
reconstructed morphology reduced with NEAT.

The notebooks of ``materials/compartmental`` use one submodule each (and call them all
through this package: ``from nest_workshop import compartmental``, ``compartmental.X``):

``cells``
    Notebook 1: the workshop's "ball and sticks" neuron (``BallAndSticks``), receptors,
    synchronous volleys and the summation experiments (``volleys``, ``summation``),
    reading a multimeter (``recorded``) and the voltage figure.
``nestml_model``
    Notebook 2: the part's NESTML model ``cm_with_ih`` (cm_default plus an h-current),
    its build (``build_model``), the h-current's kinetics, one neuron in either model
    (``run_cell``) or both side by side (``compare_models``), the sag and rebound of a
    hyperpolarising step and the summation of EPSP trains.
``reduction``
    Notebook 3: NEAT's reduction of a reconstructed morphology (``load_morphology``,
    ``reduce_morphology``), NEURON's simulation of the full cell, the comparison of their
    EPSPs (``compare_epsps``) and the figures.
``tolerance``
    Notebook 3, bring your own neuron: sites by distance (``sites_at_distances``) and a
    reduction to a stated accuracy (``reduce_to_tolerance``).
``network``
    Notebook 3, the E/I network of reduced neurons: its NMDA current and state
    (``network_state``) and its figure.

NEAT, NEURON and NEST write banners and folders as side effects; the generic isolation
from them is :mod:`nest_workshop.core.isolation`.

The names below are re-exported here. A test or a tool that replaces a module-level name
(``monkeypatch.setattr``) patches the submodule that reads it, e.g.
``compartmental.reduction``: patching this package's copy changes nothing.
"""

from .cells import (
    ACTIVE_SOMA,
    DENDRITE,
    RECEPTOR_TYPES,
    SOMA,
    BallAndSticks,
    check_neuron,
    check_receptors,
    create_neuron,
    input_weights,
    plot_voltages,
    recorded,
    summation,
    synchronous_input,
    volleys,
)
from .nestml_model import (
    COMPARTMENT_KEYS,
    CURRENT_INPUT,
    E_H,
    MODEL_CHANNEL_KEYS,
    MODELS,
    NESTML_MODEL,
    build_model,
    check_compartments,
    compare_models,
    epsp_amplitudes,
    epsp_train,
    hyperpolarising_step,
    ih_gradient,
    ih_kinetics,
    plot_sag,
    run_cell,
    sag_measures,
    set_ih,
    spike_time_differences,
)
from .network import network_state, nmda_current, nmda_unblocked, plot_network_states
from .reduction import (
    ACTIVE_SOMA_DENSITY,
    AMPA,
    FULL_MODEL_LAMBDA_FACTOR,
    IH_CHANNEL,
    IH_SOMA_DENSITY,
    NEAT_CACHE_ENV,
    NEAT_REGIONS,
    NEAT_TO_NESTML_CHANNEL,
    NEAT_WORKDIR,
    PASSIVE,
    SWC_TYPES,
    ReducedNeuron,
    accuracy_report,
    check_sites,
    check_swc,
    compare_epsps,
    create_reduced,
    current_step_full,
    distance_to_soma,
    epsp_full,
    epsp_reduced,
    ih_channel,
    ih_density_apical,
    import_neat,
    load_morphology,
    load_neuron_mechanisms,
    neat_cache_dir,
    neat_workdir,
    neuron_mechanisms_dir,
    plot_epsp_comparison,
    plot_morphology,
    reduce_morphology,
    reduced_neuron,
    site_region,
    support_locations,
)
from .tolerance import (
    MAX_TOLERANCE_STEPS,
    PLATEAU_STEPS,
    REGIONS,
    ToleranceReduction,
    reduce_to_tolerance,
    side_branch_locations,
    sites_at_distances,
)

__all__ = [
    # cells (notebook 1)
    "ACTIVE_SOMA",
    "DENDRITE",
    "RECEPTOR_TYPES",
    "SOMA",
    "BallAndSticks",
    "check_neuron",
    "check_receptors",
    "create_neuron",
    "input_weights",
    "plot_voltages",
    "recorded",
    "summation",
    "synchronous_input",
    "volleys",
    # nestml_model (notebook 2)
    "COMPARTMENT_KEYS",
    "CURRENT_INPUT",
    "E_H",
    "MODEL_CHANNEL_KEYS",
    "MODELS",
    "NESTML_MODEL",
    "build_model",
    "check_compartments",
    "compare_models",
    "epsp_amplitudes",
    "epsp_train",
    "hyperpolarising_step",
    "ih_gradient",
    "ih_kinetics",
    "plot_sag",
    "run_cell",
    "sag_measures",
    "set_ih",
    "spike_time_differences",
    # reduction (notebook 3)
    "ACTIVE_SOMA_DENSITY",
    "AMPA",
    "FULL_MODEL_LAMBDA_FACTOR",
    "IH_CHANNEL",
    "IH_SOMA_DENSITY",
    "NEAT_CACHE_ENV",
    "NEAT_REGIONS",
    "NEAT_TO_NESTML_CHANNEL",
    "NEAT_WORKDIR",
    "PASSIVE",
    "SWC_TYPES",
    "ReducedNeuron",
    "accuracy_report",
    "check_sites",
    "check_swc",
    "compare_epsps",
    "create_reduced",
    "current_step_full",
    "distance_to_soma",
    "epsp_full",
    "epsp_reduced",
    "ih_channel",
    "ih_density_apical",
    "import_neat",
    "load_morphology",
    "load_neuron_mechanisms",
    "neat_cache_dir",
    "neat_workdir",
    "neuron_mechanisms_dir",
    "plot_epsp_comparison",
    "plot_morphology",
    "reduce_morphology",
    "reduced_neuron",
    "site_region",
    "support_locations",
    # tolerance (notebook 3, bring your own neuron)
    "MAX_TOLERANCE_STEPS",
    "PLATEAU_STEPS",
    "REGIONS",
    "ToleranceReduction",
    "reduce_to_tolerance",
    "side_branch_locations",
    "sites_at_distances",
    # network (notebook 3, the E/I network)
    "network_state",
    "nmda_current",
    "nmda_unblocked",
    "plot_network_states",
]
