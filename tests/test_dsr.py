"""Dynamical-systems reconstruction: Lorenz-63 data, D_stsp, D_H and Lyapunov exponents on known answers."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnnstab.dsr import (lorenz63, lyapunov_spectrum, max_lyapunov, power_spectrum_distance, simulate,
                         state_space_divergence, state_space_divergence_gmm)
from rnnstab.dsr.systems import rk4_step

STRICT_PROMOTION = False  # optax's Adam mixes Python floats with int32 step counts (the training tests)


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
  with pytest.raises(ValueError, match="valid choices: bursting_neuron, lorenz63"):
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
  # A model that settled on a fixed point: its constant dimensions score the maximum, not NaN.
  fixed = jnp.broadcast_to(a[0], a.shape)
  assert float(power_spectrum_distance(a, fixed)) == pytest.approx(1.0)


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


from rnnstab.cells.plrnn import PLRNN  # noqa: E402
from rnnstab.dsr.teacher_forcing import (DSRConfig, adaptive_alpha, anneal_alpha, forced_loss, generate, init_params,  # noqa: E402
                                         learning_rate, make_cell, plrnn_map, train)


@pytest.fixture(scope="module")
def small_model():
  cfg = DSRConfig(hidden=5)
  params = init_params(cfg, jax.random.key(4), 3)
  params = {**params, "L": jax.random.normal(jax.random.key(8), (2, 3))}   # a non-trivial L x_0
  window = jax.random.normal(jax.random.key(5), (12, 3))
  return make_cell(cfg), params, window


def test_init_is_talathi_vartak_with_hidden_units_started_from_the_data():
  p = init_params(DSRConfig(hidden=6), jax.random.key(0), 2)
  aw = np.diag(np.asarray(p["A"])) + np.asarray(p["W"]).T      # the paper's A + W
  np.testing.assert_allclose(aw, aw.T, atol=1e-6)               # (I + R^T R / M) / lambda_max: symmetric,
  eig = np.linalg.eigvalsh(aw)
  assert eig.max() == pytest.approx(1.0, abs=1e-5) and eig.min() > 0   # positive definite, radius 1
  assert "z0" not in p and p["L"].shape == (4, 2) and not np.any(p["L"])
  reg = init_params(DSRConfig(hidden=6, mar_tau=1.0), jax.random.key(0), 2)
  np.testing.assert_array_equal(reg["A"][:3], 1.0)             # AWh on top when regularised
  np.testing.assert_array_equal(reg["A"][3:], p["A"][3:])
  init_only = init_params(DSRConfig(hidden=6, awh=True), jax.random.key(0), 2)
  jax.tree_util.tree_map(np.testing.assert_array_equal, init_only, reg)
  penalty_only = init_params(DSRConfig(hidden=6, mar_tau=1.0, awh=False), jax.random.key(0), 2)
  jax.tree_util.tree_map(np.testing.assert_array_equal, penalty_only, p)


def test_teacher_signal_forces_while_the_data_scores():
  """With every unit observed and tau = 1, each prediction starts from the teacher value s_t and is scored
  against the data x_{t+1}."""
  cfg = DSRConfig(hidden=3)
  cell, params = make_cell(cfg), init_params(cfg, jax.random.key(1), 3)
  x = jax.random.normal(jax.random.key(2), (9, 3))
  s = x + 0.3 * jax.random.normal(jax.random.key(3), x.shape)
  want = jnp.mean(jnp.square(jax.vmap(plrnn_map(cell, params))(s[:-1]) - x[1:]))
  np.testing.assert_allclose(forced_loss(cell, params, x, method="stf", interval=1, teacher=s), want, rtol=1e-5)
  np.testing.assert_allclose(forced_loss(cell, params, x, method="stf", interval=1, teacher=x),
                             forced_loss(cell, params, x, method="stf", interval=1), rtol=1e-6)


def test_learning_rate_schedules():
  multi = learning_rate(DSRConfig(steps=100, lr=1e-3, lr_schedule="multistep"))
  np.testing.assert_allclose([multi(i) for i in (0, 9, 10, 79, 80, 90, 99)],
                             [1e-3, 1e-3, 1e-4, 1e-4, 1e-5, 1e-6, 1e-6], rtol=1e-5)
  expo = learning_rate(DSRConfig(steps=101, lr=1e-3, lr_decay=0.01))
  np.testing.assert_allclose([expo(0), expo(50), expo(100)], [1e-3, 1e-4, 1e-5], rtol=1e-4)


def test_teacher_forcing_limits(small_model):
  cell, params, window = small_model
  # tau = 1 and alpha = 1 are the same full forcing of the observed units (the hidden ones run freely).
  full = forced_loss(cell, params, window, method="gtf", alpha=1.0)
  np.testing.assert_allclose(forced_loss(cell, params, window, method="stf", interval=1), full, rtol=1e-6)
  # alpha = 0 and tau beyond the window: the model runs freely from x_0, exactly as generate() does.
  free = jnp.mean(jnp.square(generate(cell, params, window[0], 11) - window[1:]))
  np.testing.assert_allclose(forced_loss(cell, params, window, method="gtf", alpha=0.0), free, rtol=1e-5)
  np.testing.assert_allclose(forced_loss(cell, params, window, method="stf", interval=100), free, rtol=1e-5)
  with pytest.raises(ValueError, match="valid choices: stf, gtf"):
    forced_loss(cell, params, window, method="tbptt")


def test_adaptive_alpha_cancels_the_jacobian_growth(small_model):
  cell, params, window = small_model
  expanding = {**params, "A": jnp.full(5, 2.0), "W": jnp.zeros((5, 5))}   # J = 2 I everywhere: G = 2
  np.testing.assert_allclose(adaptive_alpha(cell, expanding, window, jax.random.key(6)), 0.5, rtol=1e-4)
  contracting = {**expanding, "A": jnp.full(5, 0.5)}
  assert float(adaptive_alpha(cell, contracting, window, jax.random.key(6))) == 0.0


def test_adaptive_alpha_rises_at_once_and_relaxes_slowly():
  np.testing.assert_allclose(anneal_alpha(jnp.float32(0.2), jnp.float32(0.6), 0.999), 0.6)
  np.testing.assert_allclose(anneal_alpha(jnp.float32(0.6), jnp.float32(0.2), 0.9), 0.9 * 0.6 + 0.1 * 0.2, rtol=1e-6)


@pytest.mark.parametrize("method", ["stf", "gtf"])
def test_training_lowers_the_forced_loss_on_lorenz(trajectories, method):
  x = trajectories[0]
  x = (x - x.mean(0)) / x.std(0)
  # STF with the learning rate decaying tenfold over the run, GTF at a constant one.
  cfg = DSRConfig(hidden=8, method=method, window=30, batch=4, steps=100, lr=1e-2, interval=10, alpha=0.2,
                  mar_tau=1.0, lr_decay=0.1 if method == "stf" else 1.0, tf_noise=0.05 if method == "stf" else 0.0)
  with pytest.raises(ValueError, match="--lr_decay: must be in"):
    DSRConfig(lr_decay=0.0)
  key = jax.random.key(7)
  params, losses = jax.jit(lambda k: train(cfg, x, k))(key)
  cell = make_cell(cfg)
  before = init_params(cfg, jax.random.split(key)[0], 3)    # what train starts from
  held_out = jnp.stack([x[s:s + 31] for s in range(5000, 9000, 250)])
  loss = lambda p: float(jnp.mean(jax.vmap(lambda w: forced_loss(cell, p, w, method=method, interval=10,
                                                                   alpha=0.2))(held_out)))
  assert np.all(np.isfinite(losses)) and loss(params) < 0.9 * loss(before)
