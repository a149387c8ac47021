"""Haar-random orthogonal matrices from a Householder QR written in jax.numpy, without LAPACK.

``jax.nn.initializers.orthogonal`` calls LAPACK's QR. On XLA:CPU in jaxlib 0.10.2 two LAPACK calls that run
at once (two gate matrices, two layers, or two devices) can wait on each other's thread pool for ever
(BUILD.md, "Known issue: nested waits"), and a program that calls LAPACK must stay on one device. This
QR is plain element-wise and matmul work in one ``fori_loop``: it never deadlocks, spreads over devices,
and batches over any leading axes. It returns the same matrix as ``jax.random.orthogonal`` for the same
key (QR with a positive diagonal of R is unique), up to rounding.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp


def householder_q(a: jax.Array) -> jax.Array:
  """The Q of A = QR with diag(R) >= 0, for a tall or square matrix, by Householder reflections.

  Args:
    a: (..., m, n) with m >= n.

  Returns:
    (..., m, n) with orthonormal columns spanning A's column space, signs chosen so that Q^T A has a
    non-negative diagonal (the unique QR; Mezzadri 2007 shows it makes Q Haar-distributed for Gaussian A).
  """
  m, n = a.shape[-2:]
  if m < n:
    raise ValueError(f"householder_q: needs rows >= columns, got shape {a.shape}")
  if a.ndim > 2:
    return jax.vmap(householder_q)(a.reshape((-1, m, n))).reshape(a.shape)
  rows = jnp.arange(m)
  a = a.astype(jnp.float32)

  def reflect(k, carry):
    r, q = carry
    x = jnp.where(rows >= k, r[:, k], 0.0)
    xk = r[k, k]
    alpha = jnp.where(xk >= 0, -1.0, 1.0) * jnp.sqrt(jnp.sum(x * x))
    v = x - jnp.where(rows == k, alpha, 0.0)
    vv = jnp.sum(v * v)
    beta = jnp.where(vv > 0, 2.0 / jnp.where(vv > 0, vv, 1.0), 0.0)  # a zero column needs no reflection
    r = r - beta * jnp.outer(v, v @ r)
    q = q - beta * jnp.outer(q @ v, v)
    return r, q

  r, q = jax.lax.fori_loop(0, n, reflect, (a, jnp.eye(m, dtype=jnp.float32)))
  sign = jnp.where(jnp.diagonal(r) < 0, -1.0, 1.0)
  return q[:, :n] * sign


def orthogonal(key: jax.Array, n: int, m: int | None = None, dtype=jnp.float32) -> jax.Array:
  """A Haar-random (n, m) matrix with orthonormal rows or columns (whichever are fewer).

  Args:
    key: PRNG key.
    n, m: rows and columns (m defaults to n).
    dtype: float dtype of the result.

  Returns:
    The matrix ``jax.random.orthogonal(key, n, m=m)`` returns, up to rounding, computed without LAPACK.

  References:
    Mezzadri, "How to generate random matrices from the classical compact groups", Notices AMS 2007.
  """
  m = n if m is None else m
  z = jax.random.normal(key, (max(n, m), min(n, m)), jnp.float32)
  q = householder_q(z).astype(dtype)
  return q.T if n < m else q


def orthogonal_init(scale: float = 1.0):
  """A Flax / ``jax.nn.initializers``-style initializer (key, shape, dtype) -> array for 2-D kernels:
  ``scale`` times a Haar-random orthogonal matrix, like ``jax.nn.initializers.orthogonal(scale)`` but
  LAPACK-free (usable as ``nn.GRUCell(recurrent_kernel_init=orthogonal_init())``)."""

  def init(key, shape, dtype=jnp.float32):
    if len(shape) != 2:
      raise ValueError(f"orthogonal_init: needs a 2-D shape, got {shape}")
    return jnp.asarray(scale, dtype) * orthogonal(key, shape[0], shape[1], dtype)

  return init
