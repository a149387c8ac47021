"""experiment.run in-process: an interrupted run keeps its results; summaries exclude diverged seeds."""
import json

import pytest

from rnnstab import results
from rnnstab.config import Config
from rnnstab.experiment import default_run_name, init_mode, run

STRICT_PROMOTION = False
CFG = Config(cell="brc", task="copy", seeds=2, hidden=8, layers=1, seq_len=6, batch=4, steps=6, log_every=2,
             eval_batch=8)


def test_interrupted_run_keeps_what_was_computed(tmp_path):
  def log(line):
    if line.startswith("[step      4/"):
      raise KeyboardInterrupt

  with pytest.raises(KeyboardInterrupt):
    run(CFG, out=str(tmp_path), name="cut", log=log)
  d = tmp_path / "cut"
  summary = json.loads((d / "summary.json").read_text())
  assert summary["interrupted"] and summary["completed_steps"] == 4
  assert summary["final"]["eval_mse"]["n"] == 2
  assert [s["diverged_at"] for s in summary["seeds"]] == [-1, -1]
  assert summary["cost"]["forward"]["macs"] > 0 and summary["cost"]["parameters"] > 0  # rnnstab.cost
  steps = sorted({r["step"] for r in results.read_metrics(d / "metrics.jsonl")})
  assert steps == [0, 2, 4]
  assert (d / "learning_curve.png").exists()


def test_a_run_whose_every_seed_diverged_stops_and_says_so(tmp_path):
  lines = []
  summary = run(Config(cell="relu", init="identity", task="copy", seeds=2, hidden=8, layers=1, seq_len=6, batch=4,
                       steps=8, log_every=2, eval_batch=8, lr=1e30), out=str(tmp_path), name="boom",
                log=lines.append)
  assert summary["all_diverged"] and summary["healthy_seeds"] == 0 and summary["completed_steps"] < 8
  assert all(s["status"].startswith("diverged at step") for s in summary["seeds"])
  assert any("every seed has diverged; stopping after" in l for l in lines)
  assert summary["final"]["eval_mse"]["n"] == 0


def test_mean_std_counts_only_healthy_seeds():
  agg = results.mean_std([1.0, 3.0, None, 100.0], [True, True, True, False])
  assert agg == {"mean": 2.0, "std": pytest.approx(1.41421356), "n": 2}
  assert results.mean_std([float("nan")], [True]) == {"mean": None, "std": None, "n": 0}


def test_run_dirs_never_collide(tmp_path):
  a = results.new_run_dir(tmp_path, None, "x")
  b = results.new_run_dir(tmp_path, None, "x")
  assert a.name == "x" and b.name == "x-2"
  with pytest.raises(results.RunDirExists, match="--name: run directory .* already exists"):
    results.new_run_dir(tmp_path, "x", "unused")


def test_default_run_names_spell_options_without_colons():
  config = Config(task="recall:delay=10", seq_len=20, cell="gru", layers=2)
  assert default_run_name(config).startswith("recall-delay-10-T20-grux2-default-")
  assert results.name_part("smnist:pixels=standardised") == "smnist-pixels-standardised"


@pytest.mark.slow
def test_the_default_experiment_learns(tmp_path):
  """README's claim: the default run takes every seed from chance (MSE 1) to far below it (about a minute)."""
  summary = run(Config(seeds=2), out=str(tmp_path), name="default", log=lambda line: None)
  assert summary["healthy_seeds"] == 2
  assert all(s["final"]["eval_mse"] < 0.1 for s in summary["seeds"]), summary["seeds"]


def test_pretraining_that_stops_per_seed_maps_its_seeds():
  # Vmapped, an early-stopping while_loop runs every seed as long as the slowest one.
  assert init_mode(Config(init="lsc"), "vmap") == "map"
  assert init_mode(Config(init="warmup"), "map") == "vmap"
  assert init_mode(Config(init="lsc", seed_parallel="vmap"), "vmap") == "vmap"
