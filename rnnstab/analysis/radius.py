"""Radii of matrices and of linear maps, without an eigenvalue solver: spectral radius and largest
singular value, differentiable, on any number of devices (no LAPACK; see BUILD.md on nested waits).

- ``gelfand_radius``: rho(M) = lim ||M^k||^(1/k), k = 2^squarings by repeated normalised squaring. The
  estimate is rho * c^(1/k), c between 1/sqrt(n) and sqrt(n) cond(V) (V: eigenvectors); with the default
  12 squarings (k = 4096) it is within 0.3% of the eigenvalue solver on every matrix we compared.
- ``power_radius``: power iteration on Jacobian-vector products of a function, never forming its Jacobian;
  error O(1/iterations) in log radius.

References:
  Gelfand, "Normierte Ringe", Mat. Sbornik 1941 (rho(M) = lim ||M^k||^(1/k)).
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

NORMS = ("spectral", "singular")
SQUARINGS = 12
POWER_ITERATIONS = 100


def gelfand_radius(m: jax.Array, squarings: int = SQUARINGS) -> jax.Array:
  """Spectral radius of square matrices by repeated normalised squaring (Gelfand's formula).

  Args:
    m: (..., n, n).
    squarings: k = 2**squarings; the estimate is rho * c**(1/k), c a constant of m's eigenvectors.

  Returns:
    (...) radii, differentiable, computed with matmuls only (no eigenvalue solver).
  """
  m = jnp.asarray(m, jnp.float32)

  def body(_, carry):
    p, log_scale = carry
    c = _safe_norm(p)
    p = p / c[..., None, None]
    return p @ p, 2.0 * (log_scale + jnp.log(c))

  p, log_scale = jax.lax.fori_loop(0, squarings, body, (m, jnp.zeros(m.shape[:-2], jnp.float32)))
  return jnp.exp((log_scale + jnp.log(_safe_norm(p))) / 2.0 ** squarings)


def _safe_norm(p):
  """Frobenius norm over the last two axes, its square floored at 1e-30 with a zero (not NaN) gradient there: a zero
  matrix (e.g. a Jacobian column block that does not reach the output) has radius ~0 and no gradient."""
  sq = jnp.sum(p * p, axis=(-2, -1))
  ok = sq > 1e-30  # float32: 1e-60 would be 0, and a subnormal sq gives sqrt an infinite gradient
  return jnp.where(ok, jnp.sqrt(jnp.where(ok, sq, 1.0)), 1e-15)


def matrix_radius(m: jax.Array, norm: str = "spectral", squarings: int = SQUARINGS) -> jax.Array:
  """Spectral radius ("spectral") or largest singular value ("singular") of square matrices (..., n, n)."""
  if norm == "spectral":
    return gelfand_radius(m, squarings)
  if norm == "singular":  # sigma_max(M)^2 = rho(M^T M), a symmetric matrix: squaring converges fast
    return jnp.sqrt(gelfand_radius(jnp.swapaxes(m, -1, -2) @ m, squarings))
  raise ValueError(f"norm: unknown radius {norm!r}; valid choices: {', '.join(NORMS)}")


def square_up(m: jax.Array, key) -> jax.Array:
  """A random square sub-matrix of (a, b): min(a, b) distinct indices of the larger axis, in random order
  (the paper's way to give a non-square Jacobian a spectral radius). Square matrices pass unchanged."""
  a, b = m.shape[-2:]
  if a == b:
    return m
  keep = jax.random.permutation(key, max(a, b))[:min(a, b)]
  return m[..., keep, :] if a > b else m[..., :, keep]


def power_radius(f: Callable, x: jax.Array, key, *, norm: str = "spectral", iterations: int = POWER_ITERATIONS):
  """Radius of the Jacobian of ``f`` at ``x`` without forming it: power iteration on JVPs (spectral) or
  on VJP . JVP (singular).

  Args:
    f: a function R^n -> R^n (square; compose with an index selection first otherwise).
    x: the point (n,).
    key: the random start vector.
    norm: "spectral" or "singular".
    iterations: steps; the radius is the geometric mean of the growth ||J v|| / ||v|| over the second half
      (that averages out the rotation of a complex dominant pair).

  Returns:
    The radius estimate, a scalar, differentiable through the iteration.
  """
  y, jvp = jax.linearize(f, x)
  if norm == "spectral":
    apply = jvp
  elif norm == "singular":
    vjp = jax.linear_transpose(jvp, x)
    apply = lambda v: vjp(jvp(v))[0]
  else:
    raise ValueError(f"norm: unknown radius {norm!r}; valid choices: {', '.join(NORMS)}")
  v = jax.random.normal(key, x.shape, jnp.float32)
  v = v / jnp.linalg.norm(v)

  def body(v, _):
    w = apply(v)
    # A Jacobian that maps v to zero (a spiking unit far from threshold, a dead ReLU) has growth ~0; the
    # norm's own gradient at a zero vector would be 0/0 and turn the whole pre-training step into NaN.
    g = _safe_norm(w[None, :])
    return w / g, jnp.log(g)

  _, logs = jax.lax.scan(body, v, None, length=iterations)
  log_growth = jnp.mean(logs[iterations // 2:])
  return jnp.exp(log_growth / 2.0) if norm == "singular" else jnp.exp(log_growth)
