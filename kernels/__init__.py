"""Fused Pallas kernels for the recurrent forward and backward passes (installed as ``rnnstab.kernels``).

``rnnstab.unroll(..., backend="pallas")`` runs a cell through ``fused_unroll``; ``backend="auto"`` does
so on GPU and TPU when ``kernel_fits`` accepts the shapes, and runs ``lax.scan`` otherwise (always on CPU,
where the Pallas interpreter is for tests only). Design, lowering and limits: BUILD.md, "Kernels".
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from rnnstab.cells.combinators import Stack
from rnnstab.kernels.checkpointed import checkpointed_scan
from rnnstab.kernels.scan import _used_params, fused_scan
from rnnstab.kernels.wavefront import wavefront_unroll

SCHEDULES = ("time", "wavefront")
# On-chip budget of one kernel instance's blocks (inputs and outputs double-buffered, parameters once):
# below the default scoped VMEM of a TPU core (16 MiB on v5e, 32 MiB on v6e) with room for the compiler.
TPU_VMEM_BUDGET = 12 * 2 ** 20
# Triton keeps what a program loads in registers and shared memory: a recurrent weight block above this
# would spill, which is slower than leaving the recurrence to XLA.
GPU_PARAM_BUDGET = 192 * 2 ** 10


def _step(cell):
  """The function the kernels scan for ``cell``: its ``recur`` over projected inputs, or its ``step``."""
  if hasattr(cell, "project"):
    return lambda p, s, x: cell.recur(p, s, x)[0]
  return lambda p, s, x: cell.step(p, s, x)[0]


def _inputs(cell, params, xs):
  return cell.project(params, xs) if hasattr(cell, "project") else xs


def fused_unroll(cell, params, xs, state0, *, schedule: str = "time", recompute: int = 0,
                 batch_block: int | None = None, interpret: bool = False, platform: str | None = None):
  """``cell`` over ``xs`` with the fused kernels; the same (final_state, ys) as the ``lax.scan`` path.

  Args:
    cell: any rnnstab cell: a leaf cell, ``Double``, ``Stack`` or adapted Flax cell.
    params: its params.
    xs: (T, B, D) time-major inputs.
    state0: the initial state.
    schedule: "time" (one step of the whole cell per kernel iteration: a stack walks its layers inside
      each step) or "wavefront" (a stack by anti-diagonals of its layers x time grid; ``wavefront``).
    recompute: 0 saves every step's state for the backward pass; K > 0 saves one state in K and
      recomputes the others inside the backward kernel (``checkpointed_scan``; K must divide T).
    batch_block: rows of the batch per kernel instance (None: all).
    interpret: Pallas interpreter (CPU tests).
    platform: the platform to lower for (``fused_scan``); None: the default backend's.

  Returns:
    (final_state, ys (T, B, output_size)).
  """
  if schedule not in SCHEDULES:
    raise ValueError(f"schedule: unknown schedule {schedule!r}; valid choices: {', '.join(SCHEDULES)}")
  if recompute:
    if schedule == "wavefront":
      raise ValueError("recompute: not available with the wavefront schedule (backend='wavefront'); use pallas")
    return checkpointed_scan(_step(cell), cell.output, params, state0, _inputs(cell, params, xs), every=recompute,
                             batch_block=batch_block, interpret=interpret, platform=platform)
  if schedule == "wavefront" and isinstance(cell, Stack) and len(cell.cells) > 1:
    return wavefront_unroll(cell, params, xs, state0, batch_block=batch_block, interpret=interpret,
                            platform=platform)
  states = fused_scan(_step(cell), params, state0, _inputs(cell, params, xs), batch_block=batch_block,
                      interpret=interpret, platform=platform)
  return jax.tree_util.tree_map(lambda a: a[-1], states), cell.output(states)


def _bytes(tree) -> int:
  return sum(math.prod(a.shape) * jnp.dtype(a.dtype).itemsize for a in jax.tree_util.tree_leaves(tree))


def kernel_fits(cell, params, xs, state0, platform: str, *, batch_block: int | None = None) -> str | None:
  """Why the fused kernels cannot run these shapes on ``platform``, or None when they can.

  Args:
    cell, params, xs, state0: as for ``fused_unroll`` (shapes only are read; tracers are fine).
    platform: "tpu", "gpu"/"cuda" or "cpu".
    batch_block: rows per kernel instance (None: all).

  Returns:
    A one-line reason (logged by ``unroll`` when it falls back to ``lax.scan``), or None.
  """
  if platform == "cpu":
    return "no fused kernels on CPU (the Pallas interpreter is for tests)"
  T, B = xs.shape[0], xs.shape[1]
  rows = B if batch_block is None else batch_block
  per_step = jax.eval_shape(lambda p, x: _inputs(cell, p, x), params,
                            jax.ShapeDtypeStruct((1, rows) + tuple(xs.shape[2:]), jnp.float32))
  state = jax.eval_shape(lambda s: s, state0)
  x0 = jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(a.shape[1:], a.dtype), per_step)
  used = _used_params(_step(cell), params, state, x0)
  weights = _bytes([a for a, u in zip(jax.tree_util.tree_leaves(params), used) if u])
  stream = T * (_bytes(per_step) + _bytes(state) * rows // max(B, 1))
  if platform == "tpu":
    need = 2 * stream + weights
    if need > TPU_VMEM_BUDGET:
      return (f"the kernel's blocks need {need / 2 ** 20:.1f} MiB of VMEM, over the {TPU_VMEM_BUDGET / 2 ** 20:.0f} "
              f"MiB budget (shorter T, a smaller batch_block or fewer units fit)")
    return None
  if platform in ("gpu", "cuda"):
    widths = [a.shape[-1] for a in jax.tree_util.tree_leaves(state)] + [rows]
    if any(w & (w - 1) for w in widths):
      return f"Triton needs power-of-two array sizes; got state widths and batch block {sorted(set(widths))}"
    if weights > GPU_PARAM_BUDGET:
      return (f"the recurrent weights ({weights / 2 ** 10:.0f} KiB) exceed the {GPU_PARAM_BUDGET / 2 ** 10:.0f} KiB "
              "one Triton program keeps on chip")
    return None
  return f"no fused kernels for platform {platform!r}"


__all__ = ["SCHEDULES", "checkpointed_scan", "fused_scan", "fused_unroll", "kernel_fits", "wavefront_unroll"]
