"""Adaptive leaky integrate-and-fire (ALIF) spiking neurons, trained through a surrogate derivative."""
from __future__ import annotations

import dataclasses
import functools
import math
from typing import ClassVar

import jax
import jax.numpy as jnp

from rnnstab.cells.base import Cell, batch_shape, dot, f32


# Pseudo-derivative shapes, each peaking at 1 for u = 0; the cell scales them by its dampening factor.
SURROGATES = {
    # Bellec et al. 2018: zero beyond one width from threshold.
    "triangle": lambda u: jnp.maximum(0.0, 1.0 - jnp.abs(u)),
    # Zenke & Ganguli 2018 (SuperSpike): heavy tails, so a unit far from threshold still passes gradient.
    "fast_sigmoid": lambda u: 1.0 / (1.0 + jnp.abs(u)) ** 2,
}


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2))
def spike(u, surrogate="triangle", dampening=0.3):
  """Heaviside H(u) = 1[u > 0] forward; its derivative is replaced by ``surrogate_derivative``."""
  return (u > 0).astype(jnp.float32)


def surrogate_derivative(u, surrogate="triangle", dampening=0.3):
  """The pseudo-derivative dampening * shape(u); Bellec et al.'s default is 0.3 * max(0, 1 - |u|)."""
  return dampening * SURROGATES[surrogate](u)


@spike.defjvp
def _spike_jvp(surrogate, dampening, primals, tangents):
  (u,), (du,) = primals, tangents
  return spike(u, surrogate, dampening), surrogate_derivative(u, surrogate, dampening) * du


@dataclasses.dataclass(frozen=True)
class ALIF(Cell):
  """Recurrent adaptive LIF neurons (the LSNN / e-prop formulation), reset by subtracting the threshold.

      v' = alpha v + x U + z W + b - z A            membrane; alpha = exp(-1 / tau_m)
      a' = rho a + z                                 adaptation; rho = exp(-1 / tau_a)
      A' = b0 + beta a'                              adaptive threshold
      z' = H((v' - A') / w)                          spike, surrogate derivative 0.3 max(0, 1 - |.|)

  State: {"v", "a", "z"} (every part enters the next step, so all three make up the state Jacobian).
  Output: the spikes z. Params: U (D, H) ~ N(0, 1/D), W (H, H) ~ N(0, 1/H) with no self-connections
  (its diagonal is held at zero), b (H,) zeros.
  Settings: tau_m = 20, tau_a = 200 steps, b0 = 0.01, beta = 1.8 (Bellec et al. 2018's sequential MNIST).
  The surrogate's width w (``surrogate_width``) is the distance from threshold, in membrane units, over
  which a spike passes gradient: b0 in Bellec et al. (the default, None), so the pseudo-derivative peaks
  at 0.3 / b0 = 30 inside a window 0.02 wide; 1 in the LSC authors' code. ``surrogate`` picks its shape
  ("triangle", Bellec et al.; "fast_sigmoid", Zenke & Ganguli 2018) and ``dampening`` its peak. No
  setting tried lets LSC pre-training reach the depth target (docs/lsc.md).

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
  surrogate_width: float | None = None
  surrogate: str = "triangle"
  dampening: float = 0.3

  recurrent_params: ClassVar[tuple[str, ...]] = ("W",)

  def __post_init__(self):
    super().__post_init__()
    if self.surrogate not in SURROGATES:
      raise ValueError(f"surrogate: unknown surrogate {self.surrogate!r}; valid choices: {', '.join(SURROGATES)}")

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
    width = self.b0 if self.surrogate_width is None else self.surrogate_width
    z = spike((v - (self.b0 + self.beta * a)) / width, self.surrogate, self.dampening)
    return {"v": v, "a": a, "z": z}, z
