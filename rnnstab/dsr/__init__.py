"""Dynamical-systems reconstruction: ground-truth systems and the measures that compare a model's
free-running trajectories with them (state-space divergence, power-spectrum distance, Lyapunov exponents)."""
from rnnstab.dsr.lyapunov import lyapunov_spectrum, max_lyapunov
from rnnstab.dsr.measures import power_spectrum_distance, state_space_divergence, state_space_divergence_gmm
from rnnstab.dsr.systems import SYSTEMS, bursting_neuron, integrate, lorenz63, simulate

__all__ = ["SYSTEMS", "bursting_neuron", "integrate", "lorenz63", "lyapunov_spectrum", "max_lyapunov", "power_spectrum_distance",
           "simulate", "state_space_divergence", "state_space_divergence_gmm"]
