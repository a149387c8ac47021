"""Measures of a network's dynamics: reachable multistability (equilibria, VAA), and more with later issues."""
from rnnstab.analysis.multistability import (Multistability, autonomous, constant_input, distinct, flat_state,
                                             measure, newton, reach, settle, spectral_radius,
                                             state_jacobians)
from rnnstab.analysis.vaa import pairwise_distances, vaa, vaa_star

__all__ = ["Multistability", "autonomous", "constant_input", "distinct", "flat_state", "measure",
           "newton", "pairwise_distances", "reach", "settle", "spectral_radius", "state_jacobians", "vaa",
           "vaa_star"]
