"""Regularisers and the rPLRNN baselines: manifold-attractor penalty (vs NumPy), AWh, soft orthogonality, forget bias, --reg."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from rnnstab.cells import CELLS, stack
from rnnstab.config import Config
from rnnstab.objectives import add_manifold_attractor_reg, awh, mar_penalty, orthogonality_penalty
from rnnstab.objectives.manifold_attractor import plrnn_blocks
from rnnstab.regularisers import parse_reg
from rnnstab.train import make_train

STRICT_PROMOTION = False  # optax's Adam mixes Python floats with int32 step counts
M, D = 6, 2


@pytest.fixture(scope="module")
def params():
  return CELLS["plrnn"](hidden_size=M).init(jax.random.key(0), D)


def numpy_penalty(p, tau_A, tau_W, tau_h, fraction, reduce="sum"):
  """Schmidt et al. eq. 4 in the paper's layout: W_paper[i, j] is unit j's effect on unit i. With
  reduce="mean", the authors' code: mean squared error of A and h over the r regularised units and of W
  over the r rows of M entries (the zero diagonal included)."""
  A, W, h = (np.asarray(p[k], np.float64) for k in ("A", "W", "h"))
  W_paper = W.T
  M = len(A)
  r = int(fraction * M)
  terms = [tau_A * np.sum((A[:r] - 1) ** 2), tau_h * np.sum(h[:r] ** 2),
           tau_W * sum(W_paper[i, j] ** 2 for i in range(r) for j in range(M) if j != i)]
  if reduce == "mean":
    terms = [terms[0] / r, terms[1] / r, terms[2] / (r * M)]
  return sum(terms)


@pytest.mark.parametrize("reduce", ["sum", "mean"])
@pytest.mark.parametrize("fraction", [0.5, 1.0, 0.34])
def test_penalty_matches_numpy(params, fraction, reduce):
  got = mar_penalty(params, tau_A=2.0, tau_W=0.5, tau_h=3.0, fraction=fraction, reduce=reduce)
  np.testing.assert_allclose(got, numpy_penalty(params, 2.0, 0.5, 3.0, fraction, reduce), rtol=1e-5)
  assert mar_penalty(params, tau=1.0, fraction=0.0, reduce=reduce) == 0.0


def test_mean_is_the_default_and_reduce_is_a_reg_option():
  np.testing.assert_allclose(mar_penalty(params_of(8), tau=5.0), numpy_penalty(params_of(8), 5, 5, 5, 0.5, "mean"),
                             rtol=1e-5)
  assert parse_reg("mar:tau=5,reduce=sum") == ("mar", {"tau": 5.0, "reduce": "sum"})
  with pytest.raises(ValueError, match="--reg: reduce: must be one of mean, sum, got 'max'"):
    parse_reg("mar:reduce=max")
  with pytest.raises(ValueError, match="--reg: option tau of mar must be a number"):
    parse_reg("mar:tau=big")


def params_of(m):
  return CELLS["plrnn"](hidden_size=m).init(jax.random.key(5), D)


def test_awh_units_are_integrators_and_carry_no_penalty(params):
  p = awh(params, fraction=0.5)
  assert float(mar_penalty(p, fraction=0.5)) == 0.0
  np.testing.assert_array_equal(p["A"][:3], 1.0)
  np.testing.assert_array_equal(p["A"][3:], params["A"][3:])      # free units untouched
  # A regularised unit's update row is the identity's: z_i' = z_i + (C s)_i.
  cell = CELLS["plrnn"](hidden_size=M)
  z = jax.random.normal(jax.random.key(1), (M,))
  z_next, _ = cell.recur(p, z, jnp.zeros(M))
  np.testing.assert_allclose(z_next[:3], z[:3], rtol=1e-6)
  # The cell's own "awh" recurrent init gives the same parameters.
  own = CELLS["plrnn"](hidden_size=M, recurrent_init="awh").init(jax.random.key(0), D)
  jax.tree_util.tree_map(np.testing.assert_array_equal, own, p)


def test_the_iplrnn_starts_with_every_unit_an_integrator(params):
  """--cell=plrnn --init=identity: the paper's iPLRNN (the authors' runs: AWh with per_reg = 1)."""
  own = CELLS["plrnn"](hidden_size=M, recurrent_init="identity").init(jax.random.key(0), D)
  np.testing.assert_array_equal(own["A"], 1.0)
  np.testing.assert_array_equal(own["W"], 0.0)
  np.testing.assert_array_equal(own["h"], 0.0)
  np.testing.assert_array_equal(own["C"], params["C"])       # the input weights keep the default init
  jax.tree_util.tree_map(np.testing.assert_array_equal, own, awh(params, fraction=1.0))


def test_finds_plrnn_layers_anywhere_in_a_params_tree():
  cell = stack(CELLS["plrnn"](hidden_size=M), 3)
  p = {"cell": cell.init(jax.random.key(2), D), "readout": {"W": jnp.ones((M, 1)), "b": jnp.zeros(1)}}
  assert len(plrnn_blocks(p)) == 3
  total = sum(numpy_penalty(l, 5.0, 5.0, 5.0, 0.5, "mean") for l in p["cell"]["layers"])
  np.testing.assert_allclose(mar_penalty(p), total, rtol=1e-5)
  with pytest.raises(ValueError, match="no PLRNN parameters"):
    mar_penalty({"W": jnp.ones((M, M))})


def test_optax_transform_adds_the_penalty_gradient(params):
  task_grads = jax.tree_util.tree_map(jnp.ones_like, params)
  opt = optax.chain(add_manifold_attractor_reg(tau=2.0, fraction=0.5), optax.sgd(0.1))
  updates, _ = opt.update(task_grads, opt.init(params), params)
  want = jax.tree_util.tree_map(lambda g, r: -0.1 * (g + r), task_grads,
                                jax.grad(lambda p: mar_penalty(p, tau=2.0, fraction=0.5))(params))
  jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), updates, want)
  with pytest.raises(ValueError, match="needs params"):
    opt.update(task_grads, opt.init(params))


def test_training_with_reg_pulls_regularised_units_to_integrators():
  def a_gap(reg):
    config = Config(cell="plrnn", task="adding", hidden=8, layers=1, seq_len=8, batch=4, steps=30, lr=0.03, reg=reg)
    trainer = make_train(config)
    state, _ = trainer.init(jax.random.key(0))
    before = jnp.abs(state.params["cell"]["A"][:4] - 1).mean()
    state, _ = jax.jit(trainer.run, static_argnums=1)(state, 30)
    return float(before), float(jnp.abs(state.params["cell"]["A"][:4] - 1).mean())

  before, plain = a_gap("none")
  _, reg = a_gap("mar:tau=10")
  assert reg < 0.5 * before and reg < plain


def test_orthogonality_penalty_matches_numpy_and_vanishes_on_orthogonal_kernels():
  cell = stack(CELLS["gru"](hidden_size=4), 2)
  p = {"cell": cell.init(jax.random.key(3), D)}
  want = sum(np.sum((np.asarray(l[k]).T @ np.asarray(l[k]) - np.eye(4)) ** 2)
             for l in p["cell"]["layers"] for k in ("W_r", "W_z", "W_n"))
  np.testing.assert_allclose(orthogonality_penalty(p, tau=0.5), 0.5 * want, rtol=1e-5)
  ortho = CELLS["tanh"](hidden_size=5, recurrent_init="orthogonal").init(jax.random.key(4), D)
  assert float(orthogonality_penalty(ortho)) < 1e-10
  with pytest.raises(ValueError, match="no square recurrent kernel"):
    orthogonality_penalty({"U": jnp.ones((2, 3))})


def test_forget_bias_init_adds_one_to_the_lstm_forget_gate():
  base = make_train(Config(cell="lstm", hidden=4, layers=1)).initial_params(jax.random.key(0))
  plus = make_train(Config(cell="lstm", hidden=4, layers=1, init="forget_bias")).initial_params(jax.random.key(0))
  np.testing.assert_allclose(plus["cell"]["b_f"], base["cell"]["b_f"] + 1.0, rtol=1e-6)
