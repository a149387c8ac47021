"""Elman recurrent cells: tanh RNN, ReLU RNN and IRNN.

    h_t = phi(x_t U + h_{t-1} W + b)

References:
  Elman, "Finding structure in time", Cognitive Science 1990.
  Le, Jaitly & Hinton, "A simple way to initialize recurrent networks of rectified linear units",
  arXiv 1504.00941 (IRNN: ReLU with W = I and b = 0).
"""
from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp

from rnnstab.cells.base import Cell, dot, uniform_fan


@dataclasses.dataclass(frozen=True)
class _Elman(Cell):
  recurrent_inits: ClassVar[tuple[str, ...]] = ("default", "orthogonal", "identity")

  def activation(self, z):
    raise NotImplementedError  # tanh or relu, set by the subclass

  def init(self, key, input_size):
    """Default: every weight and bias U(-1/sqrt(H), 1/sqrt(H)) as in PyTorch's nn.RNN (the warmup paper's
    setting); "orthogonal" or "identity" replace W, and "identity" also zeroes b (IRNN)."""
    H, dt = self.hidden_size, self.param_dtype
    ku, kw, kb = jax.random.split(key, 3)
    params = {
        "U": uniform_fan(ku, (input_size, H), H, dt),
        "W": uniform_fan(kw, (H, H), H, dt),
        "b": uniform_fan(kb, (H,), H, dt),
    }
    if self.recurrent_init != "default":
      params["W"] = self._recurrent_kernel(kw, 1)
    if self.recurrent_init == "identity":
      params["b"] = jnp.zeros((H,), dt)
    return params

  def recur(self, params, state, xp):
    h = self.activation(xp + dot(state, params["W"]))
    return h, h


@dataclasses.dataclass(frozen=True)
class TanhRNN(_Elman):
  """Vanilla RNN, h_t = tanh(x_t U + h_{t-1} W + b).

  Params: U (D, H), W (H, H), b (H,). State: h (B, H). Output: h.

  References: Elman 1990.
  """

  def activation(self, z):
    return jnp.tanh(z)


@dataclasses.dataclass(frozen=True)
class ReLURNN(_Elman):
  """ReLU RNN, h_t = relu(x_t U + h_{t-1} W + b); ``recurrent_init="identity"`` gives the IRNN.

  Params: U (D, H), W (H, H), b (H,). State: h (B, H). Output: h.

  References: Le, Jaitly & Hinton 2015, arXiv 1504.00941.
  """

  def activation(self, z):
    return jax.nn.relu(z)
