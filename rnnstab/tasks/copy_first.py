"""Copy-first-input: remember the first of T Gaussian inputs until the last step.

References:
  Vecoven, Ernst & Drion 2021, arXiv 2006.05252 (benchmark 1); Lambrechts et al. 2023 (warmup paper).
"""
from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp

from rnnstab.tasks.base import Batch, Task


@dataclasses.dataclass(frozen=True)
class CopyFirstInput(Task):
  """x_t ~ N(0, 1) for t = 0..T-1 (one channel); the output at the last step must equal x_0.

  Loss and metric: MSE at the last step. Predicting the mean gives MSE 1 (chance).
  """

  scored: ClassVar[str] = "last"

  def sample(self, key, batch):
    T = self.seq_len
    x = jax.random.normal(key, (T, batch, 1), jnp.float32)
    targets = jnp.zeros_like(x).at[-1].set(x[0])
    mask = jnp.zeros((T, batch), jnp.float32).at[-1].set(1.0)
    return Batch(x, targets, mask)
