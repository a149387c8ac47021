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

from rnnstab.cells.base import Cell, dot, f32, glorot_blocks


@dataclasses.dataclass(frozen=True)
class BRC(Cell):
  """Bistable recurrent cell (each unit sees only its own past).

  Params: U (D, 3H) with blocks [c, a, h]; b (3H,); w_c (H,); w_a (H,).
  Default init (the authors' code): U Glorot-uniform per block, w_c = w_a = 1, b = 0. The candidate
  bias b_h is kept (zero at init) as in the warmup paper's implementation; the original BRC code has none.

  References: Vecoven, Ernst & Drion 2021, arXiv 2006.05252.
  """

  recurrent_params: ClassVar[tuple[str, ...]] = ("w_c", "w_a")

  def init(self, key, input_size):
    H, dt = self.hidden_size, self.param_dtype
    return {"U": glorot_blocks(key, input_size, H, 3, dt), "b": jnp.zeros((3 * H,), dt),
            "w_c": jnp.ones((H,), dt), "w_a": jnp.ones((H,), dt)}

  def _gates(self, params, h):
    return f32(params["w_c"]) * h, f32(params["w_a"]) * h

  def recur(self, params, state, xp):
    H = self.hidden_size
    hc, ha = self._gates(params, state)
    c = jax.nn.sigmoid(xp[..., :H] + hc)
    a = 1.0 + jnp.tanh(xp[..., H:2 * H] + ha)
    h = c * state + (1.0 - c) * jnp.tanh(xp[..., 2 * H:] + a * state)
    return h, h


@dataclasses.dataclass(frozen=True)
class NBRC(BRC):
  """Neuromodulated bistable recurrent cell: the gates c and a read the whole layer through W.

  Params: U (D, 3H) with blocks [c, a, h]; b (3H,); W (H, 2H) with blocks [c, a].
  Default init: U and W Glorot-uniform per block, b = 0 (the warmup paper's code; the BRC repository's
  benchmark scripts used orthogonal W, available as ``recurrent_init="orthogonal"``).

  References: Vecoven, Ernst & Drion 2021, arXiv 2006.05252.
  """

  recurrent_params: ClassVar[tuple[str, ...]] = ("W",)
  recurrent_inits: ClassVar[tuple[str, ...]] = ("default", "orthogonal")

  def init(self, key, input_size):
    H, dt = self.hidden_size, self.param_dtype
    ku, kw = jax.random.split(key)
    W = glorot_blocks(kw, H, H, 2, dt) if self.recurrent_init == "default" else self._recurrent_kernel(kw, 2)
    return {"U": glorot_blocks(ku, input_size, H, 3, dt), "b": jnp.zeros((3 * H,), dt), "W": W}

  def _gates(self, params, h):
    hw = dot(h, params["W"])
    return hw[..., :self.hidden_size], hw[..., self.hidden_size:]
