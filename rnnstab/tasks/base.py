"""The task protocol: generated on device from a key, time-major, with a per-example loss and metrics."""
from __future__ import annotations

import dataclasses
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp


class Batch(NamedTuple):
  """inputs (T, B, D); targets (T, B, O); mask (T, B): 1 where the output at step t is scored."""

  inputs: jax.Array
  targets: jax.Array
  mask: jax.Array


def masked_mse(preds, targets, mask):
  """Per-example mean squared error over the scored steps (and output channels): shape (B,)."""
  se = jnp.mean(jnp.square(preds - targets), axis=-1)
  return jnp.sum(se * mask, axis=0) / jnp.maximum(jnp.sum(mask, axis=0), 1.0)


def masked_cross_entropy(logits, targets, mask):
  """Per-example softmax cross-entropy averaged over the scored steps (targets one-hot): shape (B,)."""
  ce = -jnp.sum(targets * jax.nn.log_softmax(logits, axis=-1), axis=-1)
  return jnp.sum(ce * mask, axis=0) / jnp.maximum(jnp.sum(mask, axis=0), 1.0)


def masked_accuracy(logits, targets, mask):
  """Per-example fraction of the scored steps whose arg-max class is the target's: shape (B,)."""
  correct = (jnp.argmax(logits, axis=-1) == jnp.argmax(targets, axis=-1)).astype(jnp.float32)
  return jnp.sum(correct * mask, axis=0) / jnp.maximum(jnp.sum(mask, axis=0), 1.0)


@dataclasses.dataclass(frozen=True)
class Task:
  """Base of the sequence tasks: ``sample(key, batch) -> Batch``, pure and vmappable over keys.

  Attributes:
    seq_len: number of time steps T.
  """

  seq_len: int

  input_size: ClassVar[int] = 1
  output_size: ClassVar[int] = 1
  min_seq_len: ClassVar[int] = 2
  chance_mse: ClassVar[float] = 1.0
  metric: ClassVar[str] = "mse"   # the metric progress lines, plots and studies lead with
  # "last" when only the final step is ever scored (the mask is zero before it): training then reads
  # out that step alone, the same loss without a readout and its gradient at every other step.
  scored: ClassVar[str] = "all"

  @property
  def chance(self) -> float:
    """Chance level of ``metric``."""
    return self.chance_mse

  def __post_init__(self):
    if not isinstance(self.seq_len, int) or self.seq_len < self.min_seq_len:
      raise ValueError(f"{type(self).__name__}: seq_len must be an integer >= {self.min_seq_len}, "
                       f"got {self.seq_len!r}")

  def sample(self, key, batch: int) -> Batch:
    raise NotImplementedError  # each task generates its own data

  def sample_eval(self, key, batch: int) -> Batch:
    """Evaluation sequences: fresh samples of the same law (tasks on real data draw from a test split)."""
    return self.sample(key, batch)

  def loss(self, preds, targets, mask):
    """Per-example training loss, shape (B,): MSE on the scored steps."""
    return masked_mse(preds, targets, mask)

  def metrics(self, preds, targets, mask) -> dict:
    """Per-example metrics, each of shape (B,), including ``metric`` (chance level ``chance``)."""
    return {"mse": masked_mse(preds, targets, mask)}


@dataclasses.dataclass(frozen=True)
class ClassificationTask(Task):
  """A task whose scored steps are classes: softmax cross-entropy loss, accuracy over the scored steps."""

  chance_mse: ClassVar[float] = float("nan")  # not a regression task
  metric: ClassVar[str] = "accuracy"

  def loss(self, preds, targets, mask):
    return masked_cross_entropy(preds, targets, mask)

  def metrics(self, preds, targets, mask):
    return {"ce": masked_cross_entropy(preds, targets, mask), "accuracy": masked_accuracy(preds, targets, mask)}
