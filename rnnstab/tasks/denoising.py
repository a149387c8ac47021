"""Denoising: recall, in order, the few values marked in a noisy stream once a cue says so.

References:
  Vecoven, Ernst & Drion 2021, arXiv 2006.05252 (benchmark 2); Lambrechts et al. 2023 (warmup paper).
"""
from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp

from rnnstab.tasks.base import Batch, Task


@dataclasses.dataclass(frozen=True)
class Denoising(Task):
  """Two channels: x_t ~ N(0, 1) and a flag. ``number`` steps drawn without replacement from the first
  T - number - forbidden steps have flag 1; step T - number has flag -1 (the cue); every other flag is 0.
  From the cue on, the outputs of the last ``number`` steps must be the marked values in time order.

  Follows the warmup paper's code (sequence outputs on the last steps); ``forbidden`` > 0 keeps markers
  away from the end as in the BRC paper's harder variant (which used 200 forbidden steps for T = 400).
  Loss and metric: MSE over the last ``number`` steps; chance MSE 1.

  Attributes:
    number: how many values to recall (5 in both papers).
    forbidden: steps before the cue in which no value is marked.
  """

  number: int = 5
  forbidden: int = 0

  input_size: ClassVar[int] = 2

  def __post_init__(self):
    super().__post_init__()
    if self.number < 1 or self.forbidden < 0 or self.seq_len - self.number - self.forbidden < self.number:
      raise ValueError(f"Denoising: seq_len {self.seq_len} leaves fewer than number={self.number} markable steps "
                       f"after number + forbidden={self.forbidden}; use a longer --seq_len")

  def sample(self, key, batch):
    T, n = self.seq_len, self.number
    kx, kp = jax.random.split(key)
    x = jax.random.normal(kx, (T, batch), jnp.float32)
    markable = T - n - self.forbidden
    # n distinct positions per example: the n smallest of i.i.d. uniform keys, then sorted in time.
    pos = jnp.sort(jnp.argsort(jax.random.uniform(kp, (batch, markable)), axis=1)[:, :n], axis=1)  # (B, n)
    flag = jnp.zeros((batch, T), jnp.float32).at[jnp.arange(batch)[:, None], pos].set(1.0).at[:, T - n].set(-1.0)
    inputs = jnp.stack([x, flag.T], axis=-1)
    values = jnp.take_along_axis(x.T, pos, axis=1)  # (B, n)
    targets = jnp.zeros((T, batch, 1), jnp.float32).at[T - n:, :, 0].set(values.T)
    mask = jnp.zeros((T, batch), jnp.float32).at[T - n:].set(1.0)
    return Batch(inputs, targets, mask)
