"""The PLRNN's time loop with a hand-derived backward pass, batch on the minor axis (CPU fast path).

The PLRNN step is small (M = 40 units in the regularised-PLRNN paper): on CPU its training time goes to
memory traffic and to the shape of three (40 x 40) x (40 x B) products per step, not to arithmetic.
Here the loop runs on states laid out (H, N), batch last, and its VJP is written out instead of
derived by autodiff:

- every product is then a plain or right-transposed matmul (the forward W^T r, the backward W dz and
  the weight gradient r dz^T), which XLA:CPU runs faster than the left-transposed r^T dz that the
  (N, H) layout needs for the weight gradient;
- the forward saves only the states (as ``unroll(backend="remat")`` does), and the reverse loop reads
  each once, recomputes relu from it and carries the gradients of A, W, C and h in its carry, reducing
  over the batch where the batch is the contiguous axis;
- the input and the bias ride in the same products: the forward multiplies [W; C; h^T] by
  [relu(z); x; 1], and the backward's one product [relu(z); x; 1] dz^T gives the gradients of W, C and h
  together (summing dz over the batch at every step, and a separate (D x N) x (N x H) product for C,
  each cost XLA:CPU about as much as a 40 x 40 matmul);
- the clipped state's gradient mask comes from the state after the step, carried backwards, so
  nothing but the states is saved.

On CPU the same loop runs as a compiled kernel where it was built (``rnnstab.kernels.plrnn_cpu``, called
through XLA's FFI): one pass a step, the element-wise work fused into the products and the saved stack
never zero-filled. The XLA loop below is the reference it is tested against and the fallback elsewhere.

Same equations as ``PLRNN.recur`` (mean-centred and clipped variants included), so the same values and
gradients up to float32 summation order (tests/test_plrnn_loop.py checks both against autodiff of the
scan). ``unroll(backend="remat")`` uses it for float32 PLRNNs; benchmarks/plrnn.py measures it.

References:
  Schmidt et al., "Identifying nonlinear dynamical systems with multiple time scales and long-range
  dependencies", ICLR 2021 (the PLRNN step and the M = 40 addition-problem setting it is timed on).
"""
from __future__ import annotations

import functools
import logging

import jax
import jax.numpy as jnp

_log = logging.getLogger(__name__)


def _relu_input(z, mean_centre):
  return z - jnp.mean(z, axis=0, keepdims=True) if mean_centre else z


def _operands(z, x, mean_centre):
  """[relu(z); x; 1] (H + D + 1, N): what the step's products multiply, so that one matmul by [W; C; h^T]
  does the recurrence, the input and the bias, and one matmul by dz^T gives all three gradients."""
  act = _relu_input(z, mean_centre)
  return act, jnp.concatenate([jax.nn.relu(act), x, jnp.ones((1, z.shape[1]), z.dtype)])


def _step(A, WCh, z, x, mean_centre, clip):
  """One PLRNN step on (H, N) states and (D, N) inputs; WCh = [W; C; h^T] in the cell's kernel layout."""
  pre = A[:, None] * z + WCh.T @ _operands(z, x, mean_centre)[1]
  return jnp.clip(pre, -clip, clip) if clip > 0 else pre


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1, 2, 3))
def _loop(mean_centre, clip, last, unroll, A, W, C, h, z0, x):
  return _forward(mean_centre, clip, last, unroll, A, W, C, h, z0, x)[0]


def _forward(mean_centre, clip, last, unroll, A, W, C, h, z0, x):
  """(output, residual stack): last: the final state and every step's previous state (T, H, N);
  all: every step's new state (T, H, N), which is also what the backward reads."""
  WCh = jnp.concatenate([W, C, h[None]])

  def step(z, x_t):
    new = _step(A, WCh, z, x_t, mean_centre, clip)
    return new, (z if last else new)

  final, stack = jax.lax.scan(step, z0, x, unroll=unroll)
  return (final if last else stack), stack


def _loop_fwd(mean_centre, clip, last, unroll, A, W, C, h, z0, x):
  out, stack = _forward(mean_centre, clip, last, unroll, A, W, C, h, z0, x)
  return out, (A, W, C, z0, x, stack, out[-1] if not last else out)


def _loop_bwd(mean_centre, clip, last, unroll, res, g):
  A, W, C, z0, x, stack, final = res
  if last:
    prev, g_steps = stack, None
  else:  # every step's output has a cotangent; the previous states are the outputs shifted by one
    prev, g_steps, g = jnp.concatenate([z0[None], stack[:-1]]), g, jnp.zeros_like(final)

  H, D = W.shape[0], C.shape[0]

  def back(carry, inputs):
    dz, z_next, dA, dWCh = carry
    z, x_t, g_t = inputs
    if g_t is not None:
      dz = dz + g_t
    if clip > 0:  # the clip passes the gradient where it did not bind (autodiff of jnp.clip gives half
      # of it to a pre-activation exactly at the bound, this none: a measure-zero difference)
      dz = jnp.where(jnp.abs(z_next) < clip, dz, 0.0)
    act, operands = _operands(z, x_t, mean_centre)
    dWCh = dWCh + operands @ dz.T   # the gradients of W, C and h in one product (module docstring)
    dact = jnp.where(act > 0, W @ dz, 0.0)
    if mean_centre:
      dact = dact - jnp.mean(dact, axis=0, keepdims=True)
    dA = dA + jnp.sum(z * dz, axis=1)
    dx = C @ dz
    return (A[:, None] * dz + dact, z, dA, dWCh), dx

  init = (g, final, jnp.zeros(A.shape, jnp.float32), jnp.zeros((H + D + 1, H), jnp.float32))
  (dz0, _, dA, dWCh), dx = jax.lax.scan(back, init, (prev, x, g_steps), reverse=True, unroll=unroll)
  dW, dC, dh = dWCh[:H], dWCh[H:H + D], dWCh[H + D]
  return dA, dW, dC, dh, dz0, dx


_loop.defvjp(_loop_fwd, _loop_bwd)


# The kernel's register-tiled products beat XLA:CPU's up to about this width; above it XLA's matmuls
# (blocked for large operands) win: gradient of a 100-step loop, one core, kernel against XLA loop:
# 1.5x at H = 40 and 64 (batch 64), 1.3x at H = 40 (batch 500), 1.0-1.1x at H = 128, 0.7x at H = 192 and 256.
KERNEL_MAX_HIDDEN = 128


def _use_kernel(hidden: int) -> bool:
  """Whether the compiled CPU kernel runs the loop: on the CPU backend, up to KERNEL_MAX_HIDDEN units,
  where it was built and not turned off."""
  if jax.default_backend() != "cpu" or hidden > KERNEL_MAX_HIDDEN:
    return False
  from rnnstab.kernels.plrnn_cpu import unavailable
  reason = unavailable()
  if reason is not None:
    _log.debug("plrnn_time_loop: the XLA loop, not the CPU kernel: %s", reason)
  return reason is None


def batch_minor(seq):
  """(T, *batch, n) -> (T, n, N): a sequence in the loops' layout, the batch flattened onto the minor axis."""
  return jnp.swapaxes(seq.reshape(seq.shape[0], -1, seq.shape[-1]), 1, 2)


def batch_major(seq, batch):
  """(T, n, N) -> (T, *batch, n): ``batch_minor``'s inverse."""
  return jnp.swapaxes(seq, 1, 2).reshape(seq.shape[0], *batch, seq.shape[1])


def plrnn_time_loop(cell, params, xs, state0, last: bool, unroll: int = 1):
  """``unroll``'s (final state, outputs) of a PLRNN over ``xs``, by the loop above.

  Args:
    cell: a float32 ``PLRNN``.
    params: its params after ``cell.prepare`` (W's diagonal masked).
    xs: inputs (T, *batch, D).
    state0: the initial state (*batch, H).
    last: return only the last output, (1, *batch, H); else every step's, (T, *batch, H).
    unroll: steps per loop iteration of both loops (speed only).

  Returns:
    (final state (*batch, H), outputs), differentiable in params, xs and state0.
  """
  batch, H = state0.shape[:-1], cell.hidden_size
  z0 = state0.reshape(-1, H).T
  args = (params["A"], params["W_offdiag"], params["C"], params["h"], z0, batch_minor(xs))
  if _use_kernel(H):
    from rnnstab.kernels.plrnn_cpu import kernel_loop  # the kernels package imports the cells: on first use
    out = kernel_loop(cell.mean_centre, float(cell.clip_range), last, *args)
  else:
    out = _loop(cell.mean_centre, float(cell.clip_range), last, unroll, *args)
  if last:
    final = batch_major(out[None], batch)[0]
    return final, final[None]
  ys = batch_major(out, batch)
  return ys[-1], ys
