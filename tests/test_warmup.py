"""The warmup objective and phase: VAA* rises, partial warmup leaves second halves untouched, Flax params
work through the adapter, seeds vmap, and --init=warmup runs end to end."""
import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnnstab.cells import GRU, LSTM, double, stack
from rnnstab.config import Config
from rnnstab.flax import FlaxCell
from rnnstab.objectives import layer_vaa_star, warm_up, warmup_loss
from rnnstab.objectives.warmup import first_halves_mask, iteration_schedule
from rnnstab.train import make_train

STRICT_PROMOTION = False  # optax's Adam is not strict-clean

T, N = 12, 16
sample = lambda k: jax.random.normal(k, (T, N, 1))


def run_warmup(cell, params, steps=40, **kw):
  return jax.jit(lambda p, k: warm_up(cell, p, sample, k, steps=steps, max_iterations=30, **kw))(
      params, jax.random.key(3))


@pytest.fixture(scope="module")
def gru_warmed():
  cell = stack(GRU(8), 2)
  params = cell.init(jax.random.key(0), 1)
  return cell, params, run_warmup(cell, params, steps=100)


def test_warmup_raises_vaa_star_of_every_layer(gru_warmed):
  cell, params, (_, info) = gru_warmed
  assert info["vaa_star"].shape == (100, 2) and info["loss"].shape == (100,)
  # VAA* depends on the constant input drawn: average it over 16 draws.
  v = jax.jit(jax.vmap(lambda p, k: layer_vaa_star(cell, p, sample(k), jax.random.fold_in(k, 1), iterations=30,
                                                   max_iterations=30), in_axes=(None, 0)))
  keys = jax.random.split(jax.random.key(9), 16)
  before = v(params, keys).mean(0)
  assert np.all(before < 0.2), before    # a default GRU is monostable: every state lands on one point
  # One init's VAA* after 100 steps moves with the machine's float rounding (0.67 to 0.86 for this one's
  # second layer between CPUs and XLA optimisation levels): the bound holds for the mean over 4 inits.
  inits = jax.vmap(lambda k: cell.init(k, 1))(jax.random.split(jax.random.key(0), 4))
  warmed = jax.jit(jax.vmap(lambda p: warm_up(cell, p, sample, jax.random.key(3), steps=100,
                                              max_iterations=30)[0]))(inits)
  after = jax.vmap(lambda p: v(p, keys).mean(0))(warmed).mean(0)
  assert np.all(after > 0.7), after
  assert float(info["loss"][-5:].mean()) < float(info["loss"][:5].mean())


def test_warmup_loss_is_mean_squared_distance_to_target(gru_warmed):
  cell, params, _ = gru_warmed
  inputs = sample(jax.random.key(1))
  value, aux = warmup_loss(cell, target=0.7, max_iterations=10)(params, inputs, jax.random.key(2))
  np.testing.assert_allclose(value, jnp.mean((aux["vaa_star"] - 0.7) ** 2), rtol=1e-6)
  assert aux["vaa_star"].shape == (2,)


def test_iteration_schedule_is_the_papers():
  draws = jax.vmap(lambda k, s: iteration_schedule(k, s))(jax.random.split(jax.random.key(0), 3000),
                                                          jnp.repeat(jnp.array([0, 3, 50]), 1000))
  assert set(np.asarray(draws[:1000]).tolist()) == {1}
  assert set(np.asarray(draws[1000:2000]).tolist()) == set(range(1, 32))        # U[1, 1 + 10 * 3]
  assert min(draws[2000:]) == 1 and max(draws[2000:]) == 200                     # capped at 200


def test_partial_warmup_moves_only_first_halves():
  cell = stack(double(GRU(8)), 2)
  params = cell.init(jax.random.key(0), 1)
  warm, info = run_warmup(cell, params, steps=10, partial=True)
  mask = first_halves_mask(cell, params)
  changed = jax.tree_util.tree_map(lambda a, b: bool(jnp.any(a != b)), warm, params)
  for flag, moved in zip(jax.tree_util.tree_leaves(mask), jax.tree_util.tree_leaves(changed)):
    assert moved == flag  # first halves all move, second halves are bit-identical
  with pytest.raises(ValueError, match="partial warmup needs double layers"):
    warmup_loss(stack(GRU(8), 2), partial=True)(stack(GRU(8), 2).init(jax.random.key(0), 1), sample(jax.random.key(0)),
                                               jax.random.key(0))


def test_flax_cell_params_warm_up_through_the_adapter():
  cell = FlaxCell(nn.GRUCell(features=6))
  params = cell.init(jax.random.key(0), 1)
  (value, aux), grads = jax.value_and_grad(warmup_loss(cell, max_iterations=20), has_aux=True)(
      params, sample(jax.random.key(1)), jax.random.key(2))
  assert np.isfinite(value) and aux["vaa_star"].shape == (1,)
  assert float(jnp.abs(grads["hz"]["kernel"]).max()) > 0
  warm, info = run_warmup(cell, params, steps=30)
  assert float(info["vaa_star"][-5:].mean()) > float(info["vaa_star"][:5].mean())


def test_lstm_warmup_gradients_are_finite():
  cell = LSTM(4)
  params = cell.init(jax.random.key(0), 1)
  g = jax.grad(lambda p: warmup_loss(cell, max_iterations=5)(p, sample(jax.random.key(1)), jax.random.key(2))[0])(params)
  assert all(np.all(np.isfinite(x)) for x in jax.tree_util.tree_leaves(g))


def test_vmapped_seeds_equal_one_at_a_time():
  cell = GRU(5)
  keys = jax.random.split(jax.random.key(0), 3)
  params = jax.vmap(lambda k: cell.init(k, 1))(keys)
  f = lambda p, k: warm_up(cell, p, sample, k, steps=4, max_iterations=10)
  batched = jax.jit(jax.vmap(f))(params, keys)
  for i in range(3):
    one = jax.jit(f)(jax.tree_util.tree_map(lambda x: x[i], params), keys[i])
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a[i], b, rtol=2e-5, atol=1e-6), batched, one)


def test_init_warmup_in_a_training_run():
  cfg = Config(cell="gru", init="warmup", task="copy", seeds=2, hidden=8, layers=2, double=True, seq_len=10,
               batch=4, steps=2, log_every=2, eval_batch=8, warmup_steps=3, analysis_steps=50, analysis_samples=8)
  trainer = make_train(cfg)
  keys = jax.random.split(jax.random.key(0), 2)
  states, info = jax.jit(jax.vmap(trainer.init))(keys)
  assert info["vaa_star"].shape == (2, 3, 2)
  raw = jax.vmap(trainer.initial_params)(keys)
  second = lambda p: p["cell"]["layers"][1]["second"]
  jax.tree_util.tree_map(np.testing.assert_array_equal, second(states.params), second(raw))
  m = jax.jit(jax.vmap(trainer.analyse))(states.params, states.analysis_key)
  assert set(m) == {"vaa", "stable_equilibria", "unstable", "not_converged"} and m["vaa"].shape == (2,)
  with pytest.raises(ValueError, match="--vaa_target"):
    dataclasses.replace(cfg, vaa_target=1.5)


@pytest.mark.parametrize("cell", [GRU(hidden_size=5), LSTM(hidden_size=4)], ids=["gru", "lstm"])
def test_autonomous_iteration_gradients_equal_the_unrolled_loop(cell):
  """The while-loop iteration with its reverse-walk VJP equals differentiating a plain Python loop, for
  lengths shared by the vmapped seeds and drawn per seed (0 included)."""
  from rnnstab.analysis.multistability import flat_state
  from rnnstab.cells.combinators import project, recur
  from rnnstab.objectives.warmup import _iterate
  u = jax.random.normal(jax.random.key(2), (3,))
  state = jax.tree_util.tree_map(lambda x: jax.random.normal(jax.random.key(1), x.shape),
                                 cell.initial_state(cell.init(jax.random.key(0), 3), (4,)))
  params = jax.vmap(lambda k: cell.init(k, 3))(jax.random.split(jax.random.key(5), 3))

  def unrolled(p, s, u, n):
    xp = project(cell, p, jnp.broadcast_to(u, (4, 3)))
    for _ in range(n):
      s = recur(cell, p, s, xp)[0]
    return jnp.sum(jnp.sin(flat_state(s)))

  fast = jax.vmap(jax.grad(lambda p, s, u, n: jnp.sum(jnp.sin(flat_state(_iterate(cell, p, s, u, n, 8)))),
                           argnums=(0, 1, 2)), in_axes=(0, None, None, 0))
  for lengths in ([0, 3, 7], [5, 5, 5]):
    got = fast(params, state, u, jnp.asarray(lengths))
    for i, n in enumerate(lengths):
      want = jax.grad(unrolled, argnums=(0, 1, 2))(jax.tree_util.tree_map(lambda x: x[i], params), state, u, n)
      for g, w in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
        np.testing.assert_allclose(g[i], w, rtol=1e-5, atol=1e-6)
