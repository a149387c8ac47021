"""A sequence model: an rnnstab cell (any depth / double) followed by a linear readout at every step."""
from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp

from rnnstab.cells import CELLS, double, stack
from rnnstab.cells.base import dot, f32
from rnnstab.inits import INITS
from rnnstab.unroll import unroll


def build_cell(config, leaf=None):
  """The cell a config describes: ``config.cell`` at ``config.hidden`` units, made a double layer and a
  stack of ``config.layers`` as asked, with ``config.init``'s static settings applied to every leaf.
  ``leaf``, a cell object (e.g. ``ALIF(hidden_size=32, surrogate="fast_sigmoid")``), replaces the
  registered ``config.cell`` when its non-default settings matter."""
  if leaf is not None and leaf.hidden_size != config.hidden:
    raise ValueError(f"leaf: hidden_size {leaf.hidden_size} differs from --hidden={config.hidden}")
  cell = CELLS[config.cell](hidden_size=config.hidden) if leaf is None else leaf
  if config.double:
    cell = double(cell)
  if config.layers > 1:
    cell = stack(cell, config.layers)
  return INITS[config.init].configure(cell, config)


@dataclasses.dataclass(frozen=True, eq=False)
class SequenceModel:
  """``cell`` over time, then ``y_t W + b`` at every step.

  Params: {"cell": cell params, "readout": {"W": (H, O), "b": (O,)}}; the readout starts at
  U(-1/sqrt(H), 1/sqrt(H)) like a PyTorch Linear layer.
  """

  cell: Any
  output_size: int
  backend: str = "auto"
  unroll: int = 1
  recompute: int = 0

  def init(self, key, input_size: int):
    kc, kw, kb = jax.random.split(key, 3)
    H = self.cell.output_size
    bound = 1.0 / math.sqrt(H)
    return {"cell": self.cell.init(kc, input_size),
            "readout": {"W": jax.random.uniform(kw, (H, self.output_size), jnp.float32, -bound, bound),
                        "b": jax.random.uniform(kb, (self.output_size,), jnp.float32, -bound, bound)}}

  def apply(self, params, inputs, last_only: bool = False):
    """inputs (T, B, D) -> predictions (T, B, O), deterministic (no cell noise); with ``last_only`` the
    last step's alone, (1, B, O)."""
    _, ys = unroll(self.cell, params["cell"], inputs, backend=self.backend, unroll=self.unroll,
                   recompute=self.recompute, outputs="last" if last_only else "all")
    return self.readout(params["readout"], ys)

  def apply_training(self, params, inputs, key, last_only: bool = False):
    """The training forward pass: predictions (T, B, O) (``last_only``: (1, B, O)) with the cells' training
    noise drawn from ``key``, and the cells' own penalties (GateL0RD's L0 term), shape (B,); zeros for
    cells without any."""
    _, ys, penalty = unroll(self.cell, params["cell"], inputs, backend=self.backend, unroll=self.unroll,
                            recompute=self.recompute, key=key, penalties=True, outputs="last" if last_only else "all")
    return self.readout(params["readout"], ys), penalty

  @staticmethod
  def readout(readout_params, ys):
    """The cell's outputs (..., H) -> predictions (..., O)."""
    return dot(ys, readout_params["W"]) + f32(readout_params["b"])
