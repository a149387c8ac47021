"""Jaeger's short-term memory capacity of any cell: how much of its i.i.d. input a linear readout recovers.

    MC = sum_{k=1..K} MC_k,   MC_k = corr^2(u(t - k), y_k(t)),   y_k = a ridge readout of the cell's output

The cell (built with input size 1) is driven by one long sequence of u(t) ~ U(-1, 1). After a washout, a
readout per delay k is fitted on the first half of the outputs and MC_k is measured on the second half,
so a readout's fit to noise does not inflate the sum. Jaeger proves MC <= N for N linear units driven by
i.i.d. input; a delay line of N units has MC = N - 1 exactly (u(t - 1) .. u(t - N + 1) sit in its state).

The unroll is one jitted JAX call; the readouts are fitted on the host in float64 through an SVD of the
centred, standardised outputs (ridge as a fraction of the largest squared singular value), which keeps
the nearly collinear outputs of a linear reservoir from losing the small directions that carry long delays.

References:
  Jaeger, "Short term memory in echo state networks", GMD Report 152, 2001.
"""
from __future__ import annotations

import jax
import numpy as np

from rnnstab.unroll import unroll


def memory_curve(cell, params, key, *, length: int = 4000, washout: int = 200, max_delay: int | None = None,
                 ridge: float = 1e-10) -> np.ndarray:
  """MC_k for k = 1 .. max_delay.

  Args:
    cell: any rnnstab cell (or stack) whose params were built for input size 1.
    params: its params.
    key: draws the input sequence.
    length: steps after the washout; half fit the readouts, half measure them.
    washout: first steps, discarded (the initial state's transient).
    max_delay: K; default 2 x the cell's output size (MC_k is about 0 well before that).
    ridge: Tikhonov regularisation, relative to the largest squared singular value of the outputs.

  Returns:
    (K,) float64 array of squared correlations in [0, 1]; all NaN when the cell's outputs overflow (a
    diverging network, e.g. a ReLU RNN with a recurrent radius above 1, has no memory capacity to measure).
  """
  K = max_delay or 2 * cell.output_size
  if washout < K:
    raise ValueError(f"memory_curve: washout ({washout}) must be at least max_delay ({K})")
  u = jax.random.uniform(key, (washout + length,), minval=-1.0, maxval=1.0)
  _, ys = jax.jit(lambda p, x: unroll(cell, p, x, backend="scan"))(params, u[:, None, None])
  X = np.asarray(ys[washout:, 0, :], np.float64)
  u = np.asarray(u, np.float64)
  t = np.arange(washout, washout + length)
  Y = np.stack([u[t - k] for k in range(1, K + 1)], axis=1)         # (length, K): the delayed inputs
  half = length // 2
  mean, std = X[:half].mean(0), X[:half].std(0)
  std[std == 0] = 1.0  # a constant unit carries nothing; leave it out of the scaling
  Z = (X - mean) / std
  if not np.isfinite(Z).all():
    return np.full(K, np.nan)
  y_mean = Y[:half].mean(0)
  Uz, s, Vt = np.linalg.svd(Z[:half], full_matrices=False)
  shrink = s / (s ** 2 + ridge * (s[0] ** 2 if s.size and s[0] > 0 else 1.0))
  readout = Vt.T @ (shrink[:, None] * (Uz.T @ (Y[:half] - y_mean)))  # (H, K)
  pred = Z[half:] @ readout + y_mean
  target = Y[half:]
  pc, tc = pred - pred.mean(0), target - target.mean(0)
  denom = np.sqrt((pc ** 2).sum(0) * (tc ** 2).sum(0))
  corr = np.where(denom > 0, (pc * tc).sum(0) / np.where(denom > 0, denom, 1.0), 0.0)
  return corr ** 2


def memory_capacity(cell, params, key, **kwargs) -> float:
  """Jaeger's MC = sum_k MC_k (``memory_curve``'s arguments); at most N for N linear units, NaN for a
  diverging network.

  References:
    Jaeger, "Short term memory in echo state networks", GMD Report 152, 2001.
  """
  return float(memory_curve(cell, params, key, **kwargs).sum())
