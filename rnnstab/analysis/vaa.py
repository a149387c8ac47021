"""Variability amongst attractors: VAA (the measure) and VAA* (its differentiable surrogate).

Both take the final states of n samples after a long autonomous iteration, one row per sample. VAA counts,
for every sample, how many samples ended within ``eps`` of it; VAA = (1/n) sum_i 1 / count_i, which is
(number of distinct attractors reached) / n when attractors are points, in [1/n, 1].

References:
  Lambrechts, De Geeter, Vecoven, Ernst & Drion, "Warming up recurrent neural networks to maximise
  reachable multistability greatly improves learning", Neural Networks 2023, arXiv 2106.01001 (Eq. 2-4).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jax.Array

# The authors' constant in the soft count's denominator (keeps d_ii = 0 finite).
SOFT_COUNT_DELTA = 1e-6


def pairwise_distances(points: Array) -> Array:
  """Euclidean distances between the rows of ``points`` (n, D): (n, n), zero on the diagonal.

  Computed from differences (not from a Gram matrix, whose cancellation would swamp eps = 1e-4), and
  with a zero gradient where two points coincide (the norm's subgradient there), not NaN.
  """
  diff = points[:, None, :] - points[None, :, :]
  sq = jnp.sum(jnp.square(diff), axis=-1)
  positive = sq > 0
  return jnp.where(positive, jnp.sqrt(jnp.where(positive, sq, 1.0)), 0.0)


def vaa(points: Array, eps: float = 1e-4) -> Array:
  """VAA of final states ``points`` (n, D): (1/n) sum_i 1 / #{j : ||p_j - p_i|| < eps}.

  Args:
    points: one row per sample: the network's whole final state (all layers; LSTM: h and c).
    eps: distance under which two final states are the same attractor (1e-4 in the paper).

  Returns:
    A scalar in [1/n, 1].

  References:
    Lambrechts et al. 2023, arXiv 2106.01001 (the VAA measure).
  """
  count = jnp.sum(pairwise_distances(points) < eps, axis=1).astype(jnp.float32)
  return jnp.mean(1.0 / count)


def vaa_star(points: Array, eps: float = 1e-4) -> Array:
  """VAA*, the differentiable VAA: states squashed by tanh, the hard count replaced by a soft one.

      d_ij = ||tanh(p_i) - tanh(p_j)||,  C_ij = 1 - relu(d_ij - eps) / (d_ij + 1e-6),
      VAA* = (1/n) sum_i 1 / sum_j C_ij

  C_ij is 1 for d_ij <= eps and decays like eps / d_ij beyond, so pushing final states apart raises VAA*.

  Args:
    points: (n, D) final states of one layer.
    eps: tolerance (1e-4 in the paper).

  Returns:
    A scalar in (0, 1].

  References:
    Lambrechts et al. 2023, arXiv 2106.01001 (VAA*, used by the warmup loss).
  """
  d = pairwise_distances(jnp.tanh(points))
  soft_count = 1.0 - jax.nn.relu(d - eps) / (d + SOFT_COUNT_DELTA)
  return jnp.mean(1.0 / jnp.sum(soft_count, axis=1))
