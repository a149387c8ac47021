"""The Bach chorales: piano rolls against music21's own notes, the fixed split, the cache, and the
next-frame task (windows, the whole test split, NLL per frame) on a few real chorales."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnnstab.data import chorales as data
from rnnstab.tasks import make_task
from rnnstab.tasks import chorales as task_module
from rnnstab.tasks.chorales import frame_nll

pytest.importorskip("music21")  # installed by the test extra ("rnnstab[test]")


@pytest.fixture(scope="module")
def few():
  paths = data.chorale_paths()
  assert len(paths) == 413 and {p.suffix for p in paths} == {".mxl", ".krn", ".xml"}
  return paths[:6]


def test_piano_roll_marks_every_note(few):
  from music21 import corpus
  roll = data.piano_roll(few[0])
  score = corpus.parse(str(few[0]))
  assert roll.shape == (math.ceil(score.highestTime / data.FRAME), 88)
  for note in score.flatten().notes:
    frame = int(float(note.offset) / data.FRAME)
    for pitch in note.pitches:
      assert roll[frame, pitch.midi - data.LOWEST] == 1
  assert 3 <= roll.sum(1).mean() <= 5  # four voices, sometimes doubled or resting


def test_split_is_fixed_and_disjoint():
  names = [f"c{i}" for i in range(100)]
  a, b = data.split_names(names), data.split_names(list(names))
  assert a == b and [len(a[k]) for k in ("train", "valid", "test")] == [60, 20, 20]
  assert not set(a["train"]) & set(a["test"]) and set(a["train"]) | set(a["valid"]) | set(a["test"]) == set(names)


@pytest.fixture
def small_corpus(few, tmp_path, monkeypatch):
  """load_chorales on six real chorales, cached under a temporary RNNSTAB_CACHE."""
  monkeypatch.setenv("RNNSTAB_CACHE", str(tmp_path))
  monkeypatch.setattr(data, "chorale_paths", lambda: few)
  data.load_chorales.cache_clear()
  task_module._arrays.cache_clear()
  yield data.load_chorales()
  data.load_chorales.cache_clear()
  task_module._arrays.cache_clear()


def test_cache_and_task(small_corpus, tmp_path):
  assert len(list(tmp_path.glob("bach-chorales-*.npz"))) == 1
  assert sum(len(v) for v in small_corpus.values()) == 6
  task = make_task("chorales", 16)
  batch = task.sample(jax.random.key(0), 5)
  assert batch.inputs.shape == (16, 5, 88) and batch.targets.shape == (16, 5, 88)
  np.testing.assert_array_equal(batch.inputs[1:] * batch.mask[1:, :, None], batch.targets[:-1] * batch.mask[1:, :, None])
  again = jax.jit(task.sample, static_argnums=1)(jax.random.key(0), 5)  # deterministic, jittable, vmappable
  np.testing.assert_array_equal(batch.inputs, again.inputs)
  many = jax.vmap(lambda k: task.sample(k, 5))(jax.random.split(jax.random.key(0), 3))
  assert many.inputs.shape == (3, 16, 5, 88) and not np.array_equal(many.inputs[0], many.inputs[1])
  test = small_corpus["test"]
  ev = task.sample_eval(jax.random.key(1), 256)
  assert ev.inputs.shape[1] == len(test) and float(ev.mask.sum()) == sum(len(r) - 1 for r in test)
  # The metric's mean over chorales is the NLL per frame of the whole split.
  logits = jax.random.normal(jax.random.key(2), ev.targets.shape)
  per_frame = float(jnp.sum(frame_nll(logits, ev.targets, ev.mask) * ev.mask.sum(0)) / ev.mask.sum())
  assert float(jnp.mean(task.metrics(logits, ev.targets, ev.mask)["nll"])) == pytest.approx(per_frame, rel=1e-5)
  assert 0 < task.chance < 88 * math.log(2)


def test_frame_nll_matches_numpy():
  rng = np.random.default_rng(0)
  logits, targets = rng.normal(size=(3, 2, 88)), (rng.random((3, 2, 88)) < 0.1).astype(float)
  mask = np.array([[1, 1], [1, 0], [0, 0]], float)
  p = 1 / (1 + np.exp(-logits))
  bce = -(targets * np.log(p) + (1 - targets) * np.log(1 - p)).sum(-1)
  expect = (bce * mask).sum(0) / np.maximum(mask.sum(0), 1)
  np.testing.assert_allclose(frame_nll(jnp.asarray(logits), jnp.asarray(targets), jnp.asarray(mask)), expect, rtol=1e-5)
