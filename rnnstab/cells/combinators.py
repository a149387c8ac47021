"""Cells made of cells: a deep ``Stack`` and a ``Double`` layer. Both are cells themselves, so every
objective, analysis and kernel that takes a cell takes them too.

References:
  Lambrechts, De Geeter, Vecoven, Ernst & Drion, "Warming up recurrent neural networks to maximise
  reachable multistability greatly improves learning", Neural Networks 2023 (double layers, partial warmup).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp


def project(cell, params, x):
  """The input-only part of a step of any cell, for any leading shape; a cell without a project/recur
  split (an adapted Flax cell) gets x itself."""
  return cell.project(params, x) if hasattr(cell, "project") else x


def prepare(cell, params):
  """Params as every step of one sequence uses them (``Cell.prepare``), for any cell: call it once
  outside a time loop; cells without the method (adapted Flax cells) use their params as they are."""
  return cell.prepare(params) if hasattr(cell, "prepare") else params


def recur(cell, params, state, xp):
  """The sequential part of a step of any cell, on ``project``'s output."""
  return cell.recur(params, state, xp) if hasattr(cell, "project") else cell.step(params, state, xp)


def add_noise(cell, key, xps):
  """Projected inputs with the cell's training noise (``noise(key, xps)``, GateL0RD's gate noise) added;
  cells without noise get ``xps`` back. For a leaf cell or a ``Double``."""
  if isinstance(cell, Double):
    k1, k2 = jax.random.split(key)
    return (add_noise(cell.first, k1, xps[0]), add_noise(cell.second, k2, xps[1]))
  return cell.noise(key, xps) if hasattr(cell, "noise") else xps


def recur_penalised(cell, params, state, xp):
  """``recur`` plus the cell's own per-step penalty (``recur_penalised``, GateL0RD's L0 term), shape
  batch; 0 for cells without one. For a leaf cell or a ``Double``."""
  if isinstance(cell, Double):
    s1, y1, c1 = recur_penalised(cell.first, params["first"], state[0], xp[0])
    s2, y2, c2 = recur_penalised(cell.second, params["second"], state[1], xp[1])
    return (s1, s2), jnp.concatenate([y1, y2], axis=-1), c1 + c2
  if hasattr(cell, "recur_penalised"):
    return cell.recur_penalised(params, state, xp)
  new, y = recur(cell, params, state, xp)
  return new, y, jnp.zeros(y.shape[:-1], jnp.float32)


def has_training_terms(cell) -> bool:
  """Whether any leaf of ``cell`` has training noise or a penalty of its own (GateL0RD)."""
  if isinstance(cell, Stack):
    return any(has_training_terms(c) for c in cell.cells)
  if isinstance(cell, Double):
    return has_training_terms(cell.first) or has_training_terms(cell.second)
  return hasattr(cell, "noise") or hasattr(cell, "recur_penalised")


def output(cell, state):
  """The output y of any cell (leaf, Stack, Double or adapted Flax cell) as a function of its state: what
  ``step`` returns alongside that state."""
  return cell.output(state)


@dataclasses.dataclass(frozen=True)
class Stack:
  """Deep RNN: layer l reads the output of layer l-1 at the same time step.

  Params: {"layers": (p_0, ..., p_{L-1})}. State: tuple of the layers' states. Output: the last layer's.
  ``unroll`` runs a stack layer by layer over the whole sequence (the same numbers as step by step, since
  layer l at time t needs only layer l-1 at time t and itself at t-1), so every layer's input projection
  is one large matmul.
  """

  cells: tuple

  def __post_init__(self):
    if not self.cells:
      raise ValueError("Stack: needs at least one cell")

  @property
  def output_size(self) -> int:
    return self.cells[-1].output_size

  def prepare(self, params):
    return {**params, "layers": tuple(prepare(c, p) for c, p in zip(self.cells, params["layers"]))}

  def init(self, key, input_size):
    keys = jax.random.split(key, len(self.cells))
    layers, size = [], input_size
    for cell, k in zip(self.cells, keys):
      layers.append(cell.init(k, size))
      size = cell.output_size
    return {"layers": tuple(layers)}

  def initial_state(self, params, batch):
    return tuple(c.initial_state(p, batch) for c, p in zip(self.cells, params["layers"]))

  def project(self, params, x):
    return project(self.cells[0], params["layers"][0], x)

  def recur(self, params, state, xp):
    new, y = [], None
    for l, (cell, p, s) in enumerate(zip(self.cells, params["layers"], state)):
      s, y = recur(cell, p, s, xp) if l == 0 else cell.step(p, s, y)
      new.append(s)
    return tuple(new), y

  def step(self, params, state, x):
    return self.recur(params, state, self.project(params, x))

  def output(self, state):
    return self.cells[-1].output(state[-1])


@dataclasses.dataclass(frozen=True)
class Double:
  """Two parallel cells on the same input, outputs concatenated [first, second].

  Params: {"first": ..., "second": ...}. State: (first state, second state). With ``double(cell)`` both
  halves are the same cell type at half width; partial warmup trains the first half alone.
  """

  first: Any
  second: Any

  @property
  def output_size(self) -> int:
    return self.first.output_size + self.second.output_size

  def init(self, key, input_size):
    k1, k2 = jax.random.split(key)
    return {"first": self.first.init(k1, input_size), "second": self.second.init(k2, input_size)}

  def initial_state(self, params, batch):
    return (self.first.initial_state(params["first"], batch),
            self.second.initial_state(params["second"], batch))

  def prepare(self, params):
    return {**params, "first": prepare(self.first, params["first"]), "second": prepare(self.second, params["second"])}

  def project(self, params, x):
    return (project(self.first, params["first"], x), project(self.second, params["second"], x))

  def recur(self, params, state, xp):
    s1, y1 = recur(self.first, params["first"], state[0], xp[0])
    s2, y2 = recur(self.second, params["second"], state[1], xp[1])
    return (s1, s2), jnp.concatenate([y1, y2], axis=-1)

  def step(self, params, state, x):
    return self.recur(params, state, self.project(params, x))

  def output(self, state):
    return jnp.concatenate([self.first.output(state[0]), self.second.output(state[1])], axis=-1)


def stack(cell, layers: int) -> Stack:
  """``layers`` copies of ``cell`` stacked; the first reads the input, the others the layer below."""
  if not isinstance(layers, int) or layers < 1:
    raise ValueError(f"stack: layers must be a positive integer, got {layers!r}")
  return Stack((cell,) * layers)


def double(cell) -> Double:
  """Two parallel copies of ``cell`` at half its width (hidden_size must be even).

  For an adapted Flax cell, build ``Double(FlaxCell(a), FlaxCell(b))`` from two half-width modules.
  """
  if not dataclasses.is_dataclass(cell) or "hidden_size" not in {f.name for f in dataclasses.fields(cell)}:
    raise ValueError(f"double: {type(cell).__name__} has no hidden_size field to halve; "
                     "build Double(first, second) from two half-width cells instead")
  if cell.hidden_size % 2:
    raise ValueError(f"double: hidden_size must be even to split in two halves, got {cell.hidden_size}")
  half = dataclasses.replace(cell, hidden_size=cell.hidden_size // 2)
  return Double(half, half)


def map_leaves(cell, fn: Callable[[Any], Any]):
  """Rebuilds a (possibly nested) Stack / Double with ``fn`` applied to every leaf cell."""
  if isinstance(cell, Stack):
    return Stack(tuple(map_leaves(c, fn) for c in cell.cells))
  if isinstance(cell, Double):
    return Double(map_leaves(cell.first, fn), map_leaves(cell.second, fn))
  return fn(cell)


def leaves(cell, params, prefix: str = ""):
  """Yields (path, leaf cell, leaf params) for every leaf of a Stack / Double tree."""
  if isinstance(cell, Stack):
    for l, (c, p) in enumerate(zip(cell.cells, params["layers"])):
      yield from leaves(c, p, f"{prefix}layers/{l}/")
  elif isinstance(cell, Double):
    yield from leaves(cell.first, params["first"], f"{prefix}first/")
    yield from leaves(cell.second, params["second"], f"{prefix}second/")
  else:
    yield prefix, cell, params
