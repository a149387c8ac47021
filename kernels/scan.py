"""A fused Pallas scan: the time loop inside one kernel, its reverse-time gradient loop in another.

The sequential part of a recurrence is what a Pallas kernel is for: everything that depends on the
input alone (``cell.project``, one large matmul over all steps) stays outside, where XLA does large
matmuls well. ``fused_scan(step, params, carry0, xs)`` runs ``carry = step(params, carry, x_t)``:

- forward: the parameters ``step`` reads are loaded once per batch block and stay on chip for all T
  steps; the carry lives in registers/VMEM through a ``fori_loop``; every step's carry is written out
  (what the backward pass needs; a cell's outputs are read from them);
- backward: a reverse-time ``fori_loop`` that, at each step, takes the VJP of ``step`` at the saved
  previous carry, writes the gradient of that step's input, carries the state gradient backwards and
  accumulates the parameters' gradient for its batch block (the blocks are summed outside).

Because the kernels trace the caller's own ``step`` (a cell's ``recur``, a stack's, or the wavefront's
diagonal step), one kernel pair serves every cell and the equations cannot drift from the scan path's.
``jax.grad`` does not pass through ``pallas_call``: the pair is joined by ``jax.custom_vjp``. vmap over
seeds is ``pallas_call``'s own batching rule (a leading grid axis).
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.experimental import pallas as pl
from jax.extend.core import Literal
from jax.experimental.pallas import triton as pl_triton


def _used_params(step, params, carry, x) -> list[bool]:
  """Which leaves of ``params`` ``step`` reads: a cell's input weights (``U``) stay out of the kernel."""
  leaves, treedef = jax.tree_util.tree_flatten(params)
  jaxpr = jax.make_jaxpr(lambda p, s, x: step(jax.tree_util.tree_unflatten(treedef, p), s, x))(
      leaves, carry, x).jaxpr
  read = {v for eqn in jaxpr.eqns for v in eqn.invars if not isinstance(v, Literal)}
  read |= {v for v in jaxpr.outvars if not isinstance(v, Literal)}
  return [v in read for v in jaxpr.invars[:len(leaves)]]


def _as_2d(shape):
  return tuple(shape) if len(shape) >= 2 else (1,) * (2 - len(shape)) + tuple(shape)


def _full(shape):
  """A block that is the whole array, the same block at every grid step (so it is loaded once)."""
  return pl.BlockSpec(shape, lambda *_: (0,) * len(shape))


def _batch_block(shape, block, time_major):
  """Blocks of ``block`` rows of the batch axis (axis 1 for per-step arrays, 0 for states)."""
  if time_major:
    return pl.BlockSpec((shape[0], block) + tuple(shape[2:]), lambda b: (0, b) + (0,) * (len(shape) - 2))
  return pl.BlockSpec((block,) + tuple(shape[1:]), lambda b: (b,) + (0,) * (len(shape) - 1))


class _Plan:
  """The flattened pytrees and block layout of one fused call (static: closed over by the kernels)."""

  def __init__(self, step, params, state0, xps, batch_block):
    T, B = jax.tree_util.tree_leaves(xps)[0].shape[:2]
    self.step, self.T, self.B = step, T, B
    self.block = B if batch_block is None else batch_block
    if B % self.block:
      raise ValueError(f"batch_block: {self.block} does not divide the batch {B}")
    self.blocks = B // self.block
    p_leaves, self.p_def = jax.tree_util.tree_flatten(params)
    x0 = jax.tree_util.tree_map(lambda a: a[0], xps)
    self.used = _used_params(step, params, state0, x0)
    # Vectors enter the kernel as (1, n) rows: Mosaic TPU lays out 2-D tiles, and a row broadcasts
    # against (B, n) exactly as the vector does in the cell's equations.
    self.p_shapes = [_as_2d(p.shape) for p, u in zip(p_leaves, self.used) if u]
    s_leaves, self.s_def = jax.tree_util.tree_flatten(state0)
    self.s_shapes = [s.shape for s in s_leaves]
    x_leaves, self.x_def = jax.tree_util.tree_flatten(xps)
    self.x_shapes = [x.shape for x in x_leaves]

  def params(self, leaves):
    """The full params pytree from the kernel's loaded (used) leaves; unused leaves are never read."""
    it = iter(leaves)
    return jax.tree_util.tree_unflatten(self.p_def, [next(it) if u else None for u in self.used])

  def split_params(self, params):
    return [p.reshape(_as_2d(p.shape)) for p, u in zip(jax.tree_util.tree_leaves(params), self.used) if u]


def _forward_kernel(plan: _Plan, *refs):
  nx, ns, npar = len(plan.x_shapes), len(plan.s_shapes), len(plan.p_shapes)
  x_refs, s0_refs, p_refs, out_refs = refs[:nx], refs[nx:nx + ns], refs[nx + ns:nx + ns + npar], refs[nx + ns + npar:]
  params = plan.params([r[...] for r in p_refs])

  def body(t, state):
    xp = jax.tree_util.tree_unflatten(plan.x_def, [r[t] for r in x_refs])
    state = plan.step(params, state, xp)
    for r, leaf in zip(out_refs, jax.tree_util.tree_leaves(state)):
      r[t] = leaf.astype(r.dtype)
    return state

  state0 = jax.tree_util.tree_unflatten(plan.s_def, [r[...] for r in s0_refs])
  jax.lax.fori_loop(0, plan.T, body, state0)


def _backward_kernel(plan: _Plan, *refs):
  nx, ns, npar = len(plan.x_shapes), len(plan.s_shapes), len(plan.p_shapes)
  sizes = [nx, ns, npar, ns, ns]   # xps, state0, params, saved states, their cotangents
  groups, i = [], 0
  for n in sizes:
    groups.append(refs[i:i + n])
    i += n
  x_refs, s0_refs, p_refs, st_refs, g_refs = groups
  dx_refs, ds0_refs, dp_refs = refs[i:i + nx], refs[i + nx:i + nx + ns], refs[i + nx + ns:]
  p_leaves = [r[...] for r in p_refs]
  s0 = [r[...] for r in s0_refs]

  def step(p_leaves, s_leaves, x_leaves):
    state = jax.tree_util.tree_unflatten(plan.s_def, s_leaves)
    xp = jax.tree_util.tree_unflatten(plan.x_def, x_leaves)
    new = plan.step(plan.params(p_leaves), state, xp)
    return jax.tree_util.tree_leaves(new)

  def body(i, carry):
    ds, dp = carry
    t = plan.T - 1 - i
    prev = [jnp.where(t > 0, r[jnp.maximum(t - 1, 0)], s) for r, s in zip(st_refs, s0)]
    _, vjp = jax.vjp(step, p_leaves, prev, [r[t] for r in x_refs])
    dp_t, ds_prev, dx_t = vjp([d + g[t] for d, g in zip(ds, g_refs)])
    for r, v in zip(dx_refs, dx_t):
      r[t] = v.astype(r.dtype)
    return ds_prev, [a + b.astype(jnp.float32) for a, b in zip(dp, dp_t)]

  ds = [jnp.zeros(s.shape, jnp.float32) for s in s0]
  dp = [jnp.zeros(p.shape, jnp.float32) for p in p_leaves]
  ds, dp = jax.lax.fori_loop(0, plan.T, body, (ds, dp))
  for r, v in zip(ds0_refs, ds):
    r[...] = v
  for r, v in zip(dp_refs, dp):
    r[...] = v[None]


def _compiler_params(platform: str | None):
  """Triton on GPU (JAX's default there, Mosaic GPU, has no lowering for a general dot_general at
  warpgroup semantics); Mosaic's defaults on TPU."""
  platform = platform or jax.default_backend()
  return pl_triton.CompilerParams(num_warps=4) if platform in ("gpu", "cuda", "rocm") else None


def _forward_call(plan: _Plan, interpret: bool, platform: str | None):
  in_specs = ([_batch_block(s, plan.block, True) for s in plan.x_shapes]
              + [_batch_block(s, plan.block, False) for s in plan.s_shapes]
              + [_full(s) for s in plan.p_shapes])
  out_shape = [jax.ShapeDtypeStruct((plan.T,) + tuple(s), jnp.float32) for s in plan.s_shapes]
  out_specs = [_batch_block((plan.T,) + tuple(s), plan.block, True) for s in plan.s_shapes]
  return pl.pallas_call(functools.partial(_forward_kernel, plan), out_shape=out_shape, grid=(plan.blocks,),
                        in_specs=in_specs, out_specs=out_specs, interpret=interpret, name="recurrence_fwd",
                        compiler_params=_compiler_params(platform))


def _backward_call(plan: _Plan, interpret: bool, platform: str | None):
  states = [(plan.T,) + tuple(s) for s in plan.s_shapes]
  in_specs = ([_batch_block(s, plan.block, True) for s in plan.x_shapes]
              + [_batch_block(s, plan.block, False) for s in plan.s_shapes]
              + [_full(s) for s in plan.p_shapes]
              + [_batch_block(s, plan.block, True) for s in states] * 2)
  out_shape = ([jax.ShapeDtypeStruct(s, jnp.float32) for s in plan.x_shapes]
               + [jax.ShapeDtypeStruct(s, jnp.float32) for s in plan.s_shapes]
               + [jax.ShapeDtypeStruct((plan.blocks,) + tuple(s), jnp.float32) for s in plan.p_shapes])
  out_specs = ([_batch_block(s, plan.block, True) for s in plan.x_shapes]
               + [_batch_block(s, plan.block, False) for s in plan.s_shapes]
               + [pl.BlockSpec((1,) + tuple(s), lambda b, n=len(s): (b,) + (0,) * n) for s in plan.p_shapes])
  return pl.pallas_call(functools.partial(_backward_kernel, plan), out_shape=out_shape, grid=(plan.blocks,),
                        in_specs=in_specs, out_specs=out_specs, interpret=interpret, name="recurrence_bwd",
                        compiler_params=_compiler_params(platform))


def fused_scan(step, params, carry0, xs, *, batch_block: int | None = None, interpret: bool = False,
               platform: str | None = None):
  """Every carry of ``carry = step(params, carry, x_t)`` over ``xs``, by the fused kernels.

  Args:
    step: (params, carry, x) -> carry, traced into the kernels (jnp / lax ops only).
    params: pytree; only the leaves ``step`` reads enter the kernels, vectors as (1, n) rows.
    carry0: the initial carry, leaves (B, n).
    xs: per-step inputs, leaves (T, B, ...).
    batch_block: rows of the batch per kernel instance (None: the whole batch).
    interpret: run the kernels in the Pallas interpreter (CPU tests).
    platform: the platform to lower for ("tpu", "gpu"); None: the default backend's. Given explicitly
      when exporting for a chip this machine does not have.

  Returns:
    The carry after every step, leaves (T, B, n), float32; differentiable in params, carry0 and xs
    (``jax.custom_vjp``), and vmappable (seeds become a grid axis).
  """
  plan = _Plan(step, params, carry0, xs, batch_block)
  forward, backward = _forward_call(plan, interpret, platform), _backward_call(plan, interpret, platform)

  @jax.custom_vjp
  def run(p_used, s0, x):
    return forward(*x, *s0, *p_used)

  def run_fwd(p_used, s0, x):
    states = forward(*x, *s0, *p_used)
    return states, (p_used, s0, x, states)

  def run_bwd(res, g):
    p_used, s0, x, states = res
    out = backward(*x, *s0, *p_used, *states, *g)
    nx, ns = len(x), len(s0)
    dx, ds0, dp = out[:nx], out[nx:nx + ns], out[nx + ns:]
    cast = lambda grads, like: [d.astype(a.dtype) for d, a in zip(grads, like)]
    return cast([d.sum(0) for d in dp], p_used), cast(ds0, s0), cast(dx, x)

  run.defvjp(run_fwd, run_bwd)
  s_leaves = jax.tree_util.tree_leaves(carry0)
  x_leaves = jax.tree_util.tree_leaves(xs)
  p_used = plan.split_params(params)
  states = run(p_used, [s.astype(jnp.float32) for s in s_leaves], x_leaves)
  return jax.tree_util.tree_unflatten(plan.s_def, list(states))
