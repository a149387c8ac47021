"""Measures of a network's dynamics: reachable multistability (equilibria, VAA), single-step Jacobian radii
(the Local Stability Condition), the depth x time gradient grid and Jaeger's memory capacity."""
from rnnstab.analysis.gradient_grid import gradient_grid, state_gradients
from rnnstab.analysis.jacobians import lsc_radii
from rnnstab.analysis.memory_capacity import memory_capacity, memory_curve
from rnnstab.analysis.radius import gelfand_radius, matrix_radius, power_radius, square_up
from rnnstab.analysis.multistability import (Multistability, autonomous, constant_input, distinct, flat_state,
                                             measure, newton, reach, settle, spectral_radius,
                                             state_jacobians)
from rnnstab.analysis.vaa import pairwise_distances, vaa, vaa_star

__all__ = ["Multistability", "autonomous", "constant_input", "distinct", "flat_state", "gelfand_radius",
           "gradient_grid", "lsc_radii", "matrix_radius", "measure", "memory_capacity", "memory_curve", "newton", "power_radius", "square_up",
           "state_gradients", "pairwise_distances", "reach", "settle", "spectral_radius", "state_jacobians", "vaa",
           "vaa_star"]
