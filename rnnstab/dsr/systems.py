"""Ground-truth dynamical systems, integrated in JAX (fixed-step RK4), as data for reconstruction.

``simulate(name, key, steps)`` draws a start near the attractor, discards a burn-in, and returns a (steps, d)
trajectory sampled every ``dt``, with optional Gaussian observation noise as a fraction of each
variable's standard deviation. Everything is generated on device from a key: no data files.

References:
  Lorenz, "Deterministic nonperiodic flow", J. Atmos. Sci. 1963 (sigma 10, rho 28, beta 8/3).
  Durstewitz, "Implications of synaptic biophysics for recurrent network dynamics and active memory",
  Neural Networks 2009 (the bursting neuron; the parameters of the DurstewitzLab reconstruction benchmarks).
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp


def lorenz63(x: jax.Array, sigma: float = 10.0, rho: float = 28.0, beta: float = 8.0 / 3.0) -> jax.Array:
  """The Lorenz-63 vector field dx/dt at x = (x, y, z)."""
  return jnp.stack([sigma * (x[1] - x[0]), x[0] * (rho - x[2]) - x[1], x[0] * x[1] - beta * x[2]])


def _sigmoid(v, half, slope):
  return 1.0 / (1.0 + jnp.exp((half - v) / slope))


def bursting_neuron(x: jax.Array, g_nmda: float = 10.2, current: float = 0.0) -> jax.Array:
  """The 3-variable bursting neuron's vector field at x = (V [mV], n, h); time in ms.

      C dV/dt = I - g_L (V - E_L) - g_Na m_inf(V) (V - E_Na) - g_K n (V - E_K) - g_M h (V - E_K)
                - g_NMDA s_inf(V) (V - E_NMDA)
      dn/dt = (n_inf(V) - n) / tau_n        (fast K+ activation)
      dh/dt = (h_inf(V) - h) / tau_h        (slow M-current: tau_h = 200 ms, the burst clock)

  x_inf(V) = 1 / (1 + exp((V_half - V) / k)); s_inf(V) = 1 / (1 + 0.33 exp(-0.0625 V)) (NMDA Mg2+ block).
  C 6, g_L 8, E_L -80, g_Na 20, E_Na 60, V_Na -20, k_Na 15, g_K 10, E_K -90, V_K -25, k_K 5, tau_n 1,
  g_M 25, V_M -15, k_M 5, tau_h 200, E_NMDA 0; g_NMDA (10.2: bursting) is the bifurcation parameter.
  """
  V, n, h = x[0], x[1], x[2]
  i_ion = (8.0 * (V + 80.0) + 20.0 * _sigmoid(V, -20.0, 15.0) * (V - 60.0) + 10.0 * n * (V + 90.0)
           + 25.0 * h * (V + 90.0) + g_nmda / (1.0 + 0.33 * jnp.exp(-0.0625 * V)) * V)
  return jnp.stack([(current - i_ion) / 6.0, (_sigmoid(V, -25.0, 5.0) - n) / 1.0, (_sigmoid(V, -15.0, 5.0) - h) / 200.0])


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


# name -> (vector field, default sampling dt, RK4 steps per sample, start-point sampler, burn-in samples)
SYSTEMS = {
    "lorenz63": (lorenz63, 0.01, 1, lambda key: jnp.array([1.0, 1.0, 25.0]) + jax.random.normal(key, (3,)), 2000),
    # Spikes last ~1 ms: RK4 at 0.01 ms inside each 0.05 ms sample; 1 s of burn-in is several burst cycles.
    "bursting_neuron": (bursting_neuron, 0.05, 5,
                        lambda key: jnp.array([-24.47, 0.0386, 0.0231]) * (1.0 + 0.05 * jax.random.normal(key, (3,))),
                        20000),
}


def simulate(name: str, key, steps: int, *, dt: float | None = None, noise: float = 0.0) -> jax.Array:
  """A (steps, d) trajectory of system ``name`` on its attractor.

  Args:
    name: a key of ``SYSTEMS`` ("lorenz63", "bursting_neuron").
    key: PRNG key (start point and observation noise).
    steps: samples to return, every ``dt``.
    dt: sampling interval (the system's default when None: 0.01 for Lorenz-63, 0.05 ms for the neuron).
    noise: observation noise, Gaussian with this fraction of each variable's standard deviation.

  Returns:
    float32 (steps, d).
  """
  if name not in SYSTEMS:
    raise ValueError(f"system: unknown system {name!r}; valid choices: {', '.join(sorted(SYSTEMS))}")
  field, default_dt, substeps, start, burn_in = SYSTEMS[name]
  dt = default_dt if dt is None else dt
  k_start, k_noise = jax.random.split(key)
  x0 = integrate(field, start(k_start), burn_in, dt, substeps)[-1]
  xs = integrate(field, x0, steps, dt, substeps)
  if noise > 0:
    xs = xs + noise * jnp.std(xs, axis=0) * jax.random.normal(k_noise, xs.shape)
  return xs
