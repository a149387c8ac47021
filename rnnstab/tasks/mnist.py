"""Sequential and permuted sequential MNIST: one pixel per step, the digit's class at the last step.

References:
  Le, Jaitly & Hinton, "A simple way to initialize recurrent networks of rectified linear units", 2015
  (sequential and permuted sequential MNIST); Lambrechts et al. 2023 (pixels in [-0.5, 0.5]);
  Schmidt et al., ICLR 2021 (the regularised PLRNN's code: pixels standardised by MNIST's mean and std).
"""
from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from rnnstab.data.mnist import MNIST_INSTALL, load_mnist, mnist_available
from rnnstab.tasks.base import Batch, Task

PIXELS = 784
CLASSES = 10
PERMUTATION_SEED = 0  # one fixed permutation for every run, as in the benchmark's definition
# Pixel value k in 0..255 -> model input. "centred": k / 255 - 0.5. "standardised": (k / 255 - mean) / std
# with the training set's pixel mean and std (torchvision's MNIST Normalize(0.1307, 0.3081)), inputs in
# [-0.42, 2.82]: the rPLRNN authors' scaling, 3.2 times the centred range.
PIXELS_MEAN, PIXELS_STD = 0.1307, 0.3081
PIXEL_SCALINGS = ("centred", "standardised")


def permutation() -> np.ndarray:
  """The fixed pixel order of permuted sequential MNIST."""
  return np.random.default_rng(PERMUTATION_SEED).permutation(PIXELS)


def pixel_levels(pixels: str) -> np.ndarray:
  """The model input of each of the 256 pixel values under the scaling ``pixels`` (PIXEL_SCALINGS)."""
  unit = np.arange(256, dtype=np.float32) / np.float32(255.0)
  if pixels == "standardised":
    return (unit - np.float32(PIXELS_MEAN)) / np.float32(PIXELS_STD)
  return unit - np.float32(0.5)


@dataclasses.dataclass(frozen=True)
class SequentialMNIST(Task):
  """A 28 x 28 digit read one pixel per step (784 steps); the output at the last step is scored as 10
  class logits by softmax cross-entropy.

  Training batches are drawn from the 50,000 training digits, evaluations from the 10,000 test digits.
  ``permuted`` reads the pixels in one fixed random order (``permutation()``) instead of row by row.
  ``pixels``: "centred" scales them to [-0.5, 0.5] (the warmup paper's setting), "standardised" to zero
  mean and unit variance over MNIST (the rPLRNN authors' code); e.g. ``--task=smnist:pixels=standardised``.
  Metrics: "ce" (cross-entropy, chance ln 10) and "accuracy" (chance 0.1), the one runs report.
  """

  seq_len: int = PIXELS
  permuted: bool = False
  pixels: str = "centred"

  output_size: ClassVar[int] = CLASSES
  min_seq_len: ClassVar[int] = PIXELS
  chance_mse: ClassVar[float] = float("nan")  # not a regression task
  metric: ClassVar[str] = "accuracy"
  chance: ClassVar[float] = 1.0 / CLASSES
  scored: ClassVar[str] = "last"

  def __post_init__(self):
    if self.seq_len != PIXELS:
      raise ValueError(f"--seq_len: sequential MNIST has {PIXELS} steps (one per pixel); pass --seq_len={PIXELS}, "
                       f"got {self.seq_len!r}")
    if self.pixels not in PIXEL_SCALINGS:
      name = "psmnist" if self.permuted else "smnist"
      raise ValueError(f"--task: option pixels of {name} must be one of {', '.join(PIXEL_SCALINGS)}, "
                       f"got {self.pixels!r}")
    if not mnist_available():
      raise ValueError(f"--task: the MNIST digits are not installed; install them with: {MNIST_INSTALL}")

  def _draw(self, key, batch, split):
    x, y = load_mnist()[split]
    idx = jax.random.randint(key, (batch,), 0, x.shape[0])
    order = permutation() if self.permuted else np.arange(PIXELS)
    # The digits stay uint8 in the program (39 MB for the training set) and are scaled after the gather,
    # through a 256-entry table so that jitted and eager code produce the same bits.
    levels = jnp.asarray(pixel_levels(self.pixels))
    pixels = levels[jnp.asarray(x[:, order])[idx].astype(jnp.int32)]
    inputs = jnp.swapaxes(pixels, 0, 1)[..., None]                           # (784, B, 1)
    onehot = jax.nn.one_hot(jnp.asarray(y)[idx], CLASSES, dtype=jnp.float32)
    targets = jnp.zeros((PIXELS, batch, CLASSES), jnp.float32).at[-1].set(onehot)
    mask = jnp.zeros((PIXELS, batch), jnp.float32).at[-1].set(1.0)
    return Batch(inputs, targets, mask)

  def sample(self, key, batch):
    return self._draw(key, batch, "train")

  def sample_eval(self, key, batch):
    return self._draw(key, batch, "test")

  def loss(self, preds, targets, mask):
    """Per-example softmax cross-entropy on the scored steps, shape (B,)."""
    ce = -jnp.sum(targets * jax.nn.log_softmax(preds, axis=-1), axis=-1)
    return jnp.sum(ce * mask, axis=0) / jnp.maximum(jnp.sum(mask, axis=0), 1.0)

  def metrics(self, preds, targets, mask):
    last = jnp.argmax(jnp.sum(mask, axis=1) > 0)  # the scored step
    correct = jnp.argmax(preds[last], axis=-1) == jnp.argmax(targets[last], axis=-1)
    return {"ce": self.loss(preds, targets, mask), "accuracy": correct.astype(jnp.float32)}
