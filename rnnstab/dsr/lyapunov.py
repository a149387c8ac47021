"""Lyapunov exponents of a map by the QR (Benettin) method on products of its Jacobians.

Q_0 = the first k unit vectors; at each step Z = J(x_t) Q_t = Q_{t+1} R_{t+1} (QR), and the i-th exponent
is the time average of log |R_ii|. The QR is a Householder QR in jax.numpy (``rnnstab.orthogonal``), so
the computation calls no LAPACK and runs on any device.

References:
  Benettin, Galgani, Giorgilli & Strelcyn, Meccanica 1980 (the QR method).
  Schmidt et al., ICLR 2021, and Durstewitz et al. (maximal exponent of a reconstructed model).
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from rnnstab.orthogonal import householder_q


def lyapunov_spectrum(step: Callable, x0: jax.Array, steps: int, *, k: int | None = None, dt: float = 1.0,
                      burn_in: int = 0) -> jax.Array:
  """The k largest Lyapunov exponents of the map x_{t+1} = step(x_t).

  Args:
    step: the map, R^d -> R^d (a model's autonomous step, or one integration interval of an ODE).
    x0: the start, (d,).
    steps: Jacobian products averaged over.
    k: how many exponents (default d).
    dt: time per step; exponents are per unit time (per step when dt = 1).
    burn_in: steps run before averaging, to reach the attractor.

  Returns:
    (k,) exponents in decreasing order.
  """
  x = jnp.asarray(x0, jnp.float32)
  d = x.shape[0]
  k = d if k is None else k
  x = jax.lax.fori_loop(0, burn_in, lambda _, x: step(x), x)
  jac = jax.jacfwd(step)

  def body(carry, _):
    x, q = carry
    z = jac(x) @ q
    q_new = householder_q(z)                        # (d, k), orthonormal columns
    r_diag = jnp.sum(q_new * z, axis=0)             # diag(Q^T Z) = diag(R)
    return (step(x), q_new), jnp.log(jnp.abs(r_diag) + 1e-30)

  q0 = jnp.eye(d, k, dtype=jnp.float32)
  _, logs = jax.lax.scan(body, (x, q0), None, length=steps)
  return jnp.sort(jnp.mean(logs, axis=0) / dt)[::-1]


def max_lyapunov(step: Callable, x0: jax.Array, steps: int, *, dt: float = 1.0, burn_in: int = 0) -> jax.Array:
  """The maximal Lyapunov exponent of x_{t+1} = step(x_t) (``lyapunov_spectrum`` with k = 1)."""
  return lyapunov_spectrum(step, x0, steps, k=1, dt=dt, burn_in=burn_in)[0]
