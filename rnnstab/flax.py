"""Adapter: any Flax Linen ``RNNCellBase`` (``nn.GRUCell``, ``nn.OptimizedLSTMCell``, a user's own) as an
rnnstab cell, so every rnnstab objective and analysis works on a model researchers already have.

Example:
  >>> import flax.linen as nn, jax, jax.numpy as jnp
  >>> from rnnstab.flax import FlaxCell
  >>> from rnnstab.unroll import unroll
  >>> cell = FlaxCell(nn.GRUCell(features=8))
  >>> params = cell.init(jax.random.key(0), input_size=3)   # the Flax params tree, unchanged
  >>> state, ys = unroll(cell, params, jnp.ones((5, 2, 3)))  # time-major (T, B, D)
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
from jax.tree_util import tree_flatten_with_path, keystr


def _flax_recurrent(path: tuple, leaf) -> bool:
  """Flax's recurrent cells name their recurrent Dense layers h* (hr, hz, hn, hi, hf, hg, ho, h)."""
  names = [getattr(k, "key", getattr(k, "name", None)) for k in path]
  return len(names) >= 2 and str(names[-2]).startswith("h") and names[-1] == "kernel"


@dataclasses.dataclass(frozen=True, eq=False)
class FlaxCell:
  """A Flax Linen recurrent cell seen through the rnnstab cell protocol.

  Args:
    module: a ``flax.linen.RNNCellBase`` instance; its ``__call__(carry, x) -> (carry, y)`` is the step.
    is_recurrent: predicate on (key path, leaf) picking the recurrent weights that objectives act on;
      by default the ``kernel`` of every sub-module whose name starts with "h" (Flax's own convention).

  The params are exactly the Flax params tree (``variables["params"]``), and the state is the Flax carry.
  ``initial_state`` uses ``module.initialize_carry`` with a dummy input of width 1: Flax cells' carries
  depend on the batch shape and ``features`` only.
  """

  module: Any
  is_recurrent: Callable[[tuple, Any], bool] = _flax_recurrent

  @property
  def hidden_size(self) -> int:
    return self.module.features

  @property
  def output_size(self) -> int:
    return self.module.features

  def init(self, key, input_size: int):
    carry = self.module.initialize_carry(jax.random.key(0), (1, input_size))
    return self.module.init(key, carry, jnp.zeros((1, input_size), jnp.float32))["params"]

  def initial_state(self, params, batch):
    shape = (batch,) if isinstance(batch, int) else tuple(batch)
    return self.module.initialize_carry(jax.random.key(0), shape + (1,))

  def step(self, params, state, x):
    return self.module.apply({"params": params}, state, x)

  def output(self, state):
    """Flax's convention: an LSTM carry is (c, h) and its output h; other carries are the output."""
    return state[-1] if isinstance(state, (tuple, list)) else state

  def recurrent_weights(self, params) -> dict:
    flat, _ = tree_flatten_with_path(params)
    return {keystr(p, simple=True, separator="/"): v for p, v in flat if self.is_recurrent(p, v)}
