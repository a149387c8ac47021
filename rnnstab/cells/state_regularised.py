"""State-regularised recurrent cells: after each step, the state is pulled to a soft mixture of learned
centroids, which makes the network behave like a finite-state machine whose states can be read off."""
from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp

from rnnstab.cells.base import Cell, dot
from rnnstab.cells.gated import GRU, MGU
from rnnstab.cells.vanilla import ReLURNN, TanhRNN

BASES = {"gru": GRU, "tanh": TanhRNN, "relu": ReLURNN, "mgu": MGU}


@dataclasses.dataclass(frozen=True)
class StateRegularised(Cell):
  """A base cell whose new state u_t is replaced by a probabilistic mixture of k centroids s_1..s_k.

      u_t = base(x_t, h_{t-1})
      alpha_t = softmax(u_t S / temperature)      S = [s_1 .. s_k], (H, k)
      h_t = alpha_t S^T = sum_i alpha_{t,i} s_i

  As the temperature goes to 0 the mixture becomes the nearest centroid (by inner product) and the cell a
  deterministic finite automaton over the k centroids (``centroid_index`` reads it off).
  Params: {"base": the base cell's params, "S": (H, k) ~ U(-0.5, 0.5)}. State and output: h.
  Defaults: a GRU base, k = 10 centroids, temperature 1.

  References:
    Wang & Niepert, "State-regularized recurrent neural networks", ICML 2019 (written from the equations).
  """

  base: str = "gru"
  centroids: int = 10
  temperature: float = 1.0

  recurrent_params: ClassVar[tuple[str, ...]] = ("S",)

  def __post_init__(self):
    super().__post_init__()
    if self.base not in BASES:
      raise ValueError(f"StateRegularised: base {self.base!r} is not supported; valid choices: {', '.join(BASES)}")
    if not isinstance(self.centroids, int) or self.centroids < 1:
      raise ValueError(f"StateRegularised: centroids must be a positive integer, got {self.centroids!r}")
    if not self.temperature > 0:
      raise ValueError(f"StateRegularised: temperature must be positive, got {self.temperature!r}")

  @property
  def _base(self) -> Cell:
    return BASES[self.base](hidden_size=self.hidden_size, param_dtype=self.param_dtype)

  def init(self, key, input_size):
    kb, ks = jax.random.split(key)
    return {"base": self._base.init(kb, input_size),
            "S": jax.random.uniform(ks, (self.hidden_size, self.centroids), self.param_dtype, -0.5, 0.5)}

  def recurrent_weights(self, params) -> dict:
    """The base cell's recurrent weights ("base/W_z", ...) and the centroids S."""
    base = self._base
    return {"S": params["S"], **{f"base/{k}": params["base"][k] for k in base.recurrent_params}}

  def project(self, params, x):
    return self._base.project(params["base"], x)

  def alpha(self, params, u):
    """The mixture weights over the centroids of a base state u: (..., k)."""
    return jax.nn.softmax(dot(u, params["S"]) / self.temperature, axis=-1)

  def recur(self, params, state, xp):
    u, _ = self._base.recur(params["base"], state, xp)
    h = dot(self.alpha(params, u), params["S"].T)
    return h, h

  def centroid_index(self, params, u):
    """The centroid a base state u is closest to (the automaton state at temperature 0): (...,) int."""
    return jnp.argmax(dot(u, params["S"]), axis=-1)
