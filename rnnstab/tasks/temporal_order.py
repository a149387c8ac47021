"""Temporal order: classify the order of two relevant symbols hidden among distractors.

References:
  Hochreiter & Schmidhuber, "Long short-term memory", Neural Computation 1997 (experiment 6a).
"""
from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp

from rnnstab.tasks.base import Batch, ClassificationTask

# Symbols: E (start), B (end), distractors a, b, c, d, relevant X, Y.
START, END, DISTRACTORS, X = 0, 1, (2, 3, 4, 5), 6


@dataclasses.dataclass(frozen=True)
class TemporalOrder(ClassificationTask):
  """A sequence E, distractors from {a, b, c, d}, ..., B of ``seq_len`` one-hot symbols, with X or Y at a
  time t1 in [0.1 T, 0.2 T] and again at t2 in [0.5 T, 0.6 T] (the paper's [10, 20] and [50, 60] for
  T = 100). The class of the order (XX, XY, YX, YY) is scored at the last step (chance accuracy 1/4).
  """

  input_size: ClassVar[int] = 8
  output_size: ClassVar[int] = 4
  min_seq_len: ClassVar[int] = 20
  chance: ClassVar[float] = 0.25
  scored: ClassVar[str] = "last"

  def sample(self, key, batch):
    T = self.seq_len
    k_d, k_1, k_2, k_s = jax.random.split(key, 4)
    tokens = jax.random.randint(k_d, (T, batch), DISTRACTORS[0], DISTRACTORS[-1] + 1)
    tokens = tokens.at[0].set(START).at[-1].set(END)
    t1 = jax.random.randint(k_1, (batch,), T // 10, T // 5 + 1)
    t2 = jax.random.randint(k_2, (batch,), T // 2, 3 * T // 5 + 1)
    which = jax.random.randint(k_s, (2, batch), 0, 2)           # 0: X, 1: Y
    cols = jnp.arange(batch)
    tokens = tokens.at[t1, cols].set(X + which[0]).at[t2, cols].set(X + which[1])
    label = 2 * which[0] + which[1]
    inputs = jax.nn.one_hot(tokens, self.input_size, dtype=jnp.float32)
    targets = jnp.zeros((T, batch, self.output_size), jnp.float32).at[-1].set(
        jax.nn.one_hot(label, self.output_size, dtype=jnp.float32))
    mask = jnp.zeros((T, batch), jnp.float32).at[-1].set(1.0)
    return Batch(inputs, targets, mask)
