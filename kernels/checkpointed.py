"""The fused scan that trades compute for memory: it keeps one carry in every ``every`` steps.

``fused_scan`` saves the carry of every step for its backward pass. ``checkpointed_scan`` saves only the
outputs the caller asked for and the carry at the end of each segment of ``every`` steps; the backward
kernel walks the segments in reverse, recomputes a segment's carries forward from its checkpoint into a
workspace of ``every`` carries, then runs the reverse-time VJP loop over them. Residual memory drops from
T carries to T / every (an LSTM also stops keeping its cell state c at every step), for one extra
forward pass inside the backward kernel.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.experimental import pallas as pl

from rnnstab.kernels.scan import _batch_block, _compiler_params, _full, _Plan


def _groups(refs, sizes):
  out, i = [], 0
  for n in sizes:
    out.append(refs[i:i + n])
    i += n
  return out


def _forward_kernel(plan: _Plan, output, every: int, ny: int, *refs):
  nx, ns, npar = len(plan.x_shapes), len(plan.s_shapes), len(plan.p_shapes)
  x_refs, s0_refs, p_refs, y_refs, ck_refs = _groups(refs, [nx, ns, npar, ny, ns])
  params = plan.params([r[...] for r in p_refs])

  def segment(j, state):
    def body(k, state):
      t = j * every + k
      state = plan.step(params, state, jax.tree_util.tree_unflatten(plan.x_def, [r[t] for r in x_refs]))
      for r, y in zip(y_refs, jax.tree_util.tree_leaves(output(state))):
        r[t] = y.astype(r.dtype)
      return state

    state = jax.lax.fori_loop(0, every, body, state)
    for r, leaf in zip(ck_refs, jax.tree_util.tree_leaves(state)):
      r[j] = leaf
    return state

  state0 = jax.tree_util.tree_unflatten(plan.s_def, [r[...] for r in s0_refs])
  jax.lax.fori_loop(0, plan.T // every, segment, state0)


def _backward_kernel(plan: _Plan, output, every: int, ny: int, *refs):
  nx, ns, npar = len(plan.x_shapes), len(plan.s_shapes), len(plan.p_shapes)
  (x_refs, s0_refs, p_refs, ck_refs, dy_refs, dfin_refs, dx_refs, ds0_refs, dp_refs,
   ws_refs) = _groups(refs, [nx, ns, npar, ns, ny, ns, nx, ns, npar, ns])
  p_leaves = [r[...] for r in p_refs]
  s0 = [r[...] for r in s0_refs]
  params = plan.params(p_leaves)

  def step(p_leaves, s_leaves, x_leaves):
    state = jax.tree_util.tree_unflatten(plan.s_def, s_leaves)
    new = plan.step(plan.params(p_leaves), state, jax.tree_util.tree_unflatten(plan.x_def, x_leaves))
    return jax.tree_util.tree_leaves(new), jax.tree_util.tree_leaves(output(new))

  def segment(i, carry):
    j = plan.T // every - 1 - i
    start = [jnp.where(j > 0, r[jnp.maximum(j - 1, 0)], s) for r, s in zip(ck_refs, s0)]

    def recompute(k, state):
      state = plan.step(params, state, jax.tree_util.tree_unflatten(plan.x_def, [r[j * every + k] for r in x_refs]))
      for r, leaf in zip(ws_refs, jax.tree_util.tree_leaves(state)):
        r[k] = leaf
      return state

    jax.lax.fori_loop(0, every, recompute, jax.tree_util.tree_unflatten(plan.s_def, start))

    def reverse(m, carry):
      ds, dp = carry
      k = every - 1 - m
      t = j * every + k
      prev = [jnp.where(k > 0, r[jnp.maximum(k - 1, 0)], s) for r, s in zip(ws_refs, start)]
      _, vjp = jax.vjp(step, p_leaves, prev, [r[t] for r in x_refs])
      dp_t, ds_prev, dx_t = vjp((ds, [r[t] for r in dy_refs]))
      for r, v in zip(dx_refs, dx_t):
        r[t] = v.astype(r.dtype)
      return ds_prev, [a + b.astype(jnp.float32) for a, b in zip(dp, dp_t)]

    return jax.lax.fori_loop(0, every, reverse, carry)

  ds = [r[...] for r in dfin_refs]
  dp = [jnp.zeros(p.shape, jnp.float32) for p in p_leaves]
  ds, dp = jax.lax.fori_loop(0, plan.T // every, segment, (ds, dp))
  for r, v in zip(ds0_refs, ds):
    r[...] = v
  for r, v in zip(dp_refs, dp):
    r[...] = v[None]


def checkpointed_scan(step, output, params, carry0, xs, *, every: int, batch_block: int | None = None,
                      interpret: bool = False, platform: str | None = None):
  """``fused_scan`` that saves one carry per ``every`` steps and recomputes the rest in its backward kernel.

  Args:
    step: (params, carry, x) -> carry, as for ``fused_scan``.
    output: carry -> the per-step output the caller keeps (a cell's ``output``).
    params, carry0, xs, batch_block, interpret, platform: as for ``fused_scan``.
    every: steps per segment; it must divide T.

  Returns:
    (final carry, outputs with leaves (T, B, ...)), float32, differentiable (``jax.custom_vjp``).
  """
  plan = _Plan(step, params, carry0, xs, batch_block)
  if every < 1 or plan.T % every:
    raise ValueError(f"recompute: the segment length {every} must divide the sequence length {plan.T}")
  segments = plan.T // every
  carry_struct = jax.eval_shape(lambda c: c, carry0)
  y_shapes = [y.shape for y in jax.tree_util.tree_leaves(jax.eval_shape(output, carry_struct))]
  y_def = jax.tree_util.tree_structure(jax.eval_shape(output, carry_struct))
  ny = len(y_shapes)
  per_step = lambda shapes: [_batch_block((plan.T,) + tuple(s), plan.block, True) for s in shapes]
  states = lambda n: [_batch_block((n,) + tuple(s), plan.block, True) for s in plan.s_shapes]
  common_in = ([_batch_block(s, plan.block, True) for s in plan.x_shapes]
               + [_batch_block(s, plan.block, False) for s in plan.s_shapes]
               + [_full(s) for s in plan.p_shapes])
  f32 = lambda shape: jax.ShapeDtypeStruct(tuple(shape), jnp.float32)
  forward = pl.pallas_call(
      functools.partial(_forward_kernel, plan, output, every, ny),
      out_shape=[f32((plan.T,) + tuple(s)) for s in y_shapes] + [f32((segments,) + tuple(s)) for s in plan.s_shapes],
      grid=(plan.blocks,), in_specs=common_in, out_specs=per_step(y_shapes) + states(segments),
      interpret=interpret, name="recurrence_fwd_checkpointed", compiler_params=_compiler_params(platform))
  # The workspace of ``every`` recomputed carries is an output (per batch block) so that it lives in the
  # kernel's memory on every backend (Triton has no scratch buffers); the caller discards it.
  backward = pl.pallas_call(
      functools.partial(_backward_kernel, plan, output, every, ny),
      out_shape=([f32(s) for s in plan.x_shapes] + [f32(s) for s in plan.s_shapes]
                 + [f32((plan.blocks,) + tuple(s)) for s in plan.p_shapes]
                 + [f32((every,) + tuple(s)) for s in plan.s_shapes]),
      grid=(plan.blocks,),
      in_specs=common_in + states(segments) + per_step(y_shapes) + [_batch_block(s, plan.block, False)
                                                                    for s in plan.s_shapes],
      out_specs=([_batch_block(s, plan.block, True) for s in plan.x_shapes]
                 + [_batch_block(s, plan.block, False) for s in plan.s_shapes]
                 + [pl.BlockSpec((1,) + tuple(s), lambda b, n=len(s): (b,) + (0,) * n) for s in plan.p_shapes]
                 + states(every)),
      interpret=interpret, name="recurrence_bwd_checkpointed", compiler_params=_compiler_params(platform))

  def split(out):
    return out[:ny], out[ny:]

  @jax.custom_vjp
  def run(p_used, s0, x):
    ys, ckpts = split(forward(*x, *s0, *p_used))
    return ys, [c[-1] for c in ckpts]

  def run_fwd(p_used, s0, x):
    ys, ckpts = split(forward(*x, *s0, *p_used))
    return (ys, [c[-1] for c in ckpts]), (p_used, s0, x, ckpts)

  def run_bwd(res, g):
    p_used, s0, x, ckpts = res
    dys, dfinal = g
    out = backward(*x, *s0, *p_used, *ckpts, *dys, *dfinal)
    nx, ns, npar = len(x), len(s0), len(p_used)
    dx, ds0, dp = out[:nx], out[nx:nx + ns], out[nx + ns:nx + ns + npar]
    cast = lambda grads, like: [d.astype(a.dtype) for d, a in zip(grads, like)]
    return cast([d.sum(0) for d in dp], p_used), cast(ds0, s0), cast(dx, x)

  run.defvjp(run_fwd, run_bwd)
  s_leaves = [s.astype(jnp.float32) for s in jax.tree_util.tree_leaves(carry0)]
  ys, final = run(plan.split_params(params), s_leaves, jax.tree_util.tree_leaves(xs))
  return jax.tree_util.tree_unflatten(plan.s_def, list(final)), jax.tree_util.tree_unflatten(y_def, list(ys))
