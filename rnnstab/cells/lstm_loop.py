"""The LSTM's time loop with a hand-derived backward pass, batch on the minor axis (CPU fast path).

An LSTM step of the rPLRNN paper's baseline (40 units, batch 500) is four (40 x 40) products and a
few element-wise passes over (500 x 160) gates; on CPU the backward pass of autodiff, even
rematerialised step by step, costs about six forward passes. Here, as in ``rnnstab.cells.plrnn_loop``,
the states are laid out (H, N) with the batch last and the VJP is written out:

- the four gates are one product: [W; U; b^T] (H + D + 1, 4H) times [h; x; 1] (H + D + 1, N), so the
  recurrence, the input and the bias ride in one matmul forward, and the backward's one product
  [h; x; 1] dz^T gives the gradients of every W_g, U_g and b_g together;
- the backward's products are then plain or right-transposed (W dz and [h; x; 1] dz^T), which XLA:CPU
  runs faster than the left-transposed h^T dz of the (N, H) layout's weight gradient (holding the
  weights pre-transposed for the forward's product measured no faster);
- the forward saves only the states (h and c before each step); the reverse loop recomputes the step's
  gates from them and carries the gradients of h, c and the weights.

Same equations as ``LSTM.recur``, so the same values and gradients as autodiff of the scan up to
float32 summation order (tests/test_lstm_loop.py). ``unroll(backend="remat")`` runs it for float32
LSTMs (benchmarks/remat.py; docs/rplrnn.md, section 1).

References:
  Hochreiter & Schmidhuber, "Long short-term memory", Neural Computation 1997 (the step).
  Schmidt et al., "Identifying nonlinear dynamical systems with multiple time scales and long-range
  dependencies", ICLR 2021 (the LSTM baseline, M = 40, batch 500, whose training this speeds up).
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from rnnstab.cells.plrnn_loop import batch_major, batch_minor


def _operands(h, x):
  """[h; x; 1] (H + D + 1, N): one product by it gives all four gates' pre-activations."""
  return jnp.concatenate([h, x, jnp.ones((1, h.shape[1]), h.dtype)])


def _gates(WUb, h, x):
  """The gate activations (i, f, g, o), each (H, N), of one step from h (H, N) and x (D, N)."""
  H = h.shape[0]
  z = WUb.T @ _operands(h, x)
  return (jax.nn.sigmoid(z[:H]), jax.nn.sigmoid(z[H:2 * H]), jnp.tanh(z[2 * H:3 * H]),
          jax.nn.sigmoid(z[3 * H:]))


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _loop(last, unroll, WUb, h0, c0, x):
  return _forward(last, unroll, WUb, h0, c0, x)[0]


def _forward(last, unroll, WUb, h0, c0, x):
  """(output, residuals): output (h_T, c_T), with every step's h (T, H, N) after them unless ``last``;
  residuals: the c before each step and the h before (last) or after (all) each step."""

  def step(carry, x_t):
    h, c = carry
    i, f, g, o = _gates(WUb, h, x_t)
    c_new = f * c + i * g
    h_new = o * jnp.tanh(c_new)
    return (h_new, c_new), ((h if last else h_new), c)

  (h, c), (hs, cs) = jax.lax.scan(step, (h0, c0), x, unroll=unroll)
  return ((h, c) if last else (h, c, hs)), (hs, cs)


def _loop_fwd(last, unroll, WUb, h0, c0, x):
  out, (hs, cs) = _forward(last, unroll, WUb, h0, c0, x)
  return out, (WUb, h0, x, hs, cs)


def _loop_bwd(last, unroll, res, cot):
  WUb, h0, x, hs, cs = res
  if last:
    (dh, dc), prev, g_steps = cot, hs, None
  else:  # every step's h has a cotangent; the h before each step is the one after, shifted by one
    dh, dc, g_steps = cot
    prev = jnp.concatenate([h0[None], hs[:-1]])
  H, D = h0.shape[0], x.shape[1]
  W, U = WUb[:H], WUb[H:H + D]

  def back(carry, inputs):
    dh, dc, dWUb = carry
    h, c, x_t, g_t = inputs
    if g_t is not None:
      dh = dh + g_t
    i, f, g, o = _gates(WUb, h, x_t)
    tanh_c = jnp.tanh(f * c + i * g)
    dc = dc + dh * o * (1.0 - tanh_c * tanh_c)
    dz = jnp.concatenate([dc * g * i * (1.0 - i), dc * c * f * (1.0 - f), dc * i * (1.0 - g * g),
                          dh * tanh_c * o * (1.0 - o)])
    dWUb = dWUb + _operands(h, x_t) @ dz.T  # every W_g, U_g and b_g in one product (module docstring)
    return (W @ dz, dc * f, dWUb), U @ dz

  init = (dh, dc, jnp.zeros_like(WUb))
  (dh0, dc0, dWUb), dx = jax.lax.scan(back, init, (prev, cs, x, g_steps), reverse=True, unroll=unroll)
  return dWUb, dh0, dc0, dx


_loop.defvjp(_loop_fwd, _loop_bwd)


def lstm_time_loop(cell, params, xs, state0, last: bool, unroll: int = 1):
  """``unroll``'s (final state, outputs) of an LSTM over ``xs``, by the loop above.

  Args:
    cell: a float32 ``LSTM``.
    params: its params (U_g, W_g, b_g for g in i, f, g, o).
    xs: inputs (T, *batch, D).
    state0: the initial state {"h", "c"}, each (*batch, H).
    last: return only the last output, (1, *batch, H); else every step's, (T, *batch, H).
    unroll: steps per loop iteration of both loops (speed only).

  Returns:
    (final state {"h", "c"}, outputs), differentiable in params, xs and state0.
  """
  batch, H = state0["h"].shape[:-1], cell.hidden_size
  # The gate blocks in _gates' order (i, f, g, o), which is the cell's.
  gate_cat = lambda name: jnp.concatenate([params[f"{name}_{g}"] for g in cell.gates], axis=-1)
  WUb = jnp.concatenate([gate_cat("W"), gate_cat("U"), gate_cat("b")[None]])
  h0, c0 = (state0[k].reshape(-1, H).T for k in ("h", "c"))
  out = _loop(last, unroll, WUb, h0, c0, batch_minor(xs))
  final = {"h": batch_major(out[0][None], batch)[0], "c": batch_major(out[1][None], batch)[0]}
  if last:
    return final, final["h"][None]
  return final, batch_major(out[2], batch)
