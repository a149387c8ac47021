"""The memory-cell zoo (ESN, STPN, state-regularised GRU) works with everything the other cells do:
vmapped-seed training, the LSC and warmup objectives (finite gradients), and the multistability analysis."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnnstab.analysis import measure
from rnnstab.cells import CELLS, StateRegularised
from rnnstab.config import Config
from rnnstab.objectives import lsc_loss, lsc_targets, warmup_loss
from rnnstab.train import make_train

STRICT_PROMOTION = False
ZOO = ["esn", "stpn", "srgru"]


@pytest.mark.parametrize("name", ZOO)
def test_trains_over_vmapped_seeds(name):
  config = Config(cell=name, task="copy", seeds=2, hidden=6, layers=2, seq_len=5, batch=4, steps=3, log_every=3,
                  eval_batch=8, analysis_every=0)
  state, history = jax.jit(jax.vmap(make_train(config)))(jax.random.split(jax.random.key(0), 2))
  assert np.all(np.isfinite(history["eval_mse"])) and np.all(np.asarray(state.diverged_at) == -1)


@pytest.mark.parametrize("name", ZOO)
def test_objectives_and_analysis(name):
  cell = CELLS[name](hidden_size=3)   # one layer: stacks of every cell are covered in test_lsc / test_warmup
  params = cell.init(jax.random.key(0), 2)
  inputs = jax.random.normal(jax.random.key(1), (4, 3, 2))
  lsc = lsc_loss(cell, targets=lsc_targets("one", layers=1, seq_len=4))
  warm = warmup_loss(cell, max_iterations=10)
  for loss in (lsc, warm):
    (value, _), grads = jax.value_and_grad(loss, has_aux=True)(params, inputs, jax.random.key(2))
    assert np.isfinite(value) and all(np.all(np.isfinite(g)) for g in jax.tree_util.tree_leaves(grads))
  m = measure(cell, params, inputs, jax.random.key(3), steps=100)
  assert 0 < float(m.vaa) <= 1 and int(m.stable_equilibria) >= 0


def test_cold_state_regularisation_is_a_finite_automaton():
  """At a low temperature every state is (almost exactly) one of the k centroids."""
  cell = StateRegularised(hidden_size=6, centroids=4, temperature=1e-3)
  params = cell.init(jax.random.key(0), 3)
  h, _ = cell.step(params, jnp.zeros((5, 6)), jax.random.normal(jax.random.key(1), (5, 3)))
  S = np.asarray(params["S"]).T
  assert np.min(np.abs(h[:, None, :] - S[None]).max(-1), axis=1).max() < 1e-4
  with pytest.raises(ValueError, match="base 'lstm' is not supported; valid choices: gru, tanh, relu, mgu"):
    StateRegularised(hidden_size=4, base="lstm")
