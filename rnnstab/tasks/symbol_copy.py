"""The copy task with a delimiter: reproduce 10 symbols after a long blank delay.

References:
  Hochreiter & Schmidhuber, "Long short-term memory", Neural Computation 1997;
  Arjovsky, Shah & Bengio, "Unitary evolution recurrent neural networks", ICML 2016 (this version).
"""
from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import jax
import jax.numpy as jnp

from rnnstab.tasks.base import Batch, ClassificationTask

SYMBOLS = 8      # data symbols 1..8
LENGTH = 10      # how many are copied
BLANK, DELIMITER = 0, SYMBOLS + 1


@dataclasses.dataclass(frozen=True)
class SymbolCopy(ClassificationTask):
  """Inputs (one-hot over blank, 8 symbols, delimiter): 10 symbols drawn from 1..8, then blanks, with the
  delimiter 11 steps before the end, then 10 blanks. Targets: blank at every step except the last 10,
  which must repeat the 10 symbols in order. ``seq_len`` is the whole length, T + 20 for a blank delay of
  T in Arjovsky et al.'s terms. Every step is scored (cross-entropy, as in the paper); the metric is the
  accuracy on the 10 recalled symbols (chance 1/8). The memoryless baseline's cross-entropy is
  10 ln 8 / seq_len.
  """

  input_size: ClassVar[int] = SYMBOLS + 2
  output_size: ClassVar[int] = SYMBOLS + 1
  min_seq_len: ClassVar[int] = 2 * LENGTH + 1
  chance: ClassVar[float] = 1.0 / SYMBOLS

  @property
  def memoryless_ce(self) -> float:
    """Cross-entropy of predicting blanks, then uniform symbols on the last 10 steps."""
    return LENGTH * math.log(SYMBOLS) / self.seq_len

  def sample(self, key, batch):
    T = self.seq_len
    symbols = jax.random.randint(key, (LENGTH, batch), 1, SYMBOLS + 1)
    tokens = jnp.full((T, batch), BLANK, jnp.int32).at[:LENGTH].set(symbols).at[T - LENGTH - 1].set(DELIMITER)
    answer = jnp.full((T, batch), BLANK, jnp.int32).at[T - LENGTH:].set(symbols)
    inputs = jax.nn.one_hot(tokens, self.input_size, dtype=jnp.float32)
    targets = jax.nn.one_hot(answer, self.output_size, dtype=jnp.float32)
    return Batch(inputs, targets, jnp.ones((T, batch), jnp.float32))

  def metrics(self, preds, targets, mask):
    recall = jnp.zeros_like(mask).at[-LENGTH:].set(1.0)
    return {**super().metrics(preds, targets, mask),
            "accuracy": super().metrics(preds, targets, recall)["accuracy"]}
