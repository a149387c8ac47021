"""The cell protocol shared by every recurrent cell in rnnstab.

A cell is a frozen dataclass of static settings with pure methods over explicit pytrees:

    cell.init(key, input_size)          -> params
    cell.initial_state(params, batch)   -> state
    cell.step(params, state, x)         -> (state, y)

Leaf cells split ``step`` into ``project`` (the part that depends on the input alone, e.g. ``x @ U + b``)
and ``recur`` (the sequential part). ``unroll`` applies ``project`` to the whole sequence as one large
matmul and scans only ``recur``; that hoisting is where most of the speed of a CPU/GPU recurrence comes from.

Parameter naming convention (objectives rely on it): matrices are stored as kernels of shape
``(fan_in, fan_out)`` so that a layer computes ``x @ U``; input weights are ``U``, recurrent weights
``W`` (matrices) or ``w_*`` (per-unit vectors), biases ``b``. Each cell lists its recurrent parameter
names in ``recurrent_params``; ``rnnstab.cells.recurrent_weights`` finds them in any cell or stack.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

Array = jax.Array
PyTree = Any


def f32(x: Array) -> Array:
  """Casts to float32: the recurrence is always accumulated in float32, whatever the parameter dtype."""
  return jnp.asarray(x).astype(jnp.float32)


def dot(x: Array, w: Array) -> Array:
  """``x @ w`` in the parameter dtype with a float32 result."""
  return jnp.matmul(x.astype(w.dtype), w, preferred_element_type=jnp.float32)


def batch_shape(batch: int | tuple[int, ...]) -> tuple[int, ...]:
  return (batch,) if isinstance(batch, int) else tuple(batch)


def uniform_fan(key: Array, shape: tuple[int, ...], hidden_size: int, dtype) -> Array:
  """U(-1/sqrt(H), 1/sqrt(H)): PyTorch's default for nn.RNN/GRU/LSTM weights and biases."""
  bound = 1.0 / math.sqrt(hidden_size)
  return jax.random.uniform(key, shape, dtype, -bound, bound)


def glorot_blocks(key: Array, fan_in: int, hidden: int, blocks: int, dtype) -> Array:
  """Glorot-uniform kernel of shape (fan_in, blocks * hidden), each gate block initialised on its own."""
  keys = jax.random.split(key, blocks)
  init = jax.nn.initializers.glorot_uniform()
  return jnp.concatenate([init(k, (fan_in, hidden), dtype) for k in keys], axis=1)


def orthogonal_blocks(key: Array, hidden: int, blocks: int, dtype) -> Array:
  """(hidden, blocks * hidden) kernel whose square gate blocks are each orthogonal."""
  keys = jax.random.split(key, blocks)
  init = jax.nn.initializers.orthogonal()
  return jnp.concatenate([init(k, (hidden, hidden), dtype) for k in keys], axis=1)


def identity_blocks(hidden: int, blocks: int, dtype) -> Array:
  return jnp.tile(jnp.eye(hidden, dtype=dtype), (1, blocks))


@dataclasses.dataclass(frozen=True)
class Cell:
  """Base class of rnnstab's leaf cells: settings plus pure functions of explicit params and state.

  Attributes:
    hidden_size: number of recurrent units.
    param_dtype: dtype of the parameters; state and accumulation stay float32.
    recurrent_init: how the recurrent weights start: "default" (the cell's documented init), or one of
      the cell's ``recurrent_inits`` such as "orthogonal" or "identity".
  """

  hidden_size: int
  param_dtype: Any = jnp.float32
  recurrent_init: str = "default"

  recurrent_params: ClassVar[tuple[str, ...]] = ("W",)
  recurrent_inits: ClassVar[tuple[str, ...]] = ("default",)

  def __post_init__(self):
    name = type(self).__name__
    if not isinstance(self.hidden_size, int) or isinstance(self.hidden_size, bool) or self.hidden_size < 1:
      raise ValueError(f"{name}: hidden_size must be a positive integer, got {self.hidden_size!r}")
    if self.recurrent_init not in self.recurrent_inits:
      raise ValueError(
          f"{name}: recurrent_init {self.recurrent_init!r} is not supported; "
          f"valid choices: {', '.join(self.recurrent_inits)}")

  @property
  def output_size(self) -> int:
    return self.hidden_size

  def init(self, key: Array, input_size: int) -> PyTree:
    raise NotImplementedError  # each concrete cell defines its parameters

  def initial_state(self, params: PyTree, batch: int | tuple[int, ...]) -> PyTree:
    """All-zeros float32 state of shape batch + (hidden_size,)."""
    del params
    return jnp.zeros(batch_shape(batch) + (self.hidden_size,), jnp.float32)

  def project(self, params: PyTree, x: Array) -> Array:
    """Input-only part of a step, applied to any leading shape (a whole sequence at once in unroll)."""
    return dot(x, params["U"]) + f32(params["b"])

  def recur(self, params: PyTree, state: PyTree, xp: Array) -> tuple[PyTree, Array]:
    raise NotImplementedError  # each concrete cell defines its recurrence

  def step(self, params: PyTree, state: PyTree, x: Array) -> tuple[PyTree, Array]:
    """One time step: (state_{t-1}, x_t) -> (state_t, y_t)."""
    return self.recur(params, state, self.project(params, x))

  def _recurrent_kernel(self, key: Array, blocks: int) -> Array:
    """The (H, blocks*H) recurrent kernel for the non-default recurrent inits."""
    if self.recurrent_init == "orthogonal":
      return orthogonal_blocks(key, self.hidden_size, blocks, self.param_dtype)
    if self.recurrent_init == "identity":
      return identity_blocks(self.hidden_size, blocks, self.param_dtype)
    raise ValueError(f"{type(self).__name__}: no recurrent kernel rule for {self.recurrent_init!r}")
