"""The Local Stability Condition: Jacobian radii against NumPy, the Pascal-RNN gradient grid (exact path
counts), the LSC loss and its pre-training, on rnnstab and adapted Flax cells."""
import dataclasses
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnnstab.analysis.gradient_grid import gradient_grid
from rnnstab.analysis.jacobians import lsc_radii
from rnnstab.analysis.radius import gelfand_radius, matrix_radius, square_up
from rnnstab.cells import GRU, LSTM, Stack, TanhRNN, stack
from rnnstab.flax import FlaxCell
from rnnstab.objectives.lsc import lsc_loss, lsc_pretrain, lsc_targets
from rnnstab.unroll import unroll

STRICT_PROMOTION = False  # optax's AdaBelief mixes int32 counts with floats


def np_radius(m):
  return np.max(np.abs(np.linalg.eigvals(np.asarray(m, np.float64))), axis=-1)


def test_gelfand_radius_against_eigenvalues():
  a = np.asarray(jax.random.normal(jax.random.key(0), (64, 24, 24))) / 5
  np.testing.assert_allclose(gelfand_radius(a), np_radius(a), rtol=3e-3)
  rot = 0.9 * np.array([[np.cos(1.0), -np.sin(1.0)], [np.sin(1.0), np.cos(1.0)]])  # a complex pair
  jordan = np.array([[0.5, 1.0], [0.0, 0.5]])                                           # defective
  nilpotent = np.array([[0.0, 3.0], [0.0, 0.0]])
  got = gelfand_radius(np.stack([rot, jordan, nilpotent]))
  np.testing.assert_allclose(got, [0.9, 0.5, 0.0], atol=2e-3)
  np.testing.assert_allclose(matrix_radius(a, "singular"), np.linalg.norm(a, 2, axis=(1, 2)), rtol=1e-4)
  g = jax.grad(lambda m: jnp.sum(gelfand_radius(m)))(jnp.asarray(a))
  assert np.all(np.isfinite(g))
  zero = jax.grad(lambda m: jnp.sum(gelfand_radius(m)))(jnp.zeros((2, 3, 3)))   # radius 0, gradient 0, no NaN
  np.testing.assert_array_equal(zero, 0.0)
  with pytest.raises(ValueError, match="valid choices: spectral, singular"):
    matrix_radius(a, "frobenius")


def test_square_up_keeps_distinct_rows_or_columns():
  m = jnp.arange(12.0).reshape(6, 2)
  s = np.asarray(square_up(m, jax.random.key(0)))
  assert s.shape == (2, 2) and len({tuple(r) for r in s}) == 2 and all(r.tolist() in m.tolist() for r in s)
  assert square_up(m.T, jax.random.key(0)).shape == (2, 2)


def _tanh_stack(H=6, L=2):
  cell = stack(TanhRNN(hidden_size=H), L)
  params = cell.init(jax.random.key(1), H)
  R = np.asarray(jax.random.normal(jax.random.key(2), (H, H))) / np.sqrt(H)
  return cell, params, R


def test_radii_of_a_tanh_stack_match_numpy():
  """T = 1, so every sample is measured at the zero start state; D = O = H makes every Jacobian square."""
  H, n = 6, 5
  cell, params, R = _tanh_stack(H)
  x = np.asarray(jax.random.normal(jax.random.key(3), (1, n, H)))
  p0, p1 = [{k: np.asarray(v, np.float64) for k, v in p.items()} for p in params["layers"]]
  h0 = np.tanh(x[0] @ p0["U"] + p0["b"])                   # s = 0: h' = tanh(x U + b)
  h1 = np.tanh(h0 @ p1["U"] + p1["b"])
  d0, d1 = 1 - h0 ** 2, 1 - h1 ** 2
  want = {"time": [np_radius(d0[:, :, None] * p0["W"].T), np_radius(d1[:, :, None] * p1["W"].T)],
          "depth": [np_radius(d1[:, :, None] * p1["U"].T)],
          "encoder": [np_radius(d0[:, :, None] * p0["U"].T)],
          "decoder": [np.full(n, np_radius(R.T[None])[0])]}
  for method, rtol in (("exact", 3e-3), ("power", 3e-2)):
    got = lsc_radii(cell, params, jnp.asarray(x), jax.random.key(4), readout=lambda y: y @ R, method=method,
                    iterations=300)
    assert sorted(got) == sorted(want)
    for kind, rows in want.items():
      np.testing.assert_allclose(got[kind], np.stack(rows), rtol=rtol, err_msg=f"{method} {kind}")
  sing = lsc_radii(cell, params, jnp.asarray(x), jax.random.key(4), norm="singular", method="exact")
  np.testing.assert_allclose(sing["time"][0], np.linalg.norm(d0[:, :, None] * p0["W"].T, 2, axis=(1, 2)), rtol=1e-3)
  # "auto" forms the Jacobians of small states (exactly what "exact" returns) and power-iterates large ones.
  from rnnstab.analysis import jacobians
  args = (cell, params, jnp.asarray(x), jax.random.key(4))
  auto = lsc_radii(*args, readout=lambda y: y @ R, method="auto", iterations=300)
  exact = lsc_radii(*args, readout=lambda y: y @ R, method="exact")
  jax.tree_util.tree_map(np.testing.assert_array_equal, auto, exact)
  small_limit = jacobians.AUTO_EXACT_MAX
  try:
    jacobians.AUTO_EXACT_MAX = H - 1
    power = lsc_radii(*args, readout=lambda y: y @ R, method="power", iterations=300)
    auto = lsc_radii(*args, readout=lambda y: y @ R, method="auto", iterations=300)
  finally:
    jacobians.AUTO_EXACT_MAX = small_limit
  jax.tree_util.tree_map(np.testing.assert_array_equal, {k: v for k, v in auto.items() if k != "encoder"},
                         {k: v for k, v in power.items() if k != "encoder"})


def test_lstm_decoder_jacobian_reads_the_output_only():
  """The readout sees h alone: the decoder Jacobian is d y / d h, never a zero column of c."""
  cell = stack(LSTM(hidden_size=8), 2)
  params = cell.init(jax.random.key(0), 1)
  w = jnp.full((8, 1), 0.7)
  r = lsc_radii(cell, params, jax.random.normal(jax.random.key(1), (6, 16, 1)), jax.random.key(2),
                readout=lambda y: y @ w)
  np.testing.assert_allclose(r["decoder"], 0.7, rtol=1e-3)   # every 1 x 1 sub-matrix is an entry of w


def test_lstm_time_jacobian_covers_the_cell_state():
  """With forget gates open (f = 1) the c -> c block is the identity and the full-state radius is at least
  about 1; with them shut (f = 0) only the small h -> h path is left."""
  xs = jax.random.normal(jax.random.key(1), (6, 4, 2))
  radii = {}
  for bias in (30.0, -30.0):
    cell = LSTM(hidden_size=8, forget_bias=bias)
    r = lsc_radii(cell, cell.init(jax.random.key(0), 2), xs, jax.random.key(2))
    assert r["time"].shape == (1, 4) and "depth" not in r
    radii[bias] = np.asarray(r["time"])
  assert radii[30.0].min() > 0.98 and radii[-30.0].max() < 0.5


def _flax_from_rnnstab(p):
  return {f"i{g}": {"kernel": p[f"U_{g}"], "bias": p[f"b_{g}"]} for g in "rzn"} | {
      f"h{g}": {"kernel": p[f"W_{g}"]} for g in "rz"} | {"hn": {"kernel": p["W_n"], "bias": p["b_hn"]}}


def test_lsc_loss_on_a_flax_cell_equals_the_native_cell():
  gru = GRU(hidden_size=5)
  p = gru.init(jax.random.key(0), 3)
  xs = jax.random.normal(jax.random.key(1), (7, 4, 3))
  targets = lsc_targets("one", layers=1, seq_len=7)
  assert targets == {"time": 1.0, "depth": 1.0, "decoder": 1.0}
  native, aux = lsc_loss(gru, targets=targets)(p, xs, jax.random.key(2))
  flax_cell = FlaxCell(nn.GRUCell(features=5))
  adapted, aux_f = lsc_loss(flax_cell, targets=targets)(_flax_from_rnnstab(p), xs, jax.random.key(2))
  np.testing.assert_allclose(adapted, native, rtol=1e-5)
  np.testing.assert_allclose(aux_f["radii"]["time"], aux["radii"]["time"], rtol=1e-5)
  g = jax.grad(lambda q: lsc_loss(flax_cell, targets=targets)(q, xs, jax.random.key(2))[0])(_flax_from_rnnstab(p))
  assert all(np.all(np.isfinite(l)) for l in jax.tree_util.tree_leaves(g))


def test_target_rules():
  assert lsc_targets("half", layers=5, seq_len=100, kinds=("time", "depth", "encoder")) == {
      "time": 0.5, "depth": 0.5, "encoder": 0.5}
  u = lsc_targets("unbalanced", layers=5, seq_len=95)
  assert (u["time"], u["depth"], u["decoder"]) == (0.95, 0.05, 1.0)
  assert lsc_targets("half", layers=1, seq_len=100)["time"] == 1.0   # shallow: 1 under every rule
  with pytest.raises(ValueError, match="--lsc_targets: unknown rule 'two'; valid choices: one, half, unbalanced"):
    lsc_targets("two", layers=2, seq_len=10)
  with pytest.raises(ValueError, match="--lsc_kinds"):
    lsc_targets("one", layers=2, seq_len=10, kinds=("space",))


def test_pretraining_reaches_the_targets_and_stops():
  cell = stack(GRU(hidden_size=8), 2)
  params = {"cell": cell.init(jax.random.key(0), 2),
            "readout": {"W": jax.random.normal(jax.random.key(1), (8, 2)) / 3}}
  targets = lsc_targets("one", layers=2, seq_len=12)
  sample = lambda k: jax.random.normal(k, (12, 16, 2))
  readout = lambda rp, y: y @ rp["W"]
  pre = jax.jit(jax.vmap(lambda p, k: lsc_pretrain(cell, p, sample, k, targets=targets, readout=readout,
                                                   max_steps=300, patience=5)))
  keys = jax.random.split(jax.random.key(2), 2)
  both = jax.tree_util.tree_map(lambda a: jnp.stack([a, a]), params)
  out, info = pre(both, keys)
  assert np.all(info["converged"]) and np.all(info["steps"] < 300)
  for kind, target in targets.items():
    before, after = np.asarray(info["radii_before"][kind]), np.asarray(info["radii_after"][kind])
    assert np.all(np.abs(after - target) < 0.08), (kind, after)
    assert np.all(np.abs(before - target) > 0.08) or kind == "time"
  losses = np.asarray(info["loss"])
  assert np.isnan(losses[0, int(info["steps"][0]):]).all() and losses[0, 0] > losses[0, int(info["steps"][0]) - 1]


@dataclasses.dataclass(frozen=True)
class Pascal:
  """1-unit linear cell s' = w s + w x: in a stack, w is both the time and the depth weight."""

  def init(self, key, input_size):
    return {"w": jnp.ones((), jnp.float64)}

  def initial_state(self, params, batch):
    return jnp.zeros((batch if isinstance(batch, int) else batch[0], 1), jnp.float64)

  def step(self, params, s, x):
    h = params["w"] * s + params["w"] * x
    return h, h

  def output(self, s):
    return s


@pytest.mark.parametrize("w", [1.0, 0.5])
def test_pascal_rnn_counts_monotone_paths_exactly(w):
  """L = 10, T = 100 (reference sheet section 2): d s^L_99 / d s^1_0 = C(108, 9) w^108, and
  sum_t d s^L_t / d x_0 = C(109, 10) w^110 ... which is exactly 1 at w = 0.5 to float64 rounding
  (a negative-binomial sum); at w = 0.5 every grid entry is a binomial probability <= 1."""
  L, T = 10, 100
  with jax.enable_x64(True):
    cell = Stack((Pascal(),) * L)
    params = {"layers": tuple({"w": jnp.asarray(w, jnp.float64)} for _ in range(L))}
    xs = jnp.zeros((T, 1, 1), jnp.float64)
    grid = np.asarray(gradient_grid(cell, params, xs, lambda ys: ys[-1, 0, 0]))
    top_row = float(jax.grad(lambda x: jnp.sum(unroll(cell, params, x)[1]))(xs)[0, 0, 0])
  assert grid.shape == (L, T) and grid.dtype == np.float64
  for l in range(L):   # every entry: C(dt + dl, dl) w^(dt + dl)
    for t in (0, 37, 99):
      assert grid[l, t] == pytest.approx(math.comb(99 - t + L - 1 - l, L - 1 - l) * w ** (99 - t + L - 1 - l), rel=1e-12)
  if w == 1.0:
    assert grid[0, 0] == math.comb(108, 9) and top_row == math.comb(109, 10)
  else:
    assert grid.max() <= 1.0 and top_row == pytest.approx(1.0, abs=1e-15)


def test_gradient_grid_of_an_lstm_stack_includes_the_cell_state():
  cell = stack(LSTM(hidden_size=4), 3)
  params = cell.init(jax.random.key(0), 2)
  xs = jax.random.normal(jax.random.key(1), (9, 2, 2))
  grid = np.asarray(gradient_grid(cell, params, xs, lambda ys: jnp.mean(ys[-1] ** 2)))
  assert grid.shape == (3, 9) and np.all(np.isfinite(grid)) and grid[-1, -1] > 0
  # The gradient with respect to the inputs through unroll agrees with the grid's first layer at t = 0:
  # dL/dx_0 = dL/ds^0_0 . d s^0_0 / d x_0, so both vanish or neither does.
  gx = jax.grad(lambda x: jnp.mean(unroll(cell, params, x)[1][-1] ** 2))(xs)
  assert (np.abs(gx[0]).sum() > 0) == (grid[0, 0] > 0)


@pytest.mark.parametrize("init, activation", [("glorot", "tanh"), ("he", "relu"), ("orthogonal", "linear")])
def test_classic_mlp_inits_meet_the_lsc_in_expectation(init, activation):
  """Depth 30, width 128 (the paper's feed-forward setting): the mean layer radius is within 0.1 of 1."""
  from rnnstab.feedforward import mlp_init, mlp_radii
  layers = mlp_init(jax.random.key(0), (128,) * 31, init)
  r = np.asarray(mlp_radii(layers, jax.random.normal(jax.random.key(1), (8, 128)), activation))
  assert r.shape == (30, 8) and abs(r.mean() - 1.0) < 0.1, r.mean()


def test_power_radius_of_a_map_to_zero_has_a_zero_gradient():
  # A spiking layer far from threshold maps every direction to 0: its radius is ~0 and must not make the
  # LSC pre-training step NaN (the norm's gradient at a zero vector is 0/0).
  from rnnstab.analysis.radius import power_radius
  g = jax.grad(lambda a: power_radius(lambda x: a * x * 0.0, jnp.ones(3), jax.random.key(0)))(1.0)
  assert g == 0.0
  np.testing.assert_allclose(jax.grad(lambda a: power_radius(lambda x: a * x, jnp.ones(3),
                                                             jax.random.key(0)))(0.7), 1.0, rtol=1e-4)
