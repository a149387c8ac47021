"""The echo state network and Jaeger's memory capacity, on systems whose answer is known."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import numpy_reference as ref
from rnnstab.analysis import memory_capacity, memory_curve
from rnnstab.cells import ESN
from rnnstab.unroll import unroll

N = 10


def test_spectral_radius_density_and_leak():
  cell = ESN(hidden_size=40, spectral_radius=0.8, density=0.25, leak=0.3)
  p = cell.init(jax.random.key(0), 2)
  assert np.max(np.abs(np.linalg.eigvals(np.asarray(p["W"], np.float64)))) == pytest.approx(0.8, rel=3e-3)
  assert 0.15 < np.mean(np.asarray(p["W"]) != 0) < 0.35
  h, x = jax.random.normal(jax.random.key(1), (3, 40)), jax.random.normal(jax.random.key(2), (3, 2))
  want, _ = ref.esn({k: np.asarray(v, np.float64) for k, v in p.items()}, np.asarray(h, np.float64),
                    np.asarray(x, np.float64), leak=0.3)
  np.testing.assert_allclose(cell.step(p, h, x)[0], want, rtol=2e-5, atol=2e-5)
  with pytest.raises(ValueError, match="activation 'relu' is not supported; valid choices: tanh, linear"):
    ESN(hidden_size=4, activation="relu")


def test_the_reservoir_is_fixed_unless_trainable():
  x = jnp.ones((5, 2, 1))
  for trainable, moves in ((False, False), (True, True)):
    cell = ESN(hidden_size=6, trainable=trainable)
    p = cell.init(jax.random.key(0), 1)
    grads = jax.grad(lambda p: jnp.sum(unroll(cell, p, x)[1] ** 2))(p)
    assert all(bool(jnp.any(g != 0)) == moves for g in jax.tree_util.tree_leaves(grads))


def test_a_delay_line_remembers_exactly_its_length_minus_one():
  cell = ESN(hidden_size=N, activation="linear")
  shift = {"U": jnp.eye(1, N), "W": jnp.eye(N, k=1), "b": jnp.zeros(N)}   # h_t = (u_t, u_{t-1}, ...)
  curve = memory_curve(cell, shift, jax.random.key(0))
  np.testing.assert_allclose(curve[:N - 1], 1.0, atol=1e-9)
  assert np.all(curve[N - 1:] < 0.01)


@pytest.mark.parametrize("activation", ["linear", "tanh"])
def test_memory_capacity_is_at_most_the_number_of_units(activation):
  cell = ESN(hidden_size=N, activation=activation, input_scale=0.1)
  mc = memory_capacity(cell, cell.init(jax.random.key(0), 1), jax.random.key(1))
  assert 6.0 < mc <= N
  # No recurrence: the state holds u(t) only, so nothing from the past can be read out.
  zero = {"U": jnp.ones((1, N)), "W": jnp.zeros((N, N)), "b": jnp.zeros(N)}
  assert memory_capacity(cell, zero, jax.random.key(1)) < 0.05


def test_a_diverging_network_has_no_memory_capacity():
  cell = ESN(hidden_size=N, activation="linear")
  exploding = {"U": jnp.ones((1, N)), "W": 3.0 * jnp.eye(N), "b": jnp.zeros(N)}  # float32 overflows in ~80 steps
  assert np.isnan(memory_capacity(cell, exploding, jax.random.key(1)))
