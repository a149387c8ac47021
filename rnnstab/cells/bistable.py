"""Bistable recurrent cells: BRC (neuromodulated bistability per unit) and nBRC (gates see the whole layer).

    c_t = sigmoid(x U_c + h_{t-1} (*) w_c + b_c)                       BRC: w_c a vector (elementwise)
    a_t = 1 + tanh(x U_a + h_{t-1} (*) w_a + b_a)                      nBRC: h_{t-1} W_c, h_{t-1} W_a
    h_t = c_t * h_{t-1} + (1 - c_t) * tanh(x U_h + a_t * h_{t-1} + b_h)

a_t in (0, 2); a unit with a_t > 1 is bistable, which is what lets BRC hold information indefinitely.

References:
  Vecoven, Ernst & Drion, "A bio-inspired bistable recurrent cell allows for long-lasting memory",
  PLOS ONE 2021, arXiv 2006.05252.
"""
from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp

from rnnstab.cells.base import Cell, dot, f32, glorot


@dataclasses.dataclass(frozen=True)
class BRC(Cell):
  """Bistable recurrent cell (each unit sees only its own past).

  Params: U_g (D, H) and b_g (H,) for g in c, a, h; w_c (H,); w_a (H,).
  Default init (the authors' code): U_g Glorot-uniform, w_c = w_a = 1, b_g = 0. The candidate
  bias b_h is kept (zero at init) as in the warmup paper's implementation; the original BRC code has none.

  References: Vecoven, Ernst & Drion 2021, arXiv 2006.05252.
  """

  recurrent_params: ClassVar[tuple[str, ...]] = ("w_c", "w_a")
  gates: ClassVar[tuple[str, ...]] = ("c", "a", "h")

  def _input_params(self, key, input_size):
    H, dt = self.hidden_size, self.param_dtype
    params = {}
    for g, k in zip(self.gates, jax.random.split(key, 3)):
      params[f"U_{g}"] = glorot(k, (input_size, H), dt)
      params[f"b_{g}"] = jnp.zeros((H,), dt)
    return params

  def init(self, key, input_size):
    H, dt = self.hidden_size, self.param_dtype
    return {**self._input_params(key, input_size), "w_c": jnp.ones((H,), dt), "w_a": jnp.ones((H,), dt)}

  def _recurrent_gates(self, params, h):
    return f32(params["w_c"]) * h, f32(params["w_a"]) * h

  def recur(self, params, state, xp):
    hc, ha = self._recurrent_gates(params, state)
    c = jax.nn.sigmoid(xp["c"] + hc)
    a = 1.0 + jnp.tanh(xp["a"] + ha)
    h = c * state + (1.0 - c) * jnp.tanh(xp["h"] + a * state)
    return h, h


@dataclasses.dataclass(frozen=True)
class NBRC(BRC):
  """Neuromodulated bistable recurrent cell: the gates c and a read the whole layer through W.

  Params: U_g (D, H) and b_g (H,) for g in c, a, h; W_c (H, H); W_a (H, H).
  Default init: U_g and W_g Glorot-uniform, b_g = 0 (the warmup paper's code; the BRC repository's
  benchmark scripts used orthogonal W, available as ``recurrent_init="orthogonal"``).

  References: Vecoven, Ernst & Drion 2021, arXiv 2006.05252.
  """

  recurrent_params: ClassVar[tuple[str, ...]] = ("W_c", "W_a")
  recurrent_inits: ClassVar[tuple[str, ...]] = ("default", "orthogonal")

  def init(self, key, input_size):
    H, dt = self.hidden_size, self.param_dtype
    ku, kc, ka = jax.random.split(key, 3)
    W = {f"W_{g}": glorot(k, (H, H), dt) if self.recurrent_init == "default" else self._recurrent_matrix(k)
         for g, k in (("c", kc), ("a", ka))}
    return {**self._input_params(ku, input_size), **W}

  def _recurrent_gates(self, params, h):
    return dot(h, params["W_c"]), dot(h, params["W_a"])
