"""The memory-cell zoo (ESN, STPN, state-regularised GRU, NC-GRU, GateL0RD) works with everything the other cells do:
vmapped-seed training, the LSC and warmup objectives (finite gradients), and the multistability analysis."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnnstab.analysis import measure
from rnnstab.cells import CELLS, GateL0RD, StateRegularised, stack
from rnnstab.config import Config
from rnnstab.objectives import lsc_loss, lsc_targets, warmup_loss
from rnnstab.train import make_train

STRICT_PROMOTION = False
ZOO = ["esn", "stpn", "srgru", "ncgru", "gatel0rd"]


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


def test_gatel0rd_penalty_counts_open_gates_with_a_straight_through_gradient():
  from rnnstab.unroll import unroll
  cell = GateL0RD(hidden_size=4, l0_weight=0.5, gate_noise=0.0)
  p = cell.init(jax.random.key(0), 2)
  xs = jax.random.normal(jax.random.key(1), (6, 3, 2))
  state, ys, penalty = unroll(cell, p, xs, penalties=True, backend="scan")
  # Recount the open gates step by step from the equations.
  h, opened = np.zeros((3, 4)), np.zeros(3)
  for x in np.asarray(xs, np.float64):
    lam = np.maximum(0, np.tanh(x @ np.asarray(p["U_g"]) + h @ np.asarray(p["W_g"]) + np.asarray(p["b_g"])))
    opened += (lam > 0).sum(-1)
    h = cell.step(p, {"h": jnp.asarray(h, jnp.float32), "y": jnp.zeros((3, 4))}, jnp.asarray(x, jnp.float32))[0]["h"]
    h = np.asarray(h, np.float64)
  np.testing.assert_allclose(penalty, 0.5 * opened / 6, rtol=1e-6)
  np.testing.assert_allclose(ys, unroll(cell, p, xs, backend="scan")[1], atol=0)  # no noise without a key
  # Straight through: the penalty's gradient reaches the gate's weights although Heaviside is flat.
  g = jax.grad(lambda q: jnp.sum(unroll(cell, q, xs, penalties=True)[2]))(p)
  assert np.abs(g["U_g"]).sum() > 0 and np.all(g["U_p"] == 0)
  # The noise is drawn per step from the key, only when one is given; stacks sum their layers' penalties.
  noisy = GateL0RD(hidden_size=4, gate_noise=1.0)
  y1 = unroll(noisy, p, xs, key=jax.random.key(5))[1]
  assert not np.allclose(y1, unroll(noisy, p, xs)[1]) and np.allclose(y1, unroll(noisy, p, xs, key=jax.random.key(5))[1])
  deep = stack(cell, 2)
  pd = deep.init(jax.random.key(2), 2)
  _, _, pen2 = unroll(deep, pd, xs, penalties=True)
  one = lambda l, x: unroll(cell, pd["layers"][l], x, penalties=True)
  _, y0, c0 = one(0, xs)
  np.testing.assert_allclose(pen2, c0 + one(1, y0)[2], rtol=1e-6)
  with pytest.raises(ValueError, match="GateL0RD: l0_weight must be >= 0"):
    GateL0RD(hidden_size=2, l0_weight=-1.0)


def test_gatel0rd_training_adds_its_penalty_to_the_loss():
  config = Config(cell="gatel0rd", task="copy", seeds=1, hidden=4, seq_len=5, batch=4, steps=1, log_every=1,
                  eval_batch=8, analysis_every=0)
  trainer = make_train(config)
  state, _ = trainer.init(jax.random.key(0))
  batch = trainer.task.sample(jax.random.key(1), 4)
  with_l0 = trainer.loss(state.params, batch, jax.random.key(2))
  from rnnstab.unroll import unroll
  cell_params = state.params["cell"]
  _, ys, penalty = unroll(trainer.model.cell, cell_params, batch.inputs, key=jax.random.key(2), penalties=True)
  preds = trainer.model.readout(state.params["readout"], ys)
  expected = jnp.mean(trainer.task.loss(preds, batch.targets, batch.mask)) + jnp.mean(penalty)
  np.testing.assert_allclose(with_l0, expected, rtol=1e-6)
  assert float(jnp.mean(penalty)) > 0
