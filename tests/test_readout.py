"""Reservoir mode: the ridge readout against NumPy, and --train=readout keeping the recurrent part fixed."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnnstab.config import Config
from rnnstab.readout import ridge_readout
from rnnstab.train import make_train
from rnnstab.unroll import unroll

STRICT_PROMOTION = False  # optax's Adam mixes int32 counts with floats


def test_ridge_readout_matches_numpy():
  rng = np.random.default_rng(0)
  X = rng.normal(size=(6, 5, 4)).astype(np.float32)
  Y = (X @ rng.normal(size=(4, 2)) + 0.3 + 0.01 * rng.normal(size=(6, 5, 2))).astype(np.float32)
  mask = (rng.random((6, 5)) < 0.7).astype(np.float32)
  got = ridge_readout(jnp.asarray(X), jnp.asarray(Y), jnp.asarray(mask), ridge=1e-2)
  rows = mask.reshape(-1) > 0
  x, y = X.reshape(-1, 4)[rows].astype(np.float64), Y.reshape(-1, 2)[rows].astype(np.float64)
  xc, yc = x - x.mean(0), y - y.mean(0)
  lam = 1e-2 * np.trace(xc.T @ xc) / 4
  W = np.linalg.solve(xc.T @ xc + lam * np.eye(4), xc.T @ yc)
  np.testing.assert_allclose(got["W"], W, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(got["b"], y.mean(0) - x.mean(0) @ W, rtol=1e-4, atol=1e-5)


def _config(**kw):
  return Config(**{**dict(cell="gru", task="narma10", seq_len=20, hidden=8, layers=1, seeds=1, batch=8, steps=3,
                          log_every=3, analysis_every=0, checkpoint_every=0, eval_batch=8), **kw})


@pytest.mark.parametrize("fit", ["gd", "ridge"])
def test_readout_mode_never_moves_the_recurrent_part(fit):
  # The orthogonality regulariser pushes on the recurrent kernels: reservoir mode must ignore it too.
  trainer = make_train(_config(train="readout", readout_fit=fit, reg="orth:tau=1"))
  state, _ = jax.jit(trainer.init)(jax.random.key(0))
  raw = trainer.initial_params(jax.random.key(0))
  after, _ = jax.jit(lambda s: trainer.run(s, 3))(state)
  for a, b in zip(jax.tree_util.tree_leaves(raw["cell"]), jax.tree_util.tree_leaves(after.params["cell"])):
    np.testing.assert_array_equal(a, b)
  moved = not np.allclose(after.params["readout"]["W"], state.params["readout"]["W"])
  assert moved == (fit == "gd")  # a ridge readout is final; gradient descent goes on fitting it
  if fit == "ridge":  # it is the ridge readout of the network's outputs on task sequences
    assert not np.allclose(state.params["readout"]["W"], raw["readout"]["W"])


def test_ridge_readout_fits_narma10_better_than_its_start():
  trainer = make_train(_config(cell="esn", hidden=32, seq_len=100, train="readout"))
  state, _ = jax.jit(trainer.init)(jax.random.key(0))
  untrained = make_train(_config(cell="esn", hidden=32, seq_len=100))
  before, _ = jax.jit(untrained.init)(jax.random.key(0))
  fitted = float(jax.jit(trainer.evaluate)(state)["nrmse"])
  assert fitted < 0.7 < float(jax.jit(untrained.evaluate)(before)["nrmse"])


def test_bad_train_flags_name_the_choices():
  with pytest.raises(ValueError, match="--train: unknown choice 'rnn'; valid choices: all, readout"):
    _config(train="rnn")
  with pytest.raises(ValueError, match="--readout_fit: unknown choice 'lsq'; valid choices: ridge, gd"):
    _config(readout_fit="lsq")
