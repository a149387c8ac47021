"""Training: vmap == per-seed loop == lax.map, determinism, divergence isolation, and learning."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnnstab.config import Config
from rnnstab.experiment import seed_parallel_mode
from rnnstab.optimizers import make_optimizer
from rnnstab.train import REASONS, make_train, over_seeds

STRICT_PROMOTION = False  # optax is not strict-clean; the cells and tasks are tested strict

CFG = Config(cell="gru", task="copy", seeds=3, hidden=8, layers=1, seq_len=6, batch=4, steps=6, log_every=3, eval_batch=16)


@pytest.fixture(scope="module")
def trainer():
  return make_train(CFG)


@pytest.fixture(scope="module")
def keys():
  return jax.random.split(jax.random.key(CFG.seed), CFG.seeds)


@pytest.fixture(scope="module")
def vmapped(trainer, keys):
  return jax.jit(jax.vmap(trainer))(keys)


def close(a, b, tol=1e-5):
  jax.tree_util.tree_map(lambda x, y: np.testing.assert_allclose(x, y, rtol=tol, atol=tol), a, b)


def test_vmap_equals_per_seed_loop(trainer, keys, vmapped):
  state, hist = vmapped
  one = jax.jit(trainer)
  for i in range(CFG.seeds):
    s_i, h_i = one(keys[i])
    close(jax.tree_util.tree_map(lambda x: x[i], hist), h_i)
    close(jax.tree_util.tree_map(lambda x: x[i], state.params), s_i.params)
  assert hist["eval_mse"].shape == (CFG.seeds, 2)


@pytest.mark.parametrize("mode", ["map", "vmap", 3])
def test_seed_parallel_modes_agree(trainer, keys, vmapped, mode):
  state, hist = jax.jit(over_seeds(trainer, mode, CFG.seeds))(keys)
  close(hist, vmapped[1])
  close(state.params, vmapped[0].params)


def test_same_seed_same_numbers(trainer, keys, vmapped):
  state, hist = jax.jit(jax.vmap(trainer))(keys)
  jax.tree_util.tree_map(np.testing.assert_array_equal, hist, vmapped[1])
  jax.tree_util.tree_map(np.testing.assert_array_equal, state.params, vmapped[0].params)
  other = jax.jit(jax.vmap(trainer))(jax.random.split(jax.random.key(1), CFG.seeds))
  assert not np.allclose(other[1]["eval_mse"], hist["eval_mse"])


def test_nan_in_one_seed_is_recorded_and_isolated(trainer, keys):
  init = jax.jit(jax.vmap(lambda k: trainer.init(k)[0]))
  chunk = jax.jit(jax.vmap(trainer.chunk, in_axes=(0, None)))
  states = init(keys)
  poisoned = states._replace(params=jax.tree_util.tree_map(
      lambda p: p.at[1].set(jnp.nan) if p.ndim > 1 else p, states.params))
  clean_after, clean_m = chunk(states, jnp.int32(3))
  bad_after, bad_m = chunk(poisoned, jnp.int32(3))
  np.testing.assert_array_equal(np.asarray(bad_after.diverged_at), [-1, 0, -1])
  assert REASONS[int(bad_after.reason[1])] == "non-finite loss"
  for i in (0, 2):  # the healthy seeds' numbers are bit-identical to a run without the poisoned seed
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_array_equal(a[i], b[i]), bad_after.params, clean_after.params)
    np.testing.assert_array_equal(bad_m["eval_mse"][i], clean_m["eval_mse"][i])
  assert np.isnan(bad_m["train_loss"][1])


def test_auto_seed_parallel_on_cpu():
  assert seed_parallel_mode(CFG, "gpu") == "vmap"
  assert seed_parallel_mode(dataclasses.replace(CFG, seeds=8, seed_parallel="4"), "cpu") == 4
  with pytest.raises(ValueError, match="group size 4 must divide --seeds=3"):
    dataclasses.replace(CFG, seed_parallel="4")
  big = dataclasses.replace(CFG, seeds=16, hidden=256, seq_len=300, batch=32)
  assert seed_parallel_mode(big, "cpu") == "map"
  small = dataclasses.replace(CFG, seeds=16)
  assert seed_parallel_mode(small, "cpu", cores=2) == 2  # one seed per core
  assert seed_parallel_mode(small, "cpu", cores=1) == "map"
  assert seed_parallel_mode(small, "cpu", cores=64) == "vmap"  # a group of all seeds is plain vmap
  assert seed_parallel_mode(small, "cpu", cores=2, devices=2) == "map"  # one device per core: 8 seeds each
  assert seed_parallel_mode(small, "cpu", cores=64, devices=2) == "vmap"
  assert seed_parallel_mode(dataclasses.replace(small, seeds=1), "cpu", cores=2) == "map"
  assert seed_parallel_mode(small, "cpu", cores=64, devices=16) == "map"  # one seed per device
  with pytest.raises(ValueError, match="must divide --seeds=3"):
    over_seeds(lambda s: s, 2, 3)


@pytest.mark.parametrize("cell", ["brc", "lstm", "plrnn"])
def test_a_short_run_learns(cell):
  """Copy-first-input at T = 5 is easy: 150 Adam steps must bring the MSE well below chance (1)."""
  cfg = Config(cell=cell, task="copy", seeds=2, hidden=16, layers=1, seq_len=5, batch=32, steps=150, log_every=150,
               lr=1e-2, eval_batch=256)
  _, hist = jax.jit(jax.vmap(make_train(cfg)))(jax.random.split(jax.random.key(0), 2))
  assert np.all(hist["eval_mse"][:, -1] < 0.3), hist["eval_mse"]


@pytest.mark.parametrize("task", ["recall:delay=3", "dyck1:generalise=3"])
def test_tiny_runs_of_tasks_with_options(task):
  """A few steps of recall and dyck1 from their ``name:key=value`` specs: finite metrics, and dyck1's
  evaluation on sequences ``generalise`` times longer than the training ones."""
  cfg = Config(cell="gru", task=task, seeds=2, hidden=4, layers=1, seq_len=6, batch=4, steps=4, log_every=2,
               eval_batch=8, analysis_every=0)
  trainer = make_train(cfg)
  keys = jax.random.split(jax.random.key(0), 2)
  state, hist = jax.jit(jax.vmap(trainer))(keys)
  metric = f"eval_{trainer.task.metric}"
  assert all(np.all(np.isfinite(v)) for v in hist.values()) and hist[metric].shape == (2, 2)
  if task.startswith("dyck1"):
    assert trainer.task.sample_eval(keys[0], 2).inputs.shape[0] == 18
    # evaluate() scores exactly the 18-step sequences of sample_eval.
    one = jax.tree_util.tree_map(lambda x: x[0], state)

    @jax.jit
    def at_eval_length(one):
      batch = trainer.task.draw(jax.random.fold_in(one.eval_key, one.step), cfg.eval_batch, 18)
      preds = trainer.model.apply(one.params, batch.inputs)
      return jnp.mean(trainer.task.metrics(preds, batch.targets, batch.mask)["step_accuracy"])

    np.testing.assert_allclose(jax.jit(trainer.evaluate)(one)["step_accuracy"], at_eval_length(one), rtol=1e-6)


def test_last_step_tasks_train_on_the_last_readout_alone(trainer, keys):
  """copy scores only its last step, so the training loss reads out that step alone: the same loss and
  gradients as the masked loss over every step's readout."""
  assert trainer.task.scored == "last"
  state = trainer.init(keys[0])[0]
  batch = trainer.task.sample(keys[1], CFG.batch)

  def every_step(params):
    return jnp.mean(trainer.task.loss(trainer.model.apply(params, batch.inputs), batch.targets, batch.mask))

  close(jax.value_and_grad(trainer.loss)(state.params, batch), jax.value_and_grad(every_step)(state.params))


def test_the_learning_rate_halves_every_half_life():
  sgd = make_optimizer("sgd", 0.1, clip=1e9, lr_half_life=2)
  params, grads = jnp.zeros(()), jnp.ones(())
  state, steps = sgd.init(params), []
  for _ in range(5):
    update, state = sgd.update(grads, state, params)
    steps.append(-float(update))
  np.testing.assert_allclose(steps, 0.1 * 0.5 ** (np.arange(5) / 2), rtol=1e-6)
  constant = make_optimizer("sgd", 0.1)
  assert -float(constant.update(grads, constant.init(params), params)[0]) == pytest.approx(0.1)
