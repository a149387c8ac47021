"""The cell protocol shared by every recurrent cell in rnnstab.

A cell is a frozen dataclass of static settings with pure methods over explicit pytrees:

    cell.init(key, input_size)          -> params
    cell.initial_state(params, batch)   -> state
    cell.step(params, state, x)         -> (state, y)
    cell.output(state)                  -> y   (the y that step returns with this state)
    cell.prepare(params)                -> params for every step of one sequence (default: params)

Leaf cells split ``step`` into ``project`` (the part that depends on the input alone, e.g. ``x @ U + b``)
and ``recur`` (the sequential part). ``unroll`` applies ``project`` to the whole sequence as one large
matmul and scans only ``recur``; that hoisting is where most of the speed of a CPU/GPU recurrence comes from.

Parameter naming convention (objectives rely on it): matrices are stored as kernels of shape
``(fan_in, fan_out)`` so that a layer computes ``x @ U``; a gated cell keeps one matrix per gate, named
after the gate as in its paper: input weights ``U_g``, recurrent weights ``W_g`` (matrices) or ``w_g``
(per-unit vectors), biases ``b_g``. One matrix per gate rather than one fused (H, k*H) kernel because
slicing a fused matmul's output inside the time loop measured ~1.7x slower on XLA:CPU. Each cell lists
its recurrent parameter names in ``recurrent_params``; ``rnnstab.cells.recurrent_weights`` finds them in
any cell or stack.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from rnnstab.orthogonal import orthogonal

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


def glorot(key: Array, shape: tuple[int, int], dtype) -> Array:
  return jax.nn.initializers.glorot_uniform()(key, shape, dtype)


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
  gates: ClassVar[tuple[str, ...]] = ()  # gates g with an input projection x @ U_g + b_g

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

  def output(self, state: PyTree) -> Array:
    """The output y of the step that produced ``state``: the state itself for single-vector states.
    The LSC's depth Jacobians differentiate through it (d s^l / d s^{l-1} = d s^l / d y^{l-1} . d y^{l-1} / d s^{l-1})."""
    return state

  def prepare(self, params: PyTree) -> PyTree:
    """Params as every step of a sequence uses them: transforms of the parameters alone that the time loop
    should not repeat (NC-GRU's Cayley matrix). ``unroll`` and the analyses call it once per sequence and
    pass the result to ``project`` / ``recur``; ``recur`` also accepts raw params. Default: params."""
    return params

  def project(self, params: PyTree, x: Array) -> PyTree:
    """Input-only part of a step, applied to any leading shape (a whole sequence at once in unroll):
    {g: x @ U_g + b_g} for every gate g."""
    return {g: dot(x, params[f"U_{g}"]) + f32(params[f"b_{g}"]) for g in self.gates}

  def recur(self, params: PyTree, state: PyTree, xp: Array) -> tuple[PyTree, Array]:
    raise NotImplementedError  # each concrete cell defines its recurrence

  def step(self, params: PyTree, state: PyTree, x: Array) -> tuple[PyTree, Array]:
    """One time step: (state_{t-1}, x_t) -> (state_t, y_t)."""
    return self.recur(params, state, self.project(params, x))

  def _recurrent_matrix(self, key: Array) -> Array:
    """An (H, H) recurrent matrix for the non-default recurrent inits."""
    H, dt = self.hidden_size, self.param_dtype
    if self.recurrent_init == "orthogonal":
      return orthogonal(key, H, dtype=dt)  # LAPACK-free: safe in any program on any number of devices
    if self.recurrent_init in ("identity", "irnn"):
      return jnp.eye(H, dtype=dt)
    raise ValueError(f"{type(self).__name__}: no recurrent matrix rule for {self.recurrent_init!r}")

  def _pytorch_gates(self, key: Array, input_size: int) -> dict:
    """U_g, W_g, b_g for every gate: U(-1/sqrt(H), 1/sqrt(H)) (PyTorch's default), with W_g from
    ``recurrent_init`` when that is not "default"."""
    H, dt = self.hidden_size, self.param_dtype
    params = {}
    for g, k in zip(self.gates, jax.random.split(key, len(self.gates))):
      ku, kw, kb = jax.random.split(k, 3)
      params[f"U_{g}"] = uniform_fan(ku, (input_size, H), H, dt)
      params[f"b_{g}"] = uniform_fan(kb, (H,), H, dt)
      params[f"W_{g}"] = (uniform_fan(kw, (H, H), H, dt) if self.recurrent_init == "default"
                          else self._recurrent_matrix(kw))
    return params
