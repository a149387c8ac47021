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


# The settings in which ``ALIFLSC`` differs from ``ALIF``.
LSC_AUTHORS = dict(tau_m=0.1, b0=0.01, surrogate="fast_sigmoid", surrogate_width=0.5, dampening=0.5,
                   spike_in_state=False, normalised_adaptation=True, detach_reset=True)


@dataclasses.dataclass(frozen=True)
class ALIF(Cell):
  """Recurrent adaptive LIF neurons (the LSNN / e-prop formulation), reset by subtracting the threshold.

      v' = alpha v + x U + z W + b - z A            membrane; alpha = exp(-1 / tau_m)
      a' = rho a + z                                 adaptation; rho = exp(-1 / tau_a)
      A' = b0 + beta a'                              adaptive threshold
      z' = H((v' - A') / w)                          spike, surrogate derivative 0.3 max(0, 1 - |.|)

  State: {"v", "a", "z"} (every part enters the next step, so all three make up the state Jacobian).
  Output: the spikes z. With ``spike_in_state=False`` (the LSC authors' form) the state is {"v", "a"}
  alone and the last spike is recomputed from it, z = H((v - b0 - beta a) / w): the time and depth
  Jacobians are then taken over the membrane and adaptation only, and the depth path passes through the
  surrogate of the layer below. Params: U (D, H) ~ N(0, 1/D), W (H, H) ~ N(0, 1/H) with no self-connections
  (its diagonal is held at zero), b (H,) zeros.
  Settings: tau_m = 20, tau_a = 200 steps, b0 = 0.01, beta = 1.8 (Bellec et al. 2018's sequential MNIST).
  The surrogate's width w (``surrogate_width``) is the distance from threshold, in membrane units, over
  which a spike passes gradient: b0 in Bellec et al. (the default, None), so the pseudo-derivative peaks
  at 0.3 / b0 = 30 inside a window 0.02 wide (``ALIFLSC``: 0.5). ``surrogate`` picks its shape
  ("triangle", Bellec et al.; "fast_sigmoid", Zenke & Ganguli 2018) and ``dampening`` its peak. No
  Bellec setting tried lets LSC pre-training reach the depth target; ``ALIFLSC`` (the LSC authors' form,
  ``--cell=alif_lsc``) does, with a smaller pre-training learning rate (docs/lsc.md).
  ``normalised_adaptation`` makes a' = rho a + (1 - rho) z (the LSC authors' code), and ``detach_reset``
  stops the gradient through the reset term z (b0 + beta a) (the authors' code, and Bellec et al.'s option).

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
  spike_in_state: bool = True
  normalised_adaptation: bool = False
  detach_reset: bool = False

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
    return {"v": zeros, "a": zeros, "z": zeros} if self.spike_in_state else {"v": zeros, "a": zeros}

  def output(self, state):
    return state["z"] if self.spike_in_state else self._spike(state["v"], state["a"])

  def _spike(self, v, a):
    width = self.b0 if self.surrogate_width is None else self.surrogate_width
    return spike((v - (self.b0 + self.beta * a)) / width, self.surrogate, self.dampening)

  def project(self, params, x):
    return dot(x, params["U"]) + f32(params["b"])

  def prepare(self, params):
    """Params with W's diagonal masked to zero ("W_offdiag": no self-connections), once per sequence
    instead of every step; idempotent."""
    return params if "W_offdiag" in params else {**params, "W_offdiag": self._offdiag(params)}

  def _offdiag(self, params):
    return f32(params["W"]) * (1.0 - jnp.eye(self.hidden_size, dtype=jnp.float32))

  def recur(self, params, state, xp):
    alpha, rho = math.exp(-1.0 / self.tau_m), math.exp(-1.0 / self.tau_a)
    v, a = state["v"], state["a"]
    z = self.output(state)
    W = params["W_offdiag"] if "W_offdiag" in params else self._offdiag(params)
    # The reset subtracts the threshold that was crossed, the one in force when z fired.
    reset = z * (self.b0 + self.beta * a)
    v = alpha * v + xp + dot(z, W) - (jax.lax.stop_gradient(reset) if self.detach_reset else reset)
    a = rho * a + ((1.0 - rho) * z if self.normalised_adaptation else z)
    z = self._spike(v, a)
    return ({"v": v, "a": a, "z": z} if self.spike_in_state else {"v": v, "a": a}), z


@dataclasses.dataclass(frozen=True)
class ALIFLSC(ALIF):
  """ALIF as the LSC authors' code runs it (LuCeHe/stable_drnn, their "maLSNN"); LSC pre-training brings it
  to its targets (docs/lsc.md, with --lsc_lr=3e-3).

  The state is {v, a} with the last spike recomputed from it; tau_m = 0.1, so the membrane forgets each
  step and v is the present input; b0 = 0.01; the fast-sigmoid surrogate 0.5 / (1 + |2 u|)^2 (width 0.5,
  dampening 0.5), which passes gradient at any distance from threshold; normalised adaptation
  a' = rho a + (1 - rho) z; the reset carries no gradient. tau_a and beta stay Bellec et al.'s.

  References:
    Herranz-Celotti & Rouat, "Stabilizing RNN gradients through pre-training", arXiv 2308.12075.
    Bellec et al., NeurIPS 2018 (the ALIF neuron).
  """

  tau_m: float = LSC_AUTHORS["tau_m"]
  b0: float = LSC_AUTHORS["b0"]
  surrogate: str = LSC_AUTHORS["surrogate"]
  surrogate_width: float | None = LSC_AUTHORS["surrogate_width"]
  dampening: float = LSC_AUTHORS["dampening"]
  spike_in_state: bool = LSC_AUTHORS["spike_in_state"]
  normalised_adaptation: bool = LSC_AUTHORS["normalised_adaptation"]
  detach_reset: bool = LSC_AUTHORS["detach_reset"]
