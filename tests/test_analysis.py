"""Reachable multistability on systems with a known answer, VAA / VAA* against their formulas, and the
fast paths (power iteration, vmap over seeds) against the simple ones."""
import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnnstab.analysis import (distinct, flat_state, measure, newton, spectral_radius, state_jacobians, vaa,
                              vaa_star)
from rnnstab.cells import GRU, LSTM, TanhRNN, stack
from rnnstab.flax import FlaxCell


@dataclasses.dataclass(frozen=True)
class LinearCell:
  """h' = h A + x B: a linear map, the simplest system with exactly one equilibrium when rho(A) < 1."""

  hidden_size: int

  @property
  def output_size(self):
    return self.hidden_size

  def init(self, key, input_size):
    ka, kb = jax.random.split(key)
    A = jax.random.normal(ka, (self.hidden_size, self.hidden_size)) + 2.0 * jnp.triu(jnp.ones((self.hidden_size,) * 2))
    A = 0.9 * A / jnp.max(jnp.abs(jnp.linalg.eigvals(A)))  # non-normal, spectral radius 0.9
    return {"A": A, "B": jax.random.normal(kb, (input_size, self.hidden_size))}

  def initial_state(self, params, batch):
    return jnp.zeros((batch,) if isinstance(batch, int) else tuple(batch) + (self.hidden_size,))

  def step(self, params, state, x):
    h = state @ params["A"] + x @ params["B"]
    return h, h


def one_unit_tanh(a):
  """h <- tanh(a h + x): W = a, U = 1, b = 0, so inputs spread the starting states to both signs."""
  return TanhRNN(1), {"U": jnp.ones((1, 1)), "W": jnp.full((1, 1), a), "b": jnp.zeros((1,))}


INPUTS = jax.random.normal(jax.random.key(1), (20, 32, 1))


def test_vaa_counts_attractors():
  p = jnp.array([[0.0], [0.0], [1.0], [1.0 + 1e-6], [2.0]])
  np.testing.assert_allclose(vaa(p), (0.5 * 4 + 1.0) / 5, rtol=1e-6)   # counts 2, 2, 2, 2, 1
  np.testing.assert_allclose(vaa(jnp.zeros((8, 3))), 1 / 8)
  np.testing.assert_allclose(vaa(jnp.arange(8.0)[:, None]), 1.0)
  assert int(distinct(p, 1e-4, jnp.ones(5, bool))) == 3
  assert int(distinct(p, 1e-4, jnp.array([True, True, False, False, False]))) == 1


def test_vaa_star_matches_its_formula_and_has_finite_gradients():
  p = jax.random.normal(jax.random.key(0), (6, 4)) * 1e-3
  p = p.at[1].set(p[0])  # two coincident states: the norm's gradient there must be 0, not NaN
  x = np.tanh(np.asarray(p, np.float64))
  d = np.linalg.norm(x[:, None] - x[None], axis=-1)
  C = 1.0 - np.maximum(d - 1e-4, 0.0) / (d + 1e-6)
  np.testing.assert_allclose(vaa_star(p), np.mean(1.0 / C.sum(1)), rtol=1e-4)
  g = jax.grad(vaa_star)(p)
  assert np.all(np.isfinite(g)) and np.any(g != 0)
  assert float(vaa_star(jnp.zeros((5, 2)))) == pytest.approx(1 / 5)


@pytest.mark.parametrize("a,expected", [(0.5, 1), (2.0, 2)])
def test_one_unit_tanh_has_one_or_two_stable_equilibria(a, expected):
  cell, params = one_unit_tanh(a)
  m = jax.jit(lambda p, k: measure(cell, p, INPUTS, k, steps=2000, u="zero"))(params, jax.random.key(0))
  assert int(m.stable_equilibria) == expected
  assert float(m.not_converged) == 0.0 and float(m.unstable) == 0.0
  np.testing.assert_allclose(m.vaa, expected / 32, rtol=1e-6)
  if a > 1:  # both fixed points +-h* with h* = tanh(a h*), radius a (1 - h*^2)
    h = 0.9575040240772687
    np.testing.assert_allclose(m.radius, a * (1 - h * h), rtol=1e-4)


def test_linear_contraction_has_exactly_one_equilibrium():
  cell = LinearCell(4)
  params = cell.init(jax.random.key(3), 2)
  xs = 5.0 * jax.random.normal(jax.random.key(4), (10, 16, 2))
  m = measure(cell, params, xs, jax.random.key(5), steps=3000)
  assert int(m.stable_equilibria) == 1
  np.testing.assert_allclose(m.radius, 0.9, rtol=1e-4)
  np.testing.assert_allclose(m.vaa, 1 / 16)


def test_lstm_state_includes_c():
  cell = LSTM(3)
  params = cell.init(jax.random.key(0), 2)
  state = {"h": jax.random.normal(jax.random.key(1), (4, 3)), "c": jax.random.normal(jax.random.key(2), (4, 3))}
  assert flat_state(state).shape == (4, 6)
  u = jnp.ones((2,))
  J = state_jacobians(cell, params, state, u)
  assert J.shape == (4, 6, 6)
  # ravel order of {"c", "h"} puts c first: d c' / d c = diag(f).
  f = jax.nn.sigmoid(u @ params["U_f"] + state["h"] @ params["W_f"] + params["b_f"])
  np.testing.assert_allclose(J[:, :3, :3], jax.vmap(jnp.diag)(f), rtol=1e-5, atol=1e-6)
  # Two states equal in h but not in c are different attractors.
  same_h = jnp.concatenate([jnp.zeros((2, 3)), jnp.array([[0.0] * 3, [1.0] * 3])], axis=-1)
  np.testing.assert_allclose(vaa(same_h), 1.0)


def test_power_iteration_matches_exact_radius():
  cell = stack(GRU(6), 2)
  params = cell.init(jax.random.key(0), 1)
  params = jax.tree_util.tree_map(lambda p: 2.0 * p, params)  # away from the trivially contracting init
  state = jax.tree_util.tree_map(lambda s: jax.random.normal(jax.random.key(7), s.shape),
                                 cell.initial_state(params, 8))
  u = jnp.ones((1,))
  exact = spectral_radius(cell, params, state, u, method="exact")
  power = spectral_radius(cell, params, state, u, method="power", iterations=2000, key=jax.random.key(1))
  np.testing.assert_allclose(power, exact, rtol=0.02)


def test_newton_finds_a_slow_equilibrium():
  """h <- tanh(0.999 h) creeps to 0 (radius 0.999): 100 iterations leave it far from 0, Newton lands on it."""
  cell, params = one_unit_tanh(0.999)
  slow = measure(cell, params, INPUTS, jax.random.key(0), steps=100, u="zero", newton_steps=0)
  refined = measure(cell, params, INPUTS, jax.random.key(0), steps=100, u="zero", newton_steps=30)
  assert float(slow.not_converged) > 0.5
  assert float(refined.not_converged) == 0.0 and int(refined.stable_equilibria) == 1
  state, res = newton(cell, params, jnp.full((2, 1), 0.3), jnp.zeros((1,)), steps=30)
  assert np.all(np.abs(state) < 1e-4) and np.all(res < 1e-5)


def test_vmap_over_seeds_equals_one_seed_at_a_time():
  cell = stack(GRU(5), 2)
  keys = jax.random.split(jax.random.key(0), 3)
  params = jax.vmap(lambda k: cell.init(k, 1))(keys)
  f = lambda p, k: measure(cell, p, INPUTS[:, :8], k, steps=300)
  batched = jax.jit(jax.vmap(f))(params, keys)
  for i in range(3):
    one = jax.jit(f)(jax.tree_util.tree_map(lambda x: x[i], params), keys[i])
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a[i], b, rtol=1e-5, atol=1e-6), batched, one)


@pytest.mark.parametrize("name", ["gru", "lstm"])
def test_standard_cells_have_one_stable_equilibrium_at_init(name):
  """The warmup paper's observation, on small networks: default-initialised GRU / LSTM are monostable."""
  from rnnstab.cells import CELLS
  cell = stack(CELLS[name](hidden_size=8), 2)
  m = measure(cell, cell.init(jax.random.key(0), 1), INPUTS, jax.random.key(1), steps=2000)
  assert int(m.stable_equilibria) == 1 and float(m.not_converged) == 0.0


def test_flax_cells_are_measured_through_the_adapter():
  cell = stack(FlaxCell(nn.GRUCell(features=4)), 2)
  params = cell.init(jax.random.key(0), 1)
  m = measure(cell, params, INPUTS[:, :8], jax.random.key(1), steps=500)
  assert int(m.stable_equilibria) == 1 and m.radius.shape == (8,)
