"""Ground-truth dynamical systems, integrated in JAX (fixed-step RK4), as data for reconstruction.

``simulate(name, key, steps)`` draws a start near the attractor, discards a burn-in, and returns a (steps, d)
trajectory sampled every ``dt``, with optional Gaussian observation noise as a fraction of each
variable's standard deviation. Everything is generated on device from a key: no data files.

References:
  Lorenz, "Deterministic nonperiodic flow", J. Atmos. Sci. 1963 (sigma 10, rho 28, beta 8/3).
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp


def lorenz63(x: jax.Array, sigma: float = 10.0, rho: float = 28.0, beta: float = 8.0 / 3.0) -> jax.Array:
  """The Lorenz-63 vector field dx/dt at x = (x, y, z)."""
  return jnp.stack([sigma * (x[1] - x[0]), x[0] * (rho - x[2]) - x[1], x[0] * x[1] - beta * x[2]])


def rk4_step(field: Callable, x: jax.Array, dt: float) -> jax.Array:
  """One classical Runge-Kutta step of dx/dt = field(x)."""
  k1 = field(x)
  k2 = field(x + 0.5 * dt * k1)
  k3 = field(x + 0.5 * dt * k2)
  k4 = field(x + dt * k3)
  return x + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


def integrate(field: Callable, x0: jax.Array, steps: int, dt: float, substeps: int = 1) -> jax.Array:
  """(steps, d) states after each of ``steps`` intervals of length dt (each ``substeps`` RK4 steps)."""
  def interval(x, _):
    x = jax.lax.fori_loop(0, substeps, lambda _, x: rk4_step(field, x, dt / substeps), x)
    return x, x

  return jax.lax.scan(interval, jnp.asarray(x0, jnp.float32), None, length=steps)[1]


# name -> (vector field, default dt, start-point sampler, burn-in intervals)
SYSTEMS = {
    "lorenz63": (lorenz63, 0.01, lambda key: jnp.array([1.0, 1.0, 25.0]) + jax.random.normal(key, (3,)), 2000),
}


def simulate(name: str, key, steps: int, *, dt: float | None = None, noise: float = 0.0) -> jax.Array:
  """A (steps, d) trajectory of system ``name`` on its attractor.

  Args:
    name: a key of ``SYSTEMS`` ("lorenz63").
    key: PRNG key (start point and observation noise).
    steps: samples to return, every ``dt``.
    dt: sampling interval (the system's default when None: 0.01 for Lorenz-63).
    noise: observation noise, Gaussian with this fraction of each variable's standard deviation.

  Returns:
    float32 (steps, d).
  """
  if name not in SYSTEMS:
    raise ValueError(f"system: unknown system {name!r}; valid choices: {', '.join(sorted(SYSTEMS))}")
  field, default_dt, start, burn_in = SYSTEMS[name]
  dt = default_dt if dt is None else dt
  k_start, k_noise = jax.random.split(key)
  x0 = integrate(field, start(k_start), burn_in, dt)[-1]
  xs = integrate(field, x0, steps, dt)
  if noise > 0:
    xs = xs + noise * jnp.std(xs, axis=0) * jax.random.normal(k_noise, xs.shape)
  return xs
