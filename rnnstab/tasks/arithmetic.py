"""The adding and multiplication problems in the regularised-PLRNN paper's version.

References:
  Hochreiter & Schmidhuber, "Long short-term memory", Neural Computation 1997 (the problems).
  Schmidt et al., ICLR 2021 (the version here: marker positions, accuracy threshold 0.04).
"""
from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp

from rnnstab.tasks.base import Batch, Task, masked_mse

ACCURACY_THRESHOLD = 0.04


@dataclasses.dataclass(frozen=True)
class _MarkedPair(Task):
  """Two channels: values u_t ~ U[0, 1) and a marker that is 1 at two steps: the first among steps
  0..9, the second among steps 0..T/2-1, distinct. The target at the last step combines the two marked
  values. Metrics: MSE and accuracy, the fraction of trials with |error| < 0.04.
  """

  input_size: ClassVar[int] = 2
  min_seq_len: ClassVar[int] = 4
  scored: ClassVar[str] = "last"

  def combine(self, a, b):
    raise NotImplementedError  # sum or product

  def sample(self, key, batch):
    T = self.seq_len
    ku, k1, k2 = jax.random.split(key, 3)
    u = jax.random.uniform(ku, (T, batch), jnp.float32)
    half = T // 2
    i1 = jax.random.randint(k1, (batch,), 0, min(10, half))
    # Uniform over the other half - 1 positions: the same law as the authors' redraw-until-distinct.
    i2 = jax.random.randint(k2, (batch,), 0, half - 1)
    i2 = i2 + (i2 >= i1).astype(jnp.int32)
    cols = jnp.arange(batch)
    marker = jnp.zeros((T, batch), jnp.float32).at[i1, cols].set(1.0).at[i2, cols].set(1.0)
    target = self.combine(u[i1, cols], u[i2, cols])
    targets = jnp.zeros((T, batch, 1), jnp.float32).at[-1, :, 0].set(target)
    mask = jnp.zeros((T, batch), jnp.float32).at[-1].set(1.0)
    return Batch(jnp.stack([u, marker], axis=-1), targets, mask)

  def metrics(self, preds, targets, mask):
    err = jnp.abs(preds - targets)[..., 0]
    hit = (err < ACCURACY_THRESHOLD).astype(jnp.float32)
    accuracy = jnp.sum(hit * mask, axis=0) / jnp.maximum(jnp.sum(mask, axis=0), 1.0)
    return {"mse": masked_mse(preds, targets, mask), "accuracy": accuracy}


@dataclasses.dataclass(frozen=True)
class Adding(_MarkedPair):
  """Adding problem: target u_i1 + u_i2; chance MSE Var = 1/6."""

  chance_mse: ClassVar[float] = 1.0 / 6.0

  def combine(self, a, b):
    return a + b


@dataclasses.dataclass(frozen=True)
class Multiplication(_MarkedPair):
  """Multiplication problem: target u_i1 * u_i2; chance MSE Var = 1/9 - 1/16 = 7/144."""

  chance_mse: ClassVar[float] = 7.0 / 144.0

  def combine(self, a, b):
    return a * b
