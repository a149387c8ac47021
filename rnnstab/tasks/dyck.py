"""Dyck-1 (counting): predict which brackets may come next, trained short and evaluated much longer.

References:
  Suzgun, Gehrmann, Belinkov & Shieber, "LSTM networks can perform dynamic counting", ACL 2019 Workshop on
  Deep Learning and Formal Languages (the task, the set-of-allowed-next-tokens targets and the sequence-level
  accuracy). Counting / Dyck-1: LSTM, GRU and ReLU RNNs learn counting on short sequences but fail on much
  longer ones.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from rnnstab.tasks.base import Batch, Task

OPEN, CLOSE = 0, 1   # token and output channel of '(' and ')'


def sigmoid_cross_entropy(logits, targets):
  """Elementwise binary cross-entropy of logits against 0/1 targets, stable for large |logits|."""
  return jnp.maximum(logits, 0.0) - logits * targets + jnp.log1p(jnp.exp(-jnp.abs(logits)))


@functools.lru_cache(maxsize=64)
def never_closed_probability(length: int, p: float) -> float:
  """Probability that a random Dyck-1 prefix of ``length`` tokens never returns to depth 0.

  The first token opens (depth 1); the walk then has ``length - 1`` steps of +1 (probability p) or -1.
  By the reflection principle, the paths of n steps with u up-steps that never touch 0 number
  C(n, u) - C(n, u + 1) (for 2u >= n): a sum of O(n) terms, with binomial weights formed in log space so
  that long sequences do not underflow.

  Args:
    length: number of tokens (>= 1).
    p: probability of '(' at depth > 0, in (0, 1).

  Returns:
    The probability, in [0, 1].
  """
  n = length - 1
  u = np.arange(n + 1)
  log_fact = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, n + 1, dtype=np.float64)))])
  # binomial[u] = C(n, u) p^u (1-p)^(n-u), and 0 at u = n + 1; C(n, u + 1) p^u (1-p)^(n-u) is then
  # binomial[u + 1] (1 - p) / p.
  binomial = np.zeros(n + 2)
  binomial[:n + 1] = np.exp(log_fact[n] - log_fact[u] - log_fact[n - u] + u * math.log(p) + (n - u) * math.log1p(-p))
  first = (n + 1) // 2   # end depth 1 + 2u - n >= 1
  terms = binomial[first:n + 1] - binomial[first + 1:] * (1.0 - p) / p
  return float(np.clip(np.sum(terms), 0.0, 1.0))


@dataclasses.dataclass(frozen=True)
class Dyck1(Task):
  """Random prefixes of the Dyck-1 language (balanced brackets), one-hot over '(' and ')', and at every
  step the set of tokens that may come next as two binary outputs (logits): '(' is always allowed, ')'
  iff the depth (opened minus closed so far) is above 0. So the network must count.

  The prefixes are a random walk on the depth: at depth 0 the next token is '('; otherwise '(' with
  probability ``p`` and ')' otherwise. Every step is scored. Loss: binary cross-entropy with logits,
  averaged over steps and both outputs. Metrics: "accuracy", the fraction of sequences whose every step
  is predicted right (logit > 0 means allowed; Suzgun et al.'s sequence-level accuracy), "step_accuracy"
  and "bce".

  Length generalisation: training batches (``sample``) have ``seq_len`` tokens, evaluation batches
  (``sample_eval``) ``generalise * seq_len``, so a run's eval metrics (eval_accuracy in metrics.jsonl)
  measure counting on sequences ``generalise`` times longer than any seen in training
  (``--task=dyck1:generalise=1`` evaluates at the training length). ``chance`` is the accuracy at the
  evaluation length of always predicting ')' allowed, i.e. the probability that a prefix never returns
  to depth 0 (``never_closed_probability``), about 0.06 for p = 0.5 and 200 tokens.

  Attributes:
    p: probability of '(' when the depth is above 0, in (0, 1); above 1/2 the depth drifts upwards.
    generalise: evaluation sequences are this many times longer than training ones (an integer >= 1).
  """

  p: float = 0.5
  generalise: int = 10

  input_size: ClassVar[int] = 2
  output_size: ClassVar[int] = 2
  chance_mse: ClassVar[float] = float("nan")  # not a regression task
  metric: ClassVar[str] = "accuracy"

  def __post_init__(self):
    super().__post_init__()
    if isinstance(self.p, bool) or not isinstance(self.p, (int, float)) or not 0.0 < self.p < 1.0:
      raise ValueError(f"--task: option p of dyck1 must be a number in (0, 1), got {self.p!r}")
    if not isinstance(self.generalise, int) or isinstance(self.generalise, bool) or self.generalise < 1:
      raise ValueError(f"--task: option generalise of dyck1 must be an integer >= 1, got {self.generalise!r}")

  @property
  def eval_len(self) -> int:
    """Length of the evaluation sequences, ``generalise * seq_len``."""
    return self.generalise * self.seq_len

  @property
  def chance(self) -> float:
    return never_closed_probability(self.eval_len, float(self.p))

  def draw(self, key, batch: int, length: int) -> Batch:
    """``batch`` random prefixes of ``length`` tokens with their targets (what ``sample`` and
    ``sample_eval`` return at their lengths)."""
    coins = jax.random.uniform(key, (length, batch), jnp.float32)

    def step(depth, coin):
      opens = (depth == 0) | (coin < self.p)
      depth = depth + jnp.where(opens, 1, -1)
      return depth, (opens, depth)

    _, (opens, depth) = jax.lax.scan(step, jnp.zeros((batch,), jnp.int32), coins)
    inputs = jax.nn.one_hot(jnp.where(opens, OPEN, CLOSE), 2, dtype=jnp.float32)
    targets = jnp.stack([jnp.ones((length, batch), jnp.float32), (depth > 0).astype(jnp.float32)], axis=-1)
    return Batch(inputs, targets, jnp.ones((length, batch), jnp.float32))

  def sample(self, key, batch):
    return self.draw(key, batch, self.seq_len)

  def sample_eval(self, key, batch):
    """Evaluation sequences, ``generalise`` times longer than the training ones."""
    return self.draw(key, batch, self.eval_len)

  def loss(self, preds, targets, mask):
    """Per-example binary cross-entropy over the scored steps and both outputs, shape (B,)."""
    bce = jnp.mean(sigmoid_cross_entropy(preds, targets), axis=-1)
    return jnp.sum(bce * mask, axis=0) / jnp.maximum(jnp.sum(mask, axis=0), 1.0)

  def metrics(self, preds, targets, mask):
    right = jnp.all((preds > 0) == (targets > 0.5), axis=-1)
    step_accuracy = jnp.sum(right.astype(jnp.float32) * mask, axis=0) / jnp.maximum(jnp.sum(mask, axis=0), 1.0)
    accuracy = jnp.all(right | (mask == 0), axis=0).astype(jnp.float32)
    return {"bce": self.loss(preds, targets, mask), "accuracy": accuracy, "step_accuracy": step_accuracy}
