"""Reservoir mode: a recurrent network kept at its initialisation, with only its linear readout fitted.

The classical counterpart of trained recurrent networks (echo state networks, and quantum reservoir
RNNs): the recurrent part stays as initialised (possibly after warmup or LSC pre-training) and the
readout y_t = h_t W + b is fitted to the task's scored steps, in closed form by ridge regression
(``ridge_readout``) or by gradient descent (``--train=readout --readout_fit=gd``: the trainer stops the
gradient at the recurrent part, which also spares backpropagation through time).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from rnnstab.unroll import unroll


def ridge_readout(features, targets, mask, ridge: float = 1e-6) -> dict:
  """The ridge-regression readout: min ||X W + b - Y||^2 + lam ||W||^2 over the masked rows.

  Features and targets are centred (so the bias is not penalised) and lam is ``ridge`` times the mean
  eigenvalue of the centred Gram matrix, which makes it independent of the features' scale.

  Args:
    features: (..., H) network outputs h_t.
    targets: (..., O) targets at the same steps.
    mask: (...) 1 where a step is scored.
    ridge: relative Tikhonov regularisation.

  Returns:
    {"W": (H, O), "b": (O,)}, float32.

  References:
    Lukosevicius & Jaeger, "Reservoir computing approaches to recurrent neural network training", Computer
    Science Review 2009 (ridge regression readouts).
  """
  H, O = features.shape[-1], targets.shape[-1]
  X = features.reshape(-1, H).astype(jnp.float32)
  Y = targets.reshape(-1, O).astype(jnp.float32)
  m = mask.reshape(-1, 1).astype(jnp.float32)
  n = jnp.maximum(jnp.sum(m), 1.0)
  x_mean, y_mean = jnp.sum(X * m, 0) / n, jnp.sum(Y * m, 0) / n
  Xc, Yc = (X - x_mean) * m, (Y - y_mean) * m
  gram = Xc.T @ Xc
  lam = ridge * jnp.maximum(jnp.trace(gram) / H, 1e-12)
  W = jnp.linalg.solve(gram + lam * jnp.eye(H, dtype=jnp.float32), Xc.T @ Yc)
  return {"W": W, "b": y_mean - x_mean @ W}


def fit_readout(model, params, sample, key, *, batches: int, ridge: float = 1e-6) -> dict:
  """``params`` with the model's readout replaced by the ridge readout of its recurrent part's outputs.

  Args:
    model: a ``SequenceModel``.
    params: its params ({"cell", "readout"}).
    sample: ``key -> Batch`` of task sequences (inputs, targets, mask).
    key: PRNG key of the batches.
    batches: how many batches the readout is fitted on.
    ridge: relative Tikhonov regularisation (``ridge_readout``).

  Returns:
    The params with a new "readout".
  """
  data = jax.vmap(sample)(jax.random.split(key, batches))
  # (batches, T, B, ...) -> (T, batches * B, ...): one unroll over every sequence.
  merge = lambda a: jnp.moveaxis(a, 0, 1).reshape(a.shape[1], a.shape[0] * a.shape[2], *a.shape[3:])
  _, ys = unroll(model.cell, params["cell"], merge(data.inputs), backend=model.backend)
  return {**params, "readout": ridge_readout(ys, merge(data.targets), merge(data.mask), ridge)}
