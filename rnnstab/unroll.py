"""The time loop: run a cell over a sequence with ``jax.lax.scan`` or the fused Pallas kernels."""
from __future__ import annotations

import logging

import jax
import jax.numpy as jnp

from rnnstab.cells.combinators import (Stack, add_noise, has_training_terms, prepare, project, recur,
                                        recur_penalised)

# auto: the fused kernels on GPU and TPU when the shapes fit (rnnstab.kernels.kernel_fits), else scan;
# remat: lax.scan over raw inputs whose steps are recomputed in the backward pass (only the states are
# saved); pallas: the kernels (the Pallas interpreter on CPU, for tests); wavefront: the kernels, a stack
# by anti-diagonals of its layers x time grid.
BACKENDS = ("auto", "scan", "remat", "pallas", "wavefront")
_log = logging.getLogger("rnnstab")


def _last_only(step, state0, xs, unroll):
  """``lax.scan`` of ``step(state, x) -> (state, y)`` keeping only the last y, (1, *batch, O).

  The loop runs the first T - 1 steps for their states alone and the last step is taken after it, so no
  (T, B, O) stack of outputs is written in the forward pass and none of their (all-zero but the last)
  cotangents is read in the backward. Not an output carried through the loop: its cotangent would then
  be a second state gradient, zeroed, copied and added at every reverse step (1.2x slower for the M = 40
  PLRNN, benchmarks/plrnn.py). Not ``cell.output(final state)``: a cell's output may also depend on its
  input (the LRU's D x)."""
  head = jax.tree_util.tree_map(lambda a: a[:-1], xs)
  state, _ = jax.lax.scan(lambda s, x: (step(s, x)[0], None), state0, head, unroll=unroll)
  state, y = step(state, jax.tree_util.tree_map(lambda a: a[-1], xs))
  return state, y[None]


def _remat_scan(cell, params, xs, state0, unroll, last=False):
  """One cell over time, each step (input projection included) rematerialised in the backward pass.

  Autodiff of a plain scan saves every residual of every step ((T, B, H) arrays for each mask, activation
  and the projected inputs) and reads them back; memory traffic, not arithmetic, then bounds a small
  recurrent step on CPU. Here the forward saves only the states; the backward recomputes one step at a
  time from the saved state while its operands are in cache, so XLA's dead-code elimination keeps only
  what that step's VJP reads, and the weight gradients accumulate in the reverse loop's carry. The
  projection moves into the step so that neither it nor its gradient is a (T, B, H) array. Same
  equations, so the same values and gradients as ``_scan`` up to float32 summation order. A cell with
  a hand-written loop of its own (``time_loop``: the PLRNN's and the LSTM's, rnnstab.cells.plrnn_loop
  and lstm_loop) runs that instead.
  """
  loop = getattr(cell, "time_loop", None)
  done = loop(params, xs, state0, last, unroll) if loop is not None else None
  if done is not None:
    return done

  def step(state, x):
    return recur(cell, params, state, project(cell, params, x))

  step = jax.checkpoint(step, prevent_cse=False, policy=jax.checkpoint_policies.nothing_saveable)
  return _last_only(step, state0, xs, unroll) if last else jax.lax.scan(step, state0, xs, unroll=unroll)


def _scan(cell, params, xs, state0, unroll, key=None, penalties=False, remat=False, last=False):
  """One cell over time: the input projection is one matmul over all steps, only ``recur`` is scanned
  (``remat``: see ``_remat_scan``). With ``penalties`` the outputs are (ys, per-step penalties (T, *batch));
  with ``last`` (and no penalties) ys is the last step's output alone, (1, *batch, O)."""
  if remat:
    return _remat_scan(cell, params, xs, state0, unroll, last)
  xps = project(cell, params, xs)
  if key is not None:
    xps = add_noise(cell, key, xps)
  if last and not penalties:
    return _last_only(lambda state, xp: recur(cell, params, state, xp), state0, xps, unroll)

  def body(state, xp):
    if penalties:
      new, y, cost = recur_penalised(cell, params, state, xp)
      return new, (y, cost)
    return recur(cell, params, state, xp)

  return jax.lax.scan(body, state0, xps, unroll=unroll)


def unroll(cell, params, xs, state0=None, *, backend: str = "auto", unroll: int = 1, recompute: int = 0,
           time_major: bool = True, key=None, penalties: bool = False, outputs: str = "all"):
  """Runs ``cell`` over a sequence.

  Args:
    cell: any rnnstab cell (a leaf cell, a ``Stack``, a ``Double`` or an adapted Flax cell).
    params: the cell's params.
    xs: inputs, (T, *batch, D) when ``time_major`` (the default), else (*batch... B, T, D) with time on axis 1.
    state0: initial state; ``cell.initial_state(params, batch)`` when None.
    backend: "scan" (``jax.lax.scan``), "remat" (``lax.scan`` whose steps are recomputed in the backward
      pass, input projection inside the step: faster on CPU where a step has many residuals and small
      matmuls, 2-4x for the BRC, no faster where the backward needs the matmul's output, as for the ReLU
      RNN; ``_remat_scan``, benchmarks/remat.py; the float32 PLRNN and LSTM run their own loops with a
      hand-derived backward pass, ``rnnstab.cells.plrnn_loop`` and ``lstm_loop``), "pallas" (the fused kernels of
      ``rnnstab.kernels``; interpreted on CPU, which is for tests), "wavefront" (the kernels, a stack as
      one anti-diagonal kernel) or "auto" (the kernels on GPU/TPU when they fit, scan otherwise). Shapes
      the kernels cannot take fall back to scan with a logged reason.
    unroll: how many steps ``lax.scan`` unrolls per loop iteration (speed only; same numbers).
    recompute: with the kernels, 0 saves every step's state for the backward pass; K > 0 keeps one in K
      and recomputes the rest in the backward kernel (less memory, one more forward pass; K divides T).
    time_major: whether time is the leading axis of ``xs`` and of the returned outputs.
    key: PRNG key of the cells' training noise (GateL0RD's gate noise); None runs them deterministically,
      as evaluation and the analyses do.
    penalties: also return the cells' own penalties (GateL0RD's L0 term), summed over layers and averaged
      over time.
    outputs: "all" returns every step's output; "last" the last step's alone, for tasks scored only there
      (the same values and gradients as slicing "all", without a (T, B, O) stack of outputs and of their
      cotangents in the time loop: less memory traffic, which bounds small recurrent steps on CPU).

  Returns:
    (final_state, ys) with ys of shape (T, *batch, output_size) (or batch-major like ``xs``; T = 1 with
    ``outputs="last"``), float32; with ``penalties``, (final_state, ys, penalty) with penalty of shape batch.
  """
  if backend not in BACKENDS:
    raise ValueError(f"unknown backend {backend!r}; valid choices: {', '.join(BACKENDS)}")
  if outputs not in ("all", "last"):
    raise ValueError(f"unroll: unknown outputs {outputs!r}; valid choices: all, last")
  last = outputs == "last"
  if not time_major:
    xs = jnp.swapaxes(xs, 0, 1)
  if state0 is None:
    state0 = cell.initial_state(params, xs.shape[1:-1])
  params = prepare(cell, params)  # once per sequence, outside the time loop
  extras = (key is not None or penalties) and has_training_terms(cell)
  if extras and backend in ("remat", "pallas", "wavefront"):
    _log.warning("unroll: backend %r falls back to lax.scan: it runs no cell noise or penalties", backend)
  kernel = None if extras else _kernel_schedule(cell, params, xs, state0, backend)
  remat = kernel is None and not extras and backend == "remat"
  penalty = jnp.zeros(xs.shape[1:-1], jnp.float32)
  if kernel is not None:
    from rnnstab.kernels import fused_unroll  # the kernels import the cells: import on first use
    state, ys = fused_unroll(cell, params, xs, state0, schedule=kernel, recompute=recompute,
                             interpret=jax.default_backend() == "cpu")
    ys = ys[-1:] if last else ys
  elif isinstance(cell, Stack):
    # Layer by layer over the whole sequence: each layer's input projection becomes one large matmul.
    states, ys = [], xs
    for l, (c, p) in enumerate(zip(cell.cells, params["layers"])):
      k = None if key is None else jax.random.fold_in(key, l)
      top = l == len(cell.cells) - 1  # the layers below feed every step's output to the next
      s, ys = _scan(c, p, ys, state0[l], unroll, k, extras, remat, last and top)
      if extras:
        ys, cost = ys
        penalty = penalty + jnp.mean(cost, axis=0)
        ys = ys[-1:] if last and top else ys
      states.append(s)
    state = tuple(states)
  else:
    state, ys = _scan(cell, params, xs, state0, unroll, key, extras, remat, last)
    if extras:
      ys, cost = ys
      penalty = jnp.mean(cost, axis=0)
      ys = ys[-1:] if last else ys
  if not time_major:
    ys = jnp.swapaxes(ys, 0, 1)
  return (state, ys, penalty) if penalties else (state, ys)


def _kernel_schedule(cell, params, xs, state0, backend: str) -> str | None:
  """The fused kernels' schedule ("time" or "wavefront") for this call, or None for ``lax.scan``."""
  if backend in ("scan", "remat"):
    return None
  if xs.ndim != 3:  # the kernels block one batch axis; seeds come through vmap
    if backend != "auto":
      _log.warning("unroll: backend %r falls back to lax.scan: the kernels take inputs (T, B, D), got %s",
                   backend, xs.shape)
    return None
  platform = jax.default_backend()
  if backend == "auto" and platform == "cpu":
    return None
  if platform != "cpu":
    from rnnstab.kernels import kernel_fits
    reason = kernel_fits(cell, params, xs, state0, platform)
    if reason is not None:
      _log.warning("unroll: backend %r falls back to lax.scan: %s", backend, reason)
      return None
  return "wavefront" if backend == "wavefront" else "time"
