"""Recall: reproduce the input from k steps back, on i.i.d. random data.

References:
  Jaeger, "Short term memory in echo state networks", GMD Report 152, 2001 (the delay-k recall task; the
  squared correlations of the delay-k recalls sum to the memory capacity).
  Memorisation of random data: reproduce the input from k steps back; each cell has a hard limit k*, the
  largest delay it learns, far below the information-theoretic one and tied to its memory capacity.
"""
from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp

from rnnstab.tasks.base import Batch, Task, masked_mse

INPUT_VARIANCE = 1.0 / 3.0   # var of U[-1, 1]


@dataclasses.dataclass(frozen=True)
class Recall(Task):
  """u_t ~ U[-1, 1] i.i.d. (one channel); the output at step t must be u_{t-k}, k = ``delay``.

  The first ``delay`` steps have nothing to recall and are not scored. Loss: MSE. Metrics: "mse" and
  "r2" = 1 - MSE / var(u) with var(u) = 1/3, the one runs report: 1 is perfect recall, 0 (chance) is
  what predicting the mean scores. The quantity this task measures is k*, the largest delay a cell
  learns (``--task=recall:delay=k`` over k); it relates to Jaeger's memory capacity
  (``rnnstab.analysis.memory_capacity``), whose delay-k terms are the squared correlations of this recall.

  Attributes:
    delay: k, how many steps back the output looks (>= 1, < seq_len).
  """

  delay: int = 10

  metric: ClassVar[str] = "r2"

  @property
  def chance(self) -> float:
    return 0.0

  def __post_init__(self):
    super().__post_init__()
    if not isinstance(self.delay, int) or isinstance(self.delay, bool) or self.delay < 1:
      raise ValueError(f"--task: option delay of recall must be an integer >= 1, got {self.delay!r}")
    if self.seq_len <= self.delay:
      raise ValueError(f"--seq_len: recall with delay={self.delay} needs --seq_len > {self.delay} (the first "
                       f"{self.delay} steps are not scored), got {self.seq_len}")

  def sample(self, key, batch):
    T, k = self.seq_len, self.delay
    u = jax.random.uniform(key, (T, batch, 1), jnp.float32, -1.0, 1.0)
    targets = jnp.zeros_like(u).at[k:].set(u[:T - k])
    mask = jnp.zeros((T, batch), jnp.float32).at[k:].set(1.0)
    return Batch(u, targets, mask)

  def metrics(self, preds, targets, mask):
    mse = masked_mse(preds, targets, mask)
    # The law's variance, not each sequence's sample variance: r2 then stays an affine map of MSE, so
    # seeds and delays compare on one scale.
    return {"mse": mse, "r2": 1.0 - mse / INPUT_VARIANCE}
