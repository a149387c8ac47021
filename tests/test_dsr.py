"""Dynamical-systems reconstruction: Lorenz-63 data, D_stsp, D_H and Lyapunov exponents on known answers."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnnstab.dsr import (lorenz63, lyapunov_spectrum, max_lyapunov, power_spectrum_distance, simulate,
                         state_space_divergence, state_space_divergence_gmm)
from rnnstab.dsr.systems import rk4_step


@pytest.fixture(scope="module")
def trajectories():
  a = simulate("lorenz63", jax.random.key(0), 10000)
  b = simulate("lorenz63", jax.random.key(1), 10000)
  noise = jax.random.normal(jax.random.key(2), a.shape) * jnp.std(a, 0) + jnp.mean(a, 0)
  return a, b, noise


def test_lorenz_trajectory_lies_on_the_attractor(trajectories):
  a, _, _ = trajectories
  assert a.shape == (10000, 3) and a.dtype == jnp.float32
  assert 20 < float(jnp.mean(a[:, 2])) < 27 and float(jnp.min(a[:, 2])) > 0   # z oscillates around ~23.5
  noisy = simulate("lorenz63", jax.random.key(0), 10000, noise=0.1)
  np.testing.assert_allclose(jnp.std(noisy - a, 0) / jnp.std(a, 0), 0.1, rtol=0.1)
  with pytest.raises(ValueError, match="valid choices: lorenz63"):
    simulate("lorenz96", jax.random.key(0), 10)


def test_state_space_divergence_separates_the_attractor_from_noise(trajectories):
  a, b, noise = trajectories
  assert float(state_space_divergence(a, a)) == 0.0
  same, other = float(state_space_divergence(a, b)), float(state_space_divergence(a, noise))
  assert same < 1.0 and other > 3.0
  key = jax.random.key(3)
  assert abs(float(state_space_divergence_gmm(a, b, key))) < 0.03
  assert float(state_space_divergence_gmm(a, noise, key)) > 0.1


def test_power_spectrum_distance(trajectories):
  a, b, noise = trajectories
  assert float(power_spectrum_distance(a, a)) < 1e-3
  assert float(power_spectrum_distance(a, b)) < 0.15 and float(power_spectrum_distance(a, noise)) > 0.5


def test_lyapunov_exponents_of_a_linear_map_and_of_lorenz63(trajectories):
  lam = lyapunov_spectrum(lambda x: jnp.array([2.0, 0.5]) * x, jnp.ones(2), 50)
  np.testing.assert_allclose(lam, [np.log(2.0), np.log(0.5)], rtol=1e-5)
  # Lorenz-63's largest exponent is ~0.906 per unit time (Sprott 2003); 100 time units estimate it to ~0.1.
  step = lambda x: rk4_step(lorenz63, x, 0.01)
  lam1 = float(max_lyapunov(step, trajectories[0][-1], 10000, dt=0.01))
  assert 0.75 < lam1 < 1.05


def test_bursting_neuron_fires_bursts_of_spikes():
  x = np.asarray(simulate("bursting_neuron", jax.random.key(0), 20000))    # 1 s at 0.05 ms
  assert np.isfinite(x).all() and x.shape == (20000, 3)
  V = x[:, 0]
  spikes = np.flatnonzero((V[1:] > -30) & (V[:-1] <= -30))
  isi = np.diff(spikes) * 0.05
  # Bursts: many spikes, with pauses between bursts far longer than the intervals inside one.
  assert len(spikes) > 30 and isi.max() > 5 * np.median(isi)
