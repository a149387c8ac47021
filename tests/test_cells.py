"""Every cell against a plain NumPy implementation of its equations, plus shapes, dtypes and default inits."""
import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import numpy_reference as ref
from rnnstab.cells import ALIF, BRC, CELLS, GRU, LRU, LSTM, MGU, NBRC, NCGRU, PLRNN, ReLURNN, TanhRNN, recurrent_weights

REFERENCES = {"tanh": ref.tanh_rnn, "relu": ref.relu_rnn, "gru": ref.gru, "lstm": ref.lstm, "mgu": ref.mgu,
              "brc": ref.brc, "nbrc": ref.nbrc, "plrnn": ref.plrnn, "alif": ref.alif, "lru": ref.lru, "esn": ref.esn,
              "stpn": ref.stpn, "srgru": ref.srgru, "ncgru": ref.ncgru, "gatel0rd": ref.gatel0rd,
              "alif_lsc": functools.partial(ref.alif, tau_m=0.1, normalised_adaptation=True)}
D, H, B = 3, 5, 4


def to_np(tree):
  return jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), tree)


def random_state(cell, params, key):
  state = cell.initial_state(params, B)
  leaves, treedef = jax.tree_util.tree_flatten(state)
  keys = jax.random.split(key, len(leaves))
  return jax.tree_util.tree_unflatten(treedef, [jax.random.normal(k, l.shape) for k, l in zip(keys, leaves)])


def test_every_registered_cell_has_a_reference():
  assert set(CELLS.names()) == set(REFERENCES)


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_step_matches_numpy(name):
  cell = CELLS[name](hidden_size=H)
  kp, ks, kx, kb = jax.random.split(jax.random.key(1), 4)
  params = cell.init(kp, D)
  # Perturb every parameter so no equation term hides behind a special init value (w = 1, b = 0).
  leaves, treedef = jax.tree_util.tree_flatten(params)
  keys = jax.random.split(kb, len(leaves))
  params = jax.tree_util.tree_unflatten(treedef, [l + 0.3 * jax.random.normal(k, l.shape) for k, l in zip(keys, leaves)])
  state = random_state(cell, params, ks)
  x = jax.random.normal(kx, (B, D))
  new_state, y = jax.jit(cell.step)(params, state, x)
  ref_state, ref_y = REFERENCES[name](to_np(params), to_np(state), np.asarray(x, np.float64))
  np.testing.assert_allclose(y, ref_y, rtol=2e-5, atol=2e-5)
  jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-5), new_state, ref_state)
  assert y.shape == (B, H) and y.dtype == jnp.float32
  np.testing.assert_array_equal(cell.output(new_state), y)  # output(state) is the y step returns


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_bfloat16_params_keep_a_float32_state(name):
  cell = CELLS[name](hidden_size=H, param_dtype=jnp.bfloat16)
  params = cell.init(jax.random.key(0), D)
  assert all(l.dtype == jnp.bfloat16 for l in jax.tree_util.tree_leaves(params))
  state, y = cell.step(params, cell.initial_state(params, B), jnp.ones((B, D), jnp.bfloat16))
  assert y.dtype == jnp.float32
  assert all(l.dtype == jnp.float32 for l in jax.tree_util.tree_leaves(state))


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_recurrent_weights_are_found(name):
  cell = CELLS[name](hidden_size=H)
  rec = recurrent_weights(cell, cell.init(jax.random.key(0), D))
  assert rec and set(cell.recurrent_params) <= set(rec)  # a wrapper adds its base cell's ("base/W_z")
  assert all(w.shape[0] == H for w in rec.values())


@pytest.mark.parametrize("cls", [TanhRNN, ReLURNN, GRU, LSTM, MGU])
def test_pytorch_default_init_bounds(cls):
  params = cls(hidden_size=64).init(jax.random.key(0), 7)
  bound = 1 / np.sqrt(64)
  for leaf in jax.tree_util.tree_leaves(params):
    assert np.abs(leaf).max() <= bound
    assert np.abs(leaf).max() > 0.9 * bound  # uniform over the whole interval, not a narrower one


def test_brc_default_init_is_the_authors():
  p = BRC(hidden_size=32).init(jax.random.key(0), 4)
  np.testing.assert_array_equal(p["w_c"], 1.0)
  np.testing.assert_array_equal(p["w_a"], 1.0)
  glorot = np.sqrt(6 / (4 + 32))
  for g in "cah":
    np.testing.assert_array_equal(p[f"b_{g}"], 0.0)
    assert np.abs(p[f"U_{g}"]).max() <= glorot and np.abs(p[f"U_{g}"]).max() > 0.8 * glorot
  pn = NBRC(hidden_size=32).init(jax.random.key(0), 4)
  for g in "ca":
    assert pn[f"W_{g}"].shape == (32, 32) and np.abs(pn[f"W_{g}"]).max() <= np.sqrt(6 / 64)


def test_orthogonal_and_identity_recurrent_inits():
  p = GRU(hidden_size=16, recurrent_init="orthogonal").init(jax.random.key(0), 2)
  for g in "rzn":
    W = np.asarray(p[f"W_{g}"])
    np.testing.assert_allclose(W.T @ W, np.eye(16), atol=1e-5)
  assert not np.allclose(p["W_r"], p["W_z"])
  p = ReLURNN(hidden_size=8, recurrent_init="identity").init(jax.random.key(0), 2)
  np.testing.assert_array_equal(p["W"], np.eye(8))
  np.testing.assert_array_equal(p["b"], 0.0)
  # The rPLRNN authors' IRNN: the same W and b, input weights N(0, 1/H^2).
  H = 400
  q = ReLURNN(hidden_size=H, recurrent_init="irnn").init(jax.random.key(0), 3)
  np.testing.assert_array_equal(q["W"], np.eye(H))
  np.testing.assert_array_equal(q["b"], 0.0)
  assert abs(float(jnp.std(q["U"])) * H - 1) < 0.05 and abs(float(jnp.mean(q["U"]))) * H < 0.1
  with pytest.raises(ValueError, match="valid choices: default, orthogonal"):
    GRU(hidden_size=8, recurrent_init="identity")


def test_lstm_forget_bias_and_chrono():
  H, T = 64, 500
  p = LSTM(hidden_size=H, forget_bias=1.0).init(jax.random.key(0), 2)
  assert np.all(p["b_f"] > 1.0 - 1 / np.sqrt(H)) and np.all(p["b_i"] < 1 / np.sqrt(H))
  p = LSTM(hidden_size=H, chrono_max=T).init(jax.random.key(0), 2)
  b_f, b_i = np.asarray(p["b_f"]), np.asarray(p["b_i"])
  assert np.all(b_f >= 0) and np.all(b_f <= np.log(T - 1))
  assert b_f.max() > np.log(T / 4)  # log of U[1, T-1]: spread up to log(T), not stuck near 0
  np.testing.assert_array_equal(b_i, -b_f)


def test_plrnn_init_and_diagonal_held_at_zero():
  cell = PLRNN(hidden_size=20)
  p = cell.init(jax.random.key(0), 3)
  np.testing.assert_array_equal(np.diag(p["W"]), 0.0)
  aw = np.diag(np.asarray(p["A"])) + np.asarray(p["W"]).T
  assert np.max(np.abs(np.linalg.eigvals(aw))) <= 1.0 + 1e-5
  # A nonzero diagonal in W (e.g. after an optimiser step) must not act.
  p2 = dict(p, W=p["W"] + 5.0 * jnp.eye(20))
  z = jnp.ones((2, 20))
  np.testing.assert_allclose(cell.recur(p2, z, 0.0)[0], cell.recur(p, z, 0.0)[0], rtol=1e-6)
  np.testing.assert_allclose(cell.initial_state(p, 2), np.broadcast_to(p["z0"], (2, 20)))


@pytest.mark.parametrize("clip_range", [0.0, 0.5])
def test_mean_centred_and_clipped_plrnn_matches_numpy(clip_range):
  cell = PLRNN(hidden_size=7, mean_centre=True, clip_range=clip_range, recurrent_init="talathi_vartak")
  p = cell.init(jax.random.key(1), 3)
  z, x = 2 * jax.random.normal(jax.random.key(2), (4, 7)), jax.random.normal(jax.random.key(3), (4, 3))
  got = cell.recur(p, z, cell.project(p, x))[0]
  want = ref.plrnn({k: np.asarray(v, np.float64) for k, v in p.items()}, np.asarray(z, np.float64),
                   np.asarray(x, np.float64), mean_centre=True, clip_range=clip_range)[0]
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
  if clip_range:
    assert np.abs(np.asarray(got)).max() == pytest.approx(clip_range)


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_init_is_deterministic_and_hidden_size_validated(name):
  cell = CELLS[name](hidden_size=H)
  a, b = cell.init(jax.random.key(3), D), cell.init(jax.random.key(3), D)
  jax.tree_util.tree_map(np.testing.assert_array_equal, a, b)
  with pytest.raises(ValueError, match="hidden_size must be a positive integer"):
    CELLS[name](hidden_size=0)


def test_cells_are_frozen():
  with pytest.raises(dataclasses.FrozenInstanceError):
    GRU(hidden_size=4).hidden_size = 5


def test_alif_surrogate_gradient_and_no_self_connections():
  from rnnstab.cells.spiking import spike
  u = jnp.linspace(-2.0, 2.0, 9)
  np.testing.assert_allclose(jax.vmap(jax.grad(spike))(u), 0.3 * np.maximum(0.0, 1.0 - np.abs(u)), atol=1e-7)
  np.testing.assert_array_equal(spike(u), (u > 0).astype(np.float32))
  cell = ALIF(hidden_size=8)
  p = cell.init(jax.random.key(0), 3)
  np.testing.assert_array_equal(np.diag(p["W"]), 0.0)
  # Gradients reach the input weights through spikes over time (the surrogate), and none reach W's diagonal.
  from rnnstab.unroll import unroll
  xs = 3.0 * jax.random.normal(jax.random.key(1), (20, 4, 3))
  g = jax.grad(lambda q: jnp.sum(unroll(cell, q, xs)[1]))({**p, "W": p["W"] + jnp.eye(8)})
  assert np.abs(g["U"]).sum() > 0 and np.all(np.diag(g["W"]) == 0)


@pytest.mark.parametrize("surrogate,shape", [("triangle", lambda u: np.maximum(0.0, 1.0 - np.abs(u))),
                                             ("fast_sigmoid", lambda u: 1.0 / (1.0 + np.abs(u)) ** 2)])
def test_alif_surrogate_width_and_shape_set_the_spike_derivative(surrogate, shape):
  # dz'/dv' = dampening / w * shape((v' - A') / w); the forward spikes do not depend on the surrogate.
  cell = ALIF(hidden_size=3, b0=0.1, surrogate_width=0.5, surrogate=surrogate, dampening=0.7)
  p = {"U": jnp.eye(3), "W": jnp.zeros((3, 3)), "b": jnp.zeros(3)}
  state = {"v": jnp.array([0.0, 0.3, -0.6]), "a": jnp.zeros(3), "z": jnp.zeros(3)}
  alpha = np.exp(-1 / cell.tau_m)
  dz = jax.jacfwd(lambda x: cell.recur(p, state, x)[0]["z"])(jnp.zeros(3))
  u = (alpha * np.asarray(state["v"]) - 0.1) / 0.5
  np.testing.assert_allclose(np.diag(dz), 0.7 / 0.5 * shape(u), rtol=1e-5)
  np.testing.assert_array_equal(cell.recur(p, state, jnp.zeros(3))[0]["z"], ALIF(hidden_size=3, b0=0.1).recur(
      p, state, jnp.zeros(3))[0]["z"])
  with pytest.raises(ValueError, match="surrogate: unknown surrogate 'gauss'; valid choices: triangle, fast_sigmoid"):
    ALIF(hidden_size=3, surrogate="gauss")


def test_alif_lsc_authors_form_matches_numpy_and_detaches_the_reset():
  # State {v, a} with the last spike recomputed from it, normalised adaptation (LuCeHe/stable_drnn).
  cell = ALIF(hidden_size=H, tau_m=0.1, tau_a=50.0, b0=0.01, surrogate="fast_sigmoid", surrogate_width=0.5,
              dampening=0.5, spike_in_state=False, normalised_adaptation=True, detach_reset=True)
  kp, kv, ka, kx = jax.random.split(jax.random.key(3), 4)
  p = cell.init(kp, D)
  p = {**p, "b": 0.1 * jax.random.normal(kx, (H,))}
  state = {"v": 0.05 * jax.random.normal(kv, (B, H)), "a": jnp.abs(0.01 * jax.random.normal(ka, (B, H)))}
  x = jax.random.normal(kx, (B, D))
  new, y = jax.jit(cell.step)(p, state, x)
  ref_new, ref_y = ref.alif(to_np(p), to_np(state), np.asarray(x, np.float64), tau_m=0.1, tau_a=50.0,
                            normalised_adaptation=True)
  np.testing.assert_allclose(y, ref_y, atol=1e-6)
  jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-5), new, ref_new)
  assert set(new) == {"v", "a"}
  np.testing.assert_array_equal(cell.output(new), y)
  # With the reset detached, dv'/dv is the leak plus the recurrent path only: no -(b0 + beta a) dz/dv term.
  one = {"v": jnp.array([0.011]), "a": jnp.array([0.0])}
  c1 = ALIF(hidden_size=1, tau_m=0.1, surrogate="fast_sigmoid", surrogate_width=0.5, dampening=0.5,
            spike_in_state=False, detach_reset=True)
  p1 = {"U": jnp.zeros((1, 1)), "W": jnp.zeros((1, 1)), "b": jnp.zeros(1)}
  dv = jax.grad(lambda v: c1.recur(p1, {**one, "v": v}, jnp.zeros(1))[0]["v"][0])(one["v"])
  np.testing.assert_allclose(dv, np.exp(-10.0), rtol=1e-5)
  attached = dataclasses.replace(c1, detach_reset=False)
  dv = jax.grad(lambda v: attached.recur(p1, {**one, "v": v}, jnp.zeros(1))[0]["v"][0])(one["v"])
  np.testing.assert_allclose(dv, np.exp(-10.0) - 0.01 * 0.5 / 0.5 / (1 + 0.001 / 0.5) ** 2, rtol=1e-4)


def test_ncgru_candidate_matrix_is_orthogonal_and_its_inverse_has_the_exact_gradient():
  from rnnstab.cells.cayley import neumann_inverse
  cell = NCGRU(hidden_size=6)
  p = cell.init(jax.random.key(0), 2)
  W = cell.cayley({**p, "A": p["A"] + 0.5 * jax.random.normal(jax.random.key(1), (6, 6))})
  np.testing.assert_allclose(W @ W.T, np.eye(6), atol=2e-5)
  # Init: rotations by t in [0, pi/2) per 2x2 block, then D flips the first half of the columns.
  t = np.arccos(np.clip(np.diag(cell.cayley(p) * np.asarray(cell.d)[None, :]), -1, 1))
  assert np.all((t >= 0) & (t <= np.pi / 2 + 1e-5))
  m = jnp.eye(6) + 3.0 * jax.random.normal(jax.random.key(2), (6, 6))
  np.testing.assert_allclose(neumann_inverse(m), np.linalg.inv(np.asarray(m, np.float64)), rtol=1e-4, atol=1e-5)
  g = jax.grad(lambda m: jnp.sum(jnp.sin(neumann_inverse(m))))(m)
  g_ref = jax.grad(lambda m: jnp.sum(jnp.sin(jnp.linalg.inv(m))))(m)
  np.testing.assert_allclose(g, g_ref, rtol=1e-4, atol=1e-5)
  # prepare forms W once; recur on prepared and on raw params gives the same step.
  h, x = jax.random.normal(jax.random.key(3), (4, 6)), jax.random.normal(jax.random.key(4), (4, 2))
  raw = cell.step(p, h, x)[0]
  prepared = cell.prepare(p)
  assert "W_cayley" in prepared and cell.prepare(prepared) is prepared
  np.testing.assert_allclose(cell.recur(prepared, h, cell.project(prepared, x))[0], raw, atol=1e-6)
  with pytest.raises(ValueError, match="negative_fraction must be in"):
    NCGRU(hidden_size=4, negative_fraction=1.5)


def test_lru_ring_init_and_time_radius():
  from rnnstab.analysis.jacobians import lsc_radii
  cell = LRU(hidden_size=16, r_min=0.5, r_max=0.8)
  p = cell.init(jax.random.key(0), 16)
  modulus = np.exp(-np.exp(np.asarray(p["nu_log"])))
  assert modulus.min() >= 0.5 - 1e-6 and modulus.max() <= 0.8 + 1e-6
  np.testing.assert_allclose(np.exp(p["gamma_log"]), np.sqrt(1 - modulus ** 2), rtol=1e-5)
  assert np.count_nonzero(p["D"] - np.diag(np.diag(p["D"]))) == 0   # D = H: an element-wise skip
  # A linear diagonal recurrence: the time Jacobian's spectral radius is max |lambda| at every state.
  r = lsc_radii(cell, p, jax.random.normal(jax.random.key(1), (5, 3, 16)), jax.random.key(2))
  np.testing.assert_allclose(r["time"], modulus.max(), rtol=3e-3)
  with pytest.raises(ValueError, match="r_min < r_max"):
    LRU(hidden_size=4, r_min=0.9, r_max=0.5)
