"""The echo state network: a fixed random leaky reservoir whose spectral radius is set at initialisation."""
from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp

from rnnstab.analysis.radius import gelfand_radius
from rnnstab.cells.base import Cell, dot, f32

ACTIVATIONS = ("tanh", "linear")


@dataclasses.dataclass(frozen=True)
class ESN(Cell):
  """Echo state network reservoir (leaky-integrator neurons).

      h_t = (1 - a) h_{t-1} + a phi(x_t U + h_{t-1} W + b)        phi = tanh (or identity: "linear")

  Params: U (D, H) ~ U(-input_scale, input_scale); W (H, H): N(0, 1) entries, each kept with probability
  ``density``, rescaled to spectral radius ``spectral_radius`` (Gelfand's formula, matmul-only, within
  0.3% of an eigenvalue solver); b (H,) ~ U(-bias_scale, bias_scale). State and output: h.
  With ``trainable=False`` (the default) the reservoir is fixed: its params pass through
  ``stop_gradient``, so gradient training changes only what reads it (the model's linear readout), as in
  reservoir computing; the closed-form ridge readout is ``rnnstab.analysis.memory_capacity``'s.
  Defaults: spectral radius 0.9, input scale 1, leak a = 1, dense W, no bias.

  References:
    Jaeger, "The 'echo state' approach to analysing and training recurrent neural networks", GMD Report
    148, 2001. Lukosevicius, "A practical guide to applying echo state networks", Neural Networks: Tricks
    of the Trade, 2012 (leaky integration, spectral-radius scaling).
  """

  spectral_radius: float = 0.9
  input_scale: float = 1.0
  leak: float = 1.0
  density: float = 1.0
  bias_scale: float = 0.0
  activation: str = "tanh"
  trainable: bool = False

  recurrent_params: ClassVar[tuple[str, ...]] = ("W",)

  def __post_init__(self):
    super().__post_init__()
    if self.activation not in ACTIVATIONS:
      raise ValueError(f"ESN: activation {self.activation!r} is not supported; valid choices: {', '.join(ACTIVATIONS)}")
    if not 0.0 < self.leak <= 1.0:
      raise ValueError(f"ESN: leak must be in (0, 1], got {self.leak!r}")
    if not 0.0 < self.density <= 1.0:
      raise ValueError(f"ESN: density must be in (0, 1], got {self.density!r}")

  def init(self, key, input_size):
    H, dt = self.hidden_size, self.param_dtype
    ku, kw, km, kb = jax.random.split(key, 4)
    w = jax.random.normal(kw, (H, H), jnp.float32)
    if self.density < 1.0:
      w = jnp.where(jax.random.bernoulli(km, self.density, (H, H)), w, 0.0)
    w = w * (self.spectral_radius / gelfand_radius(w))
    return {"U": jax.random.uniform(ku, (input_size, H), jnp.float32, -self.input_scale, self.input_scale).astype(dt),
            "W": w.astype(dt),
            "b": jax.random.uniform(kb, (H,), jnp.float32, -self.bias_scale, self.bias_scale).astype(dt)}

  def _fixed(self, p):
    return p if self.trainable else jax.lax.stop_gradient(p)

  def project(self, params, x):
    return dot(x, self._fixed(params["U"])) + f32(self._fixed(params["b"]))

  def recur(self, params, state, xp):
    z = xp + dot(state, self._fixed(params["W"]))
    h = (1.0 - self.leak) * state + self.leak * (jnp.tanh(z) if self.activation == "tanh" else z)
    return h, h
