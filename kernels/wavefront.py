"""A deep stack as one kernel: the layers x time grid walked by anti-diagonals (a wavefront).

Cell (l, t) needs (l, t - 1) and (l - 1, t). Every cell of one anti-diagonal d = l + t depends only on the
previous diagonal, so a diagonal is one step of a scan whose carry is every layer's state: layer l
advances to time d - l, reading the output that layer l - 1 produced on diagonal d - 1. L layers over T
steps take T + L - 1 diagonal steps instead of L x T sequential cell steps, and the L updates of one
diagonal are independent work the chip can overlap. The diagonal step runs inside ``fused_scan``, so the
forward and the reverse-time backward are each one kernel for the whole stack.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from rnnstab.kernels.scan import fused_scan


def _diagonal_step(stack):
  """The scan step of one anti-diagonal: (params, states, (x0, valid)) -> states."""

  def step(params, states, x):
    x0, valid = x
    new = []
    for l, (cell, p) in enumerate(zip(stack.cells, params["layers"])):
      if l == 0:
        s, _ = cell.recur(p, states[0], x0) if hasattr(cell, "recur") else cell.step(p, states[0], x0)
      else:  # the output layer l - 1 wrote on the previous diagonal: time d - l, the time l reaches now
        s, _ = cell.step(p, states[l], stack.cells[l - 1].output(states[l - 1]))
      # Outside the grid (d - l < 0 or >= T) a layer keeps its state.
      keep = valid[l] > 0
      new.append(jax.tree_util.tree_map(lambda a, b: jnp.where(keep, a, b), s, states[l]))
    return tuple(new)

  return step


def wavefront_unroll(stack, params, xs, state0, *, batch_block: int | None = None, interpret: bool = False,
                     platform: str | None = None):
  """A ``Stack`` over a sequence with the wavefront kernel.

  Args:
    stack: an rnnstab ``Stack``.
    params: its params.
    xs: (T, B, D) inputs.
    state0: its initial state (a tuple of layer states).
    batch_block, interpret, platform: as for ``fused_scan``.

  Returns:
    (final_state, ys (T, B, output_size)), equal to ``unroll(..., backend="scan")``.
  """
  L, T, B = len(stack.cells), xs.shape[0], xs.shape[1]
  first = stack.cells[0]
  x0 = first.project(params["layers"][0], xs) if hasattr(first, "project") else xs
  pad = lambda a: jnp.concatenate([a, jnp.zeros((L - 1,) + a.shape[1:], a.dtype)])
  x0 = jax.tree_util.tree_map(pad, x0)
  d = jnp.arange(T + L - 1)[:, None] - jnp.arange(L)[None, :]          # time of layer l on diagonal d
  # One (T + L - 1, B, 1) mask per layer: Triton lowers neither slices of a value nor arrays whose size is
  # not a power of two, so the kernel never slices a (.., L) mask.
  valid = tuple(jnp.broadcast_to(((d[:, l] >= 0) & (d[:, l] < T)).astype(jnp.float32)[:, None, None],
                                 (T + L - 1, B, 1)) for l in range(L))
  states = fused_scan(_diagonal_step(stack), params, state0, (x0, valid), batch_block=batch_block,
                      interpret=interpret, platform=platform)
  # Layer l reaches time T - 1 on diagonal T - 1 + l; the top layer's time t is on diagonal t + L - 1.
  final = tuple(jax.tree_util.tree_map(lambda a, l=l: a[T - 1 + l], s) for l, s in enumerate(states))
  top = jax.tree_util.tree_map(lambda a: a[L - 1:], states[-1])
  return final, stack.cells[-1].output(top)
