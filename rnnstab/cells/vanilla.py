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

from rnnstab.cells.base import Cell, dot, f32


@dataclasses.dataclass(frozen=True)
class _Elman(Cell):
  recurrent_inits: ClassVar[tuple[str, ...]] = ("default", "orthogonal", "identity")
  gates: ClassVar[tuple[str, ...]] = ("h",)

  def activation(self, z):
    raise NotImplementedError  # tanh or relu, set by the subclass

  def init(self, key, input_size):
    """Default: U, W, b ~ U(-1/sqrt(H), 1/sqrt(H)) as in PyTorch's nn.RNN (the warmup paper's setting);
    "orthogonal" or "identity" replace W, and "identity" also zeroes b (IRNN); "irnn" (ReLU RNN only) is
    "identity" with input weights U ~ N(0, 1/H^2), the IRNN baseline as the rPLRNN authors build it."""
    p = self._pytorch_gates(key, input_size)
    params = {"U": p["U_h"], "W": p["W_h"], "b": p["b_h"]}
    if self.recurrent_init in ("identity", "irnn"):
      params["b"] = jnp.zeros_like(params["b"])
    if self.recurrent_init == "irnn":
      # Small inputs to perfect integrators: 1/H, not PyTorch's 1/sqrt(3H), per unit and step.
      ku = jax.random.fold_in(key, 0x1)
      params["U"] = (jax.random.normal(ku, (input_size, self.hidden_size), jnp.float32)
                     / self.hidden_size).astype(self.param_dtype)
    return params

  def project(self, params, x):
    return dot(x, params["U"]) + f32(params["b"])

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
  """ReLU RNN, h_t = relu(x_t U + h_{t-1} W + b); ``recurrent_init="identity"`` gives the IRNN (W = I,
  b = 0), and ``"irnn"`` the IRNN with small Gaussian input weights, U ~ N(0, 1/H^2), as the rPLRNN
  paper's baseline (its authors' code; PyTorch's default U is 3.6 times larger at H = 40).

  Params: U (D, H), W (H, H), b (H,). State: h (B, H). Output: h.

  References: Le, Jaitly & Hinton 2015, arXiv 1504.00941; Schmidt et al., ICLR 2021 (the iRNN baseline).
  """

  recurrent_inits: ClassVar[tuple[str, ...]] = ("default", "orthogonal", "identity", "irnn")

  def activation(self, z):
    return jax.nn.relu(z)
