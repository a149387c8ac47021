"""Adaptive leaky integrate-and-fire (ALIF) spiking neurons, trained through a surrogate derivative."""
from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import jax
import jax.numpy as jnp

from rnnstab.cells.base import Cell, batch_shape, dot, f32


@jax.custom_jvp
def spike(u):
  """Heaviside H(u) = 1[u > 0] forward; its derivative is replaced by ``surrogate_derivative``."""
  return (u > 0).astype(jnp.float32)


def surrogate_derivative(u):
  """Bellec et al.'s piecewise-linear pseudo-derivative 0.3 * max(0, 1 - |u|) (dampening factor 0.3)."""
  return 0.3 * jnp.maximum(0.0, 1.0 - jnp.abs(u))


@spike.defjvp
def _spike_jvp(primals, tangents):
  (u,), (du,) = primals, tangents
  return spike(u), surrogate_derivative(u) * du


@dataclasses.dataclass(frozen=True)
class ALIF(Cell):
  """Recurrent adaptive LIF neurons (the LSNN / e-prop formulation), reset by subtracting the threshold.

      v' = alpha v + x U + z W + b - z A            membrane; alpha = exp(-1 / tau_m)
      a' = rho a + z                                 adaptation; rho = exp(-1 / tau_a)
      A' = b0 + beta a'                              adaptive threshold
      z' = H((v' - A') / b0)                         spike, surrogate derivative 0.3 max(0, 1 - |.|)

  State: {"v", "a", "z"} (every part enters the next step, so all three make up the state Jacobian).
  Output: the spikes z. Params: U (D, H) ~ N(0, 1/D), W (H, H) ~ N(0, 1/H) with no self-connections
  (its diagonal is held at zero), b (H,) zeros.
  Settings: tau_m = 20, tau_a = 200 steps, b0 = 0.01, beta = 1.8 (Bellec et al. 2018's sequential MNIST).

  References:
    Bellec, Salaj, Subramoney, Legenstein & Maass, "Long short-term memory and learning-to-learn in
    networks of spiking neurons", NeurIPS 2018.
    Bellec et al., "A solution to the learning dilemma for recurrent networks of spiking neurons"
    (e-prop), Nature Communications 2020.
  """

  tau_m: float = 20.0
  tau_a: float = 200.0
  b0: float = 0.01
  beta: float = 1.8

  recurrent_params: ClassVar[tuple[str, ...]] = ("W",)

  def init(self, key, input_size):
    H, dt = self.hidden_size, self.param_dtype
    ku, kw = jax.random.split(key)
    W = jax.random.normal(kw, (H, H), jnp.float32) / math.sqrt(H)
    return {"U": (jax.random.normal(ku, (input_size, H), jnp.float32) / math.sqrt(input_size)).astype(dt),
            "W": (W * (1.0 - jnp.eye(H))).astype(dt),
            "b": jnp.zeros((H,), dt)}

  def initial_state(self, params, batch):
    zeros = jnp.zeros(batch_shape(batch) + (self.hidden_size,), jnp.float32)
    return {"v": zeros, "a": zeros, "z": zeros}

  def output(self, state):
    return state["z"]

  def project(self, params, x):
    return dot(x, params["U"]) + f32(params["b"])

  def recur(self, params, state, xp):
    alpha, rho = math.exp(-1.0 / self.tau_m), math.exp(-1.0 / self.tau_a)
    v, a, z = state["v"], state["a"], state["z"]
    W = f32(params["W"]) * (1.0 - jnp.eye(self.hidden_size, dtype=jnp.float32))  # no self-connections
    v = alpha * v + xp + dot(z, W) - z * (self.b0 + self.beta * a)
    a = rho * a + z
    z = spike((v - (self.b0 + self.beta * a)) / self.b0)
    return {"v": v, "a": a, "z": z}, z
