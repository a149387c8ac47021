"""Task generators: shapes, the statistics each paper defines, vmappability and determinism."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnnstab.config import Config
from rnnstab.tasks import (TASKS, NARMA10, Adding, CopyFirstInput, Denoising, Dyck1, Multiplication, Recall, SymbolCopy,
                           TemporalOrder, make_task)
from rnnstab.tasks.dyck import never_closed_probability


# The chorales are parsed from music21's scores (minutes for the whole corpus): tests/test_chorales.py
# checks the same properties on a few of them.
@pytest.mark.parametrize("name", [n for n in TASKS.names() if n != "chorales"])
def test_shapes_determinism_and_vmap(name):
  T = 784 if name.endswith("mnist") else 40  # MNIST is one pixel per step
  task = TASKS[name](seq_len=T)
  b = jax.jit(task.sample, static_argnums=1)(jax.random.key(0), 8)
  assert b.inputs.shape == (T, 8, task.input_size)
  assert b.targets.shape == (T, 8, task.output_size) and b.mask.shape == (T, 8)
  assert b.inputs.dtype == jnp.float32
  again = task.sample(jax.random.key(0), 8)
  np.testing.assert_array_equal(b.inputs, again.inputs)
  many = jax.vmap(lambda k: task.sample(k, 8))(jax.random.split(jax.random.key(0), 3))
  assert many.inputs.shape == (3, T, 8, task.input_size)
  assert not np.array_equal(many.inputs[0], many.inputs[1])
  if task.metric == "mse":  # predicting the targets exactly scores zero loss (MNIST's CE: tests/test_mnist.py)
    assert np.allclose(task.loss(b.targets, b.targets, b.mask), 0.0)
  assert task.scored in ("all", "last")
  if task.scored == "last":  # training scores the last step alone: the same loss as over every step
    np.testing.assert_array_equal(b.mask[:-1], 0.0)
    preds = jax.random.normal(jax.random.key(1), b.targets.shape)
    np.testing.assert_allclose(task.loss(preds[-1:], b.targets[-1:], b.mask[-1:]),
                               task.loss(preds, b.targets, b.mask), rtol=1e-6)


def test_copy_first_input():
  b = CopyFirstInput(seq_len=30).sample(jax.random.key(1), 20000)
  np.testing.assert_array_equal(b.targets[-1], b.inputs[0])
  np.testing.assert_array_equal(b.mask[:-1], 0.0)
  np.testing.assert_array_equal(b.mask[-1], 1.0)
  assert abs(float(jnp.var(b.inputs)) - 1.0) < 0.02
  # The best constant prediction (0) has MSE 1: chance.
  chance = CopyFirstInput(seq_len=30).loss(jnp.zeros_like(b.targets), b.targets, b.mask).mean()
  assert abs(float(chance) - 1.0) < 0.03


def test_denoising_marks_and_targets():
  task = Denoising(seq_len=50)
  b = task.sample(jax.random.key(2), 500)
  x, flag = np.asarray(b.inputs[..., 0]), np.asarray(b.inputs[..., 1])
  assert np.all((flag == 1).sum(0) == 5)
  assert np.all(flag[45] == -1) and np.all(flag[46:] == 0)
  assert np.all(b.mask[45:] == 1) and np.all(b.mask[:45] == 0)
  for i in range(20):
    marked = np.nonzero(flag[:, i] == 1)[0]
    assert marked.max() < 45
    np.testing.assert_array_equal(b.targets[45:, i, 0], x[marked, i])  # in time order
  forbidden = Denoising(seq_len=50, forbidden=20).sample(jax.random.key(3), 500)
  assert np.all(np.nonzero(np.asarray(forbidden.inputs[..., 1]) == 1)[0] < 25)
  with pytest.raises(ValueError, match="seq_len"):
    Denoising(seq_len=9)


@pytest.mark.parametrize("cls,combine,chance", [(Adding, np.add, 1 / 6), (Multiplication, np.multiply, 7 / 144)])
def test_marked_pair_problems(cls, combine, chance):
  T = 100
  task = cls(seq_len=T)
  b = task.sample(jax.random.key(4), 20000)
  u, m = np.asarray(b.inputs[..., 0]), np.asarray(b.inputs[..., 1])
  assert np.all(m.sum(0) == 2)
  first = np.argmax(m, axis=0)
  second = T - 1 - np.argmax(m[::-1], axis=0)
  assert first.min() == 0 and second.max() == T // 2 - 1
  # One marker always lies in the first 10 steps; the other anywhere in the first half.
  assert np.all(first < 10) and np.all(second < T // 2)
  np.testing.assert_allclose(b.targets[-1, :, 0], combine(u[first, np.arange(20000)], u[second, np.arange(20000)]),
                             rtol=1e-6)
  assert 0 <= u.min() and u.max() < 1
  mean_pred = jnp.full_like(b.targets, float(b.targets[-1].mean()))
  mse = float(task.metrics(mean_pred, b.targets, b.mask)["mse"].mean())
  assert abs(mse - chance) / chance < 0.05 and abs(task.chance_mse - chance) < 1e-12
  acc = task.metrics(b.targets + 0.03, b.targets, b.mask)["accuracy"]
  np.testing.assert_array_equal(acc, 1.0)
  acc = task.metrics(b.targets + 0.05, b.targets, b.mask)["accuracy"]
  np.testing.assert_array_equal(acc, 0.0)


def test_seq_len_validation():
  with pytest.raises(ValueError, match="seq_len must be an integer >= 2"):
    CopyFirstInput(seq_len=1)


def test_narma10_follows_its_recurrence():
  from rnnstab.tasks.narma import WASHOUT
  task = NARMA10(seq_len=60)
  b = task.sample(jax.random.key(3), 5)
  full = np.asarray(jax.random.uniform(jax.random.key(3), (WASHOUT + 60, 4 * 5), minval=0.0, maxval=0.5), np.float64)
  u = full.reshape(WASHOUT + 60, 4, 5)[:, 0]     # the first of the candidate draws (all stable here)
  y = np.zeros((WASHOUT + 61, 5))
  for t in range(9, WASHOUT + 60):
    y[t + 1] = 0.3 * y[t] + 0.05 * y[t] * y[t - 9:t + 1].sum(0) + 1.5 * u[t - 9] * u[t] + 0.1
  np.testing.assert_allclose(b.inputs[..., 0], u[WASHOUT:], rtol=1e-6)
  np.testing.assert_allclose(b.targets[..., 0], y[WASHOUT + 1:], rtol=1e-5)   # step t outputs y(t + 1)
  assert np.all(b.mask[:10] == 0) and np.all(b.mask[10:] == 1)
  mean = jnp.broadcast_to(jnp.mean(b.targets[10:], axis=0), b.targets.shape)
  np.testing.assert_allclose(task.metrics(mean, b.targets, b.mask)["nrmse"], 1.0, rtol=1e-4)
  assert np.allclose(task.metrics(b.targets, b.targets, b.mask)["nrmse"], 0.0)
  # The system's rare divergences are redrawn: long sequences stay finite and bounded.
  long = NARMA10(seq_len=1000).sample(jax.random.key(1), 2000).targets
  assert np.all(np.isfinite(long)) and float(long.max()) <= 2.0


def test_symbol_copy_repeats_the_ten_symbols_after_the_delimiter():
  task = SymbolCopy(seq_len=35)   # a blank delay of 15
  b = task.sample(jax.random.key(0), 64)
  tokens, answer = np.argmax(b.inputs, -1), np.argmax(b.targets, -1)
  np.testing.assert_array_equal(answer[-10:], tokens[:10])
  assert np.all((tokens[:10] >= 1) & (tokens[:10] <= 8)) and np.all(tokens[24] == 9)
  assert np.all(np.delete(tokens, list(range(10)) + [24], axis=0) == 0) and np.all(answer[:-10] == 0)
  # Blanks known, the 10 symbols guessed uniformly: the memoryless baseline, and chance accuracy.
  logits = jnp.where(jnp.arange(9) == 0, 0.0, -1e9) * jnp.ones_like(b.targets)
  logits = logits.at[-10:].set(jnp.where(jnp.arange(9) == 0, -1e9, 0.0))
  m = task.metrics(logits, b.targets, b.mask)
  np.testing.assert_allclose(m["ce"], task.memoryless_ce, rtol=1e-5)
  assert np.allclose(task.metrics(b.targets * 10, b.targets, b.mask)["accuracy"], 1.0)


def test_temporal_order_labels_the_order_of_x_and_y():
  task = TemporalOrder(seq_len=100)
  b = task.sample(jax.random.key(0), 2000)
  tokens, label = np.argmax(b.inputs, -1), np.argmax(b.targets[-1], -1)
  assert np.all(tokens[0] == 0) and np.all(tokens[-1] == 1)
  relevant = [np.nonzero(tokens[:, i] >= 6)[0] for i in range(2000)]
  assert all(len(r) == 2 and 10 <= r[0] <= 20 and 50 <= r[1] <= 60 for r in relevant)
  order = np.array([2 * (tokens[r[0], i] - 6) + (tokens[r[1], i] - 6) for i, r in enumerate(relevant)])
  np.testing.assert_array_equal(order, label)
  assert np.all(np.abs(np.bincount(label, minlength=4) / 2000 - 0.25) < 0.04)


def test_recall_targets_are_the_inputs_k_steps_back():
  task = Recall(seq_len=30, delay=4)
  b = task.sample(jax.random.key(0), 2000)
  np.testing.assert_array_equal(b.targets[4:], b.inputs[:-4])
  np.testing.assert_array_equal(b.mask[:4], 0.0)
  np.testing.assert_array_equal(b.mask[4:], 1.0)
  assert float(b.inputs.min()) >= -1 and float(b.inputs.max()) <= 1
  assert task.metric == "r2" and task.chance == 0.0
  np.testing.assert_allclose(task.metrics(b.targets, b.targets, b.mask)["r2"], 1.0)
  zero = task.metrics(jnp.zeros_like(b.targets), b.targets, b.mask)["r2"]   # the mean: chance
  assert abs(float(zero.mean())) < 0.02
  with pytest.raises(ValueError, match="delay of recall must be an integer >= 1"):
    Recall(seq_len=30, delay=0)
  with pytest.raises(ValueError, match="--seq_len > 30"):
    Recall(seq_len=30, delay=30)


def _depths(tokens):
  """Depth after each token, counted in plain Python: tokens (T,) of 0 '(' and 1 ')'."""
  depth, out = 0, []
  for t in tokens:
    depth += 1 if t == 0 else -1
    out.append(depth)
  return np.array(out)


def test_dyck1_prefixes_and_next_token_sets():
  task = Dyck1(seq_len=40, generalise=3)
  b = task.sample(jax.random.key(0), 64)
  tokens = np.argmax(np.asarray(b.inputs), -1)
  for i in range(64):
    depth = _depths(tokens[:, i])
    assert depth.min() >= 0
    np.testing.assert_array_equal(b.targets[:, i, 0], 1.0)           # '(' is always allowed
    np.testing.assert_array_equal(b.targets[:, i, 1], depth > 0)      # ')' iff the count is above 0
  assert np.all(b.mask == 1)
  long = task.sample_eval(jax.random.key(1), 4)
  assert long.inputs.shape == (120, 4, 2) and long.targets.shape == (120, 4, 2)
  perfect = 20.0 * (2 * b.targets - 1)
  m = task.metrics(perfect, b.targets, b.mask)
  np.testing.assert_array_equal(m["accuracy"], 1.0)
  np.testing.assert_array_equal(m["step_accuracy"], 1.0)
  assert float(task.loss(perfect, b.targets, b.mask).max()) < 1e-6
  # One wrong step makes its sequence wrong, and costs that sequence 1/40 of its step accuracy.
  m = task.metrics(perfect.at[7, 0, 1].multiply(-1), b.targets, b.mask)
  assert float(m["accuracy"][0]) == 0 and float(m["accuracy"][1]) == 1
  np.testing.assert_allclose(m["step_accuracy"][0], 39 / 40)
  # Chance: always predicting ")" allowed is right exactly on the prefixes that never return to depth 0.
  draws = task.sample_eval(jax.random.key(2), 2000)
  always = task.metrics(jnp.ones_like(draws.targets), draws.targets, draws.mask)["accuracy"]
  assert abs(float(always.mean()) - task.chance) < 0.02
  np.testing.assert_allclose(never_closed_probability(10, 0.5), 126 / 512)  # C(9, 4) paths of 9 steps stay up


def test_task_options():
  assert make_task("recall:delay=3", 20).delay == 3
  task = make_task("dyck1:generalise=2,p=0.25", 20)
  assert (task.generalise, task.p) == (2, 0.25) and isinstance(task.p, float) and task.eval_len == 40
  assert make_task("copy", 20) == CopyFirstInput(seq_len=20)
  for spec, message in (
      ("recal", "--task: unknown task 'recal'; valid choices: adding, chorales, copy, denoising, dyck1, "),
      ("recall:dela=3", "--task: recall has no option 'dela'; valid options: delay"),
      ("recall:delay=x", "--task: option delay of recall must be an integer, got 'x'"),
      ("dyck1:p=half", "--task: option p of dyck1 must be a number, got 'half'"),
      ("copy:delay=3", "--task: copy has no option 'delay'; copy takes no options"),
      ("recall:delay", "--task: option delay of recall needs a value"),
      ("recall:delay=0", "--task: option delay of recall must be an integer >= 1, got 0")):
    with pytest.raises(ValueError) as e:
      make_task(spec, 20)
    assert str(e.value).startswith(message) and "\n" not in str(e.value)
  with pytest.raises(ValueError, match="--task: recall has no option 'dela'"):
    Config(task="recall:dela=3")
  with pytest.raises(ValueError, match="--seq_len: recall with delay=60 needs --seq_len > 60"):
    Config(task="recall:delay=60")
  assert Config(task="dyck1:generalise=3").task == "dyck1:generalise=3"
