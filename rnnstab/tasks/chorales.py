"""Polyphonic music modelling on the Bach chorales: predict the next piano-roll frame.

Input at step t: frame t (88 keys, 0/1); output: 88 logits, one independent Bernoulli per key, scored
against frame t + 1. The loss and the metric are the frame-level negative log-likelihood (nats per
frame: the sum over keys of the binary cross-entropy), as in Chung et al. 2014's comparison of tanh
RNN, GRU and LSTM. Training draws --seq_len-frame windows from the training chorales (shorter chorales
are padded and masked); each evaluation scores the whole test split, every frame once.

References:
  Boulanger-Lewandowski, Bengio & Vincent, ICML 2012; Chung, Gulcehre, Cho & Bengio, "Empirical evaluation
  of gated recurrent neural networks on sequence modeling", 2014.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from rnnstab.data.chorales import KEYS, MUSIC21_INSTALL, load_chorales, music21_available
from rnnstab.tasks.base import Batch, Task


def _pad(rolls: list[np.ndarray], length: int) -> tuple[np.ndarray, np.ndarray]:
  """Rolls padded to ``length`` frames: (n, length, 88) uint8 and their frame counts (n,)."""
  out = np.zeros((len(rolls), length, KEYS), np.uint8)
  for i, r in enumerate(rolls):
    out[i, :min(len(r), length)] = r[:length]
  return out, np.array([min(len(r), length) for r in rolls], np.int32)


@functools.lru_cache(maxsize=None)
def _arrays():
  """Training rolls concatenated with their offsets, the padded test split, and the baseline NLL of
  predicting each key's training frequency."""
  data = load_chorales()
  train = data["train"]
  flat = np.concatenate(train)
  starts = np.cumsum([0] + [len(r) for r in train])[:-1].astype(np.int32)
  lengths = np.array([len(r) for r in train], np.int32)
  test, test_lengths = _pad(data["test"], max(len(r) for r in data["test"]))
  p = np.clip(flat.mean(0), 1e-6, 1 - 1e-6)
  frames = np.concatenate([r[1:] for r in data["test"]]).astype(np.float64)
  marginal = -np.mean(frames @ np.log(p) + (1 - frames) @ np.log1p(-p))
  return flat, starts, lengths, test, test_lengths, float(marginal)


def frame_nll(logits, targets, mask):
  """Per-example negative log-likelihood per scored frame (nats), shape (B,)."""
  bce = jnp.sum(jnp.maximum(logits, 0) - logits * targets + jnp.log1p(jnp.exp(-jnp.abs(logits))), axis=-1)
  return jnp.sum(bce * mask, axis=0) / jnp.maximum(jnp.sum(mask, axis=0), 1.0)


@dataclasses.dataclass(frozen=True)
class BachChorales(Task):
  """Next-frame prediction on the music21 Bach chorales (88-key piano rolls, one frame per eighth note).

  Attributes:
    seq_len: frames per training window (the prediction steps are seq_len - 1 ... seq_len: the window's
      last input has no next frame inside it and is not scored).

  Metric: "nll", nats per frame over the whole test split (every frame weighted equally); its chance level
  is the NLL of predicting each key with its training frequency.
  """

  seq_len: int = 100

  input_size: ClassVar[int] = KEYS
  output_size: ClassVar[int] = KEYS
  min_seq_len: ClassVar[int] = 2
  chance_mse: ClassVar[float] = float("nan")
  metric: ClassVar[str] = "nll"

  def __post_init__(self):
    super().__post_init__()
    if not music21_available():
      raise ValueError(f"--task: the Bach chorales come with music21, which is not installed; {MUSIC21_INSTALL}")

  @property
  def chance(self) -> float:
    return _arrays()[5]

  def sample(self, key, batch):
    flat, starts, lengths, *_ = _arrays()
    k_piece, k_offset = jax.random.split(key)
    piece = jax.random.randint(k_piece, (batch,), 0, len(starts))
    length = jnp.asarray(lengths)[piece]
    offset = jax.random.randint(k_offset, (batch,), 0, jnp.maximum(length - self.seq_len + 1, 1))
    t = jnp.arange(self.seq_len + 1)
    valid = t[:, None] < (length - offset)[None, :]                          # (T + 1, B)
    index = jnp.clip(jnp.asarray(starts)[piece] + offset + t[:, None], 0, flat.shape[0] - 1)
    frames = jnp.where(valid[..., None], jnp.asarray(flat)[index], 0).astype(jnp.float32)  # (T + 1, B, 88)
    return Batch(frames[:-1], frames[1:], (valid[1:] & valid[:-1]).astype(jnp.float32))

  def sample_eval(self, key, batch):
    """The whole test split (``batch`` is ignored), padded to its longest chorale."""
    del key, batch
    *_, test, test_lengths, _ = _arrays()
    frames = jnp.swapaxes(jnp.asarray(test, jnp.float32), 0, 1)             # (T_max, n, 88)
    t = jnp.arange(frames.shape[0] - 1)[:, None]
    mask = (t + 1 < jnp.asarray(test_lengths)[None, :]).astype(jnp.float32)
    return Batch(frames[:-1], frames[1:], mask)

  def loss(self, preds, targets, mask):
    return frame_nll(preds, targets, mask)

  def metrics(self, preds, targets, mask):
    """nll per example, weighted by its scored frames so that the mean over examples is the NLL per frame of
    the whole batch (long chorales count by their length)."""
    frames = jnp.sum(mask, axis=0)
    return {"nll": frame_nll(preds, targets, mask) * frames / jnp.maximum(jnp.mean(frames), 1.0)}
