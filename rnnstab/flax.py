"""Adapters both ways between rnnstab cells and Flax.

- ``FlaxCell``: any Flax Linen ``RNNCellBase`` (``nn.GRUCell``, ``nn.OptimizedLSTMCell``, a user's own) as an
  rnnstab cell, so every rnnstab objective and analysis works on a model researchers already have.
- ``LinenCell`` / ``NNXCell``: any rnnstab cell (a BRC, a PLRNN, a stack) as a Flax ``RNNCellBase``, to drop
  into ``nn.RNN`` / ``nnx.RNN``; its params are rnnstab's own tree, so the objectives apply to them as is.

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

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import nnx
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


def _zero_carry(cell, input_shape) -> Any:
  """Flax's convention for a carry: zeros shaped like the cell's state for inputs of ``input_shape``.
  (A PLRNN's learned initial state z0 is rnnstab's own convention; under Flax's RNN the carry starts at 0.)"""
  batch, width = tuple(input_shape[:-1]), input_shape[-1]
  struct = jax.eval_shape(lambda: cell.initial_state(cell.init(jax.random.key(0), width), batch))
  return jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), struct)


class LinenCell(nn.RNNCellBase):
  """An rnnstab cell as a Flax Linen ``RNNCellBase``, for ``nn.RNN``.

  Attributes:
    cell: any rnnstab cell, ``Double`` or ``Stack``.

  Its params are one variable, ``"cell"``, holding the rnnstab params tree unchanged: under
  ``nn.RNN(LinenCell(c))`` they are ``variables["params"]["cell"]["cell"]``, and every rnnstab objective
  and analysis takes them with ``c``.

  Example:
    >>> rnn = nn.RNN(LinenCell(BRC(hidden_size=64)))
    >>> variables = rnn.init(key, xs)            # xs (B, T, D), Flax's batch-major default
    >>> ys = rnn.apply(variables, xs)
  """

  cell: Any

  @nn.compact
  def __call__(self, carry, x):
    params = self.param("cell", lambda key: self.cell.init(key, x.shape[-1]))
    return self.cell.step(params, carry, x)

  @nn.nowrap
  def initialize_carry(self, rng, input_shape):
    del rng  # rnnstab carries are deterministic
    return _zero_carry(self.cell, input_shape)

  @property
  def num_feature_axes(self) -> int:
    return 1


class NNXCell(nnx.RNNCellBase):
  """An rnnstab cell as a Flax NNX ``RNNCellBase``, for ``nnx.RNN``.

  Args:
    cell: any rnnstab cell, ``Double`` or ``Stack``.
    input_size: width of its inputs.
    rngs: ``nnx.Rngs``; its ``params`` stream initialises the cell.

  ``self.params`` is one ``nnx.Param`` holding the rnnstab params tree unchanged
  (``module.params.get_value()`` is what rnnstab's objectives take with ``cell``).

  Example:
    >>> rnn = nnx.RNN(NNXCell(BRC(hidden_size=64), input_size=3, rngs=nnx.Rngs(0)))
    >>> ys = rnn(xs)                             # xs (B, T, D)
  """

  def __init__(self, cell, input_size: int, *, rngs: nnx.Rngs):
    self.cell = cell
    self.params = nnx.Param(cell.init(rngs.params(), input_size))

  def __call__(self, carry, x):
    return self.cell.step(self.params.get_value(), carry, x)

  def initialize_carry(self, input_shape, rngs=None, carry_init=None):
    del rngs, carry_init  # rnnstab carries are deterministic
    return _zero_carry(self.cell, input_shape)

  @property
  def num_feature_axes(self) -> int:
    return 1
