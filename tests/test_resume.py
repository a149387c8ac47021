"""Runs that survive faults: a run killed with SIGKILL mid-training and resumed with ``--resume`` ends with
the numbers of a run that was never interrupted; a finished run extended with ``--steps`` ends with the
numbers of the longer run; checkpoints restore every leaf and layout exactly; the TensorBoard event files
hold every evaluation."""
import dataclasses
import json
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from rnnstab import results
from rnnstab.checkpoints import Checkpointer
from rnnstab.config import Config
from rnnstab.experiment import resume, run
from rnnstab.train import make_train

STRICT_PROMOTION = False
RUN = Path(__file__).resolve().parents[1] / "experiments" / "run.py"
# Long enough (2000 steps, a checkpoint every 500) that the kill lands mid-training, small enough for seconds.
ARGS = ["--cell=gru", "--hidden=8", "--layers=1", "--seq_len=8", "--batch=8", "--eval_batch=16", "--seeds=2",
        "--steps=2000", "--log_every=100", "--checkpoint_every=500", "--analysis_every=0"]


def _launch(out, name, *extra):
  env = {**os.environ, "PYTHONUNBUFFERED": "1"}
  return subprocess.Popen([sys.executable, str(RUN), *ARGS, f"--out={out}", f"--name={name}", *extra],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def _rows(run_dir):
  return [{k: v for k, v in r.items() if k != "wall_s"} for r in results.read_metrics(run_dir / "metrics.jsonl")]


def _finals(run_dir):
  summary = json.loads((run_dir / "summary.json").read_text())
  return summary, [s["final"] for s in summary["seeds"]]


def test_a_run_killed_mid_training_resumes_to_the_same_numbers(tmp_path):
  reference = _launch(tmp_path, "reference")  # runs alongside the one that gets killed
  killed = _launch(tmp_path, "killed")
  ckpts = tmp_path / "killed" / "checkpoints"
  deadline = time.time() + 300
  while not (ckpts / "500").is_dir():  # orbax renames a checkpoint into place once it is complete
    assert killed.poll() is None and time.time() < deadline, killed.stdout.read()
    time.sleep(0.01)
  killed.send_signal(signal.SIGKILL)
  killed.wait()
  assert not (tmp_path / "killed" / "summary.json").exists(), "the run finished before it was killed"
  assert reference.wait(timeout=300) == 0, reference.stdout.read()

  done = subprocess.run([sys.executable, str(RUN), f"--resume={tmp_path / 'killed'}"], capture_output=True,
                        text=True, timeout=300)
  assert done.returncode == 0, done.stderr
  assert "resumed at step" in done.stdout
  ref, ref_finals = _finals(tmp_path / "reference")
  got, got_finals = _finals(tmp_path / "killed")
  assert got_finals == ref_finals  # exactly: training is a pure function of the checkpointed state
  assert got["completed_steps"] == 2000 and got["resumed_at"] and got["resumed_at"][0] >= 500
  # Rows the killed run wrote after its checkpoint were replaced, not duplicated.
  assert _rows(tmp_path / "killed") == _rows(tmp_path / "reference")

  again = subprocess.run([sys.executable, str(RUN), f"--resume={tmp_path / 'killed'}"], capture_output=True,
                         text=True, timeout=300)
  assert again.returncode == 0 and "nothing to resume" in again.stdout


# A decaying learning rate: a resumed or extended run must also pick up the schedule where it stopped.
CFG = Config(cell="gru", task="copy", seeds=2, hidden=6, layers=1, seq_len=5, batch=4, steps=6, log_every=2,
             eval_batch=8, analysis_every=0, checkpoint_every=2, lr_half_life=3)


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
  """CFG run once, uninterrupted: the reference of the in-process resume and the TensorBoard check."""
  out = tmp_path_factory.mktemp("whole")
  return out / "whole", run(CFG, out=str(out), name="whole", log=lambda line: None)


def test_checkpoints_restore_every_leaf_including_keys_and_optimiser_state(tmp_path):
  trainer = make_train(CFG)
  keys = jax.random.split(jax.random.key(3), 2)
  states, _ = jax.vmap(trainer.init)(keys)
  states, _ = jax.vmap(lambda s: trainer.run(s, 3))(states)
  ckpt = Checkpointer(tmp_path / "ck")
  ckpt.save(3, states, {"done": 3})
  like = jax.eval_shape(jax.vmap(lambda k: trainer.init(k)[0]), keys)
  back, meta = ckpt.restore(like)
  assert meta == {"done": 3} and ckpt.latest_step() == 3
  assert jax.tree_util.tree_structure(back) == jax.tree_util.tree_structure(states)
  raw = lambda x: jax.random.key_data(x) if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key) else x
  for a, b in zip(jax.tree_util.tree_leaves(states), jax.tree_util.tree_leaves(back)):
    assert a.dtype == b.dtype
    np.testing.assert_array_equal(np.asarray(raw(a)), np.asarray(raw(b)))


def test_resume_in_process_of_an_interrupted_run(tmp_path, whole):
  """A run stopped by KeyboardInterrupt (summary says interrupted) continues to the full step count."""
  def stop_at_4(line):
    if line.startswith("[step      4/"):
      raise KeyboardInterrupt

  with pytest.raises(KeyboardInterrupt):
    run(CFG, out=str(tmp_path), name="cut", log=stop_at_4)
  summary = resume(tmp_path / "cut", log=lambda line: None)
  assert summary["completed_steps"] == 6 and not summary["interrupted"] and summary["resumed_at"] == [4]
  assert [s["final"] for s in summary["seeds"]] == [s["final"] for s in whole[1]["seeds"]]


def _evaluations(run_dir, steps):
  """Every seed's test metrics at ``steps``, from metrics.jsonl (a chunk's mean training loss depends on
  where the chunk started, so it is left out)."""
  return {(r["step"], r["seed"]): {k: v for k, v in r.items() if k.startswith("eval_")}
          for r in results.read_metrics(run_dir / "metrics.jsonl") if r["step"] in steps}


def test_a_finished_run_extended_ends_with_the_numbers_of_the_longer_run(tmp_path, whole):
  # 3 steps end inside the longer run's chunk 2-4: the extension first trains 1 step to get back in step.
  run(dataclasses.replace(CFG, steps=3), out=str(tmp_path), name="short", log=lambda line: None)
  summary = resume(tmp_path / "short", steps=6, log=lambda line: None)
  assert summary["completed_steps"] == 6 and summary["resumed_at"] == [3] and summary["extended_from"] == [3]
  assert [s["final"] for s in summary["seeds"]] == [s["final"] for s in whole[1]["seeds"]]
  assert _evaluations(tmp_path / "short", (2, 4, 6)) == _evaluations(whole[0], (2, 4, 6))
  saved = json.loads((tmp_path / "short" / "config.json").read_text())
  assert saved["steps"] == 6 and saved["extended_from"] == [3]
  lines = []
  assert resume(tmp_path / "short", steps=6, log=lines.append)["completed_steps"] == 6
  assert lines == [f"[rnnstab] {tmp_path / 'short'} has finished all 6 steps; nothing to resume"]


def test_an_extension_needs_more_steps_and_checkpoints(tmp_path, whole):
  with pytest.raises(ValueError, match=r"^--steps: .* was configured for 6 steps; with --resume, --steps can only "
                                       r"extend a run \(a total of at least 6\), got 4$"):
    resume(whole[0], steps=4)
  assert json.loads((whole[0] / "config.json").read_text())["steps"] == 6
  run(dataclasses.replace(CFG, steps=2, checkpoint_every=0), out=str(tmp_path), name="bare", log=lambda line: None)
  with pytest.raises(ValueError, match="kept no checkpoints .checkpoint_every=0., so it cannot be extended"):
    resume(tmp_path / "bare", steps=4)
  # A run whose every seed diverged has nothing to extend: checked, then returned as it is.
  diverged = _fake_run(tmp_path, "diverged", CFG, {"completed_steps": 2, "all_diverged": True, "interrupted": False})
  with pytest.raises(ValueError, match="can only extend a run"):
    resume(diverged, steps=4)
  lines = []
  assert resume(diverged, steps=12, log=lines.append)["all_diverged"]
  assert "nothing to extend" in lines[0] and json.loads((diverged / "config.json").read_text())["steps"] == 6


def test_the_cli_extends_a_run_and_rejects_other_flags(tmp_path, whole):
  bad = subprocess.run([sys.executable, str(RUN), f"--resume={whole[0]}", "--steps=2"], capture_output=True,
                       text=True, timeout=300)
  assert bad.returncode == 2
  assert bad.stderr.strip().splitlines()[-1].startswith("run.py: error: --steps: ")
  other = subprocess.run([sys.executable, str(RUN), f"--resume={whole[0]}", "--steps=8", "--hidden=3"],
                         capture_output=True, text=True, timeout=300)
  assert other.returncode == 2
  assert other.stderr.strip().splitlines()[-1] == (
      "run.py: error: --resume: a resumed run keeps its own config.json (only --steps, to extend it, may be "
      "given); drop --hidden")


def _events(path):
  """(tag, step, value) of every scalar in a TensorBoard event file, checking the TFRecord framing."""
  from tensorboardX.proto import event_pb2
  data, out, i = Path(path).read_bytes(), [], 0
  while i < len(data):
    (n,) = struct.unpack("<Q", data[i:i + 8])
    event = event_pb2.Event.FromString(data[i + 12:i + 12 + n])
    i += 12 + n + 4
    for v in event.summary.value:
      out.append((v.tag, event.step, v.simple_value))
  return out


def test_tensorboard_events_hold_every_seed_and_the_mean(whole):
  run_dir, summary = whole
  board = run_dir / "tensorboard"
  assert sorted(p.name for p in board.iterdir()) == ["mean", "seed_00", "seed_01"]
  seed1 = [e for f in (board / "seed_01").iterdir() for e in _events(f)]
  mse = {step: v for tag, step, v in seed1 if tag == "eval_mse"}
  assert sorted(mse) == [0, 2, 4, 6]
  assert mse[6] == pytest.approx(summary["seeds"][1]["final"]["eval_mse"], rel=1e-6)
  mean = [e for f in (board / "mean").iterdir() for e in _events(f)]
  assert {(tag, step) for tag, step, _ in mean} >= {("eval_mse", 6), ("healthy_seeds", 6), ("train_loss", 2)}


def _fake_run(out, name, config, summary=None, checkpoints=True):
  run_dir = out / name
  (run_dir / "checkpoints").mkdir(parents=True)
  if not checkpoints:
    (run_dir / "checkpoints").rmdir()
  results.write_json(run_dir / "config.json", dataclasses.asdict(config))
  if summary is not None:
    results.write_json(run_dir / "summary.json", summary)
  return run_dir


def test_study_scripts_find_the_run_to_reuse_or_continue(tmp_path):
  """results.finished_summary / run_to_continue: which run directory a study script reuses or continues."""
  want = dataclasses.replace(CFG, steps=10, log_every=5)
  done = lambda n, **kw: {"completed_steps": n, "interrupted": False, **kw}
  _fake_run(tmp_path, "other", dataclasses.replace(want, hidden=7), done(10))
  _fake_run(tmp_path, "bare", dataclasses.replace(want, steps=6), done(6), checkpoints=False)
  assert results.finished_summary(tmp_path, want) is None and results.run_to_continue(tmp_path, want) is None
  _fake_run(tmp_path, "short", dataclasses.replace(want, steps=4), done(4))
  longer = _fake_run(tmp_path, "longer", dataclasses.replace(want, steps=8, log_every=2), done(8))
  assert results.run_to_continue(tmp_path, want) == longer  # the one furthest along; evaluation pace aside
  # An extension to 10 that was killed: its config says 10, its summary is still the 8-step one's.
  killed = _fake_run(tmp_path, "killed", dataclasses.replace(want, log_every=2), done(8))
  assert results.finished_summary(tmp_path, want, ignore=results.PACING) is None
  assert results.run_to_continue(tmp_path, want) == killed
  _fake_run(tmp_path, "finished", want, done(10, marker=1))
  assert results.finished_summary(tmp_path, want)["marker"] == 1
  assert results.finished_summary(tmp_path, dataclasses.replace(want, log_every=2)) is None
  assert results.finished_summary(tmp_path, dataclasses.replace(want, log_every=2), ignore=results.PACING)
