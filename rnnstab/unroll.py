"""The time loop: run a cell over a sequence with ``jax.lax.scan`` (fused kernels plug in here later)."""
from __future__ import annotations

import jax
import jax.numpy as jnp

from rnnstab.cells.combinators import Stack

BACKENDS = ("auto", "scan")


def _scan(cell, params, xs, state0, unroll):
  """One cell over time: the input projection is one matmul over all steps, only ``recur`` is scanned."""
  xps = cell.project(params, xs) if hasattr(cell, "project") else xs
  recur = cell.recur if hasattr(cell, "project") else cell.step

  def body(state, xp):
    return recur(params, state, xp)

  return jax.lax.scan(body, state0, xps, unroll=unroll)


def unroll(cell, params, xs, state0=None, *, backend: str = "auto", unroll: int = 1, time_major: bool = True):
  """Runs ``cell`` over a sequence.

  Args:
    cell: any rnnstab cell (a leaf cell, a ``Stack``, a ``Double`` or an adapted Flax cell).
    params: the cell's params.
    xs: inputs, (T, *batch, D) when ``time_major`` (the default), else (*batch... B, T, D) with time on axis 1.
    state0: initial state; ``cell.initial_state(params, batch)`` when None.
    backend: "scan" (``jax.lax.scan``) or "auto" (currently always scan; fused kernels come with issue 6).
    unroll: how many steps ``lax.scan`` unrolls per loop iteration (speed only; same numbers).
    time_major: whether time is the leading axis of ``xs`` and of the returned outputs.

  Returns:
    (final_state, ys) with ys of shape (T, *batch, output_size) (or batch-major like ``xs``), float32.
  """
  if backend not in BACKENDS:
    raise ValueError(f"unknown backend {backend!r}; valid choices: {', '.join(BACKENDS)}")
  if not time_major:
    xs = jnp.swapaxes(xs, 0, 1)
  if state0 is None:
    state0 = cell.initial_state(params, xs.shape[1:-1])
  if isinstance(cell, Stack):
    # Layer by layer over the whole sequence: each layer's input projection becomes one large matmul.
    states, ys = [], xs
    for l, (c, p) in enumerate(zip(cell.cells, params["layers"])):
      s, ys = _scan(c, p, ys, state0[l], unroll)
      states.append(s)
    state = tuple(states)
  else:
    state, ys = _scan(cell, params, xs, state0, unroll)
  if not time_major:
    ys = jnp.swapaxes(ys, 0, 1)
  return state, ys

