"""Smoke version of experiments/rplrnn_paper.py (its results so far: docs/rplrnn.md)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "rplrnn_paper.py"


def test_sweep_prints_one_row_per_model_and_length(tmp_path):
  proc = subprocess.run([sys.executable, str(SCRIPT), "--configs=rplrnn,ornn", "--lengths=8", "--seeds=2",
                         "--hidden=6", "--batch=4", "--steps=4", "--progress_every=2", "--lr_half_life=3",
                         "--log_every=1", f"--out={tmp_path}"],
                        cwd=tmp_path, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr
  table = proc.stdout.split("\n\n")[0].splitlines()  # the progress tables follow, after a blank line
  rows = [l.split("|")[1:3] for l in table if l.startswith("| ") and not l.startswith("| model")]
  assert [(m.strip(), t.strip()) for m, t in rows] == [("rplrnn", "8"), ("ornn", "8")]
  best = [l.split("|")[4] for l in proc.stdout.splitlines() if l.startswith("| rplrnn")][0]
  assert 0 <= float(best.split("+-")[0]) <= 1
  runs = [json.loads((d / "config.json").read_text()) for d in tmp_path.glob("adding-*")]
  assert sorted((r["cell"], r["backend"]) for r in runs) == [("plrnn", "remat"), ("relu", "scan")]
  assert [r["log_every"] for r in runs] == [1, 1]
  assert [r["lr_half_life"] for r in runs] == [3, 3] and "Adam 1e-3 halving every 3 steps," in proc.stdout
  progress = [l for l in proc.stdout.splitlines() if "over training" in l or l.startswith("final (best)")]
  assert [l.split(", over")[0] for l in progress[0::2]] == ["rplrnn, T = 8", "ornn, T = 8"], proc.stdout
  assert all(l.startswith("final (best) accuracy of each seed: ") and l.count("(") == 3 for l in progress[1::2])
  steps = [l.split("|")[1].strip() for l in proc.stdout.splitlines() if l.startswith("| 2 |") or l.startswith("| 4 |")]
  assert steps == ["2", "4", "2", "4"], proc.stdout


@pytest.mark.parametrize("flag, message", [
    ("--backend=cuda", "--backend: unknown backend 'cuda'; valid choices: auto, scan, remat, pallas, wavefront"),
    ("--configs=gru", "--configs: unknown model 'gru'; valid choices: rplrnn, plrnn, iplrnn, iplrnn_half, irnn, irnn_uniform, relu, lstm, ornn"),
    ("--progress_every=-1", "--progress_every: must be 0 (off) or a number of steps, got -1"),
    ("--log_every=-2", "--log_every: must be 0 (a tenth of --steps) or a number of steps, got -2"),
    ("--task=addition", "flag --task=addition: value should be one of <adding|multiplication|smnist>"),
    ("--pixels=centred", "--pixels: only for --task=smnist, got --task=adding"),
    ("--lr_half_life=-1", "--lr_half_life: must be a non-negative integer (0: off), got -1"),
])
def test_bad_flags_are_usage_errors(tmp_path, flag, message):
  proc = subprocess.run([sys.executable, str(SCRIPT), flag], cwd=tmp_path, capture_output=True, text=True,
                        timeout=120)
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines()[-1] == f"rplrnn_paper.py: error: {message}"


def test_a_table_with_more_steps_extends_the_runs_it_has(tmp_path):
  """The full budget in stages: --steps=8 continues the --steps=4 run, to the numbers of a fresh 8-step run."""
  def table(out, steps):
    proc = subprocess.run([sys.executable, str(SCRIPT), "--configs=iplrnn", "--lengths=8", "--seeds=2",
                           "--hidden=6", "--batch=4", f"--steps={steps}", f"--out={out}"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return [l.split("|")[1:-2] for l in proc.stdout.splitlines() if l.startswith("| iplrnn")]  # no train time

  table(tmp_path / "staged", 4)
  staged = table(tmp_path / "staged", 8)
  (run_dir,) = (tmp_path / "staged").glob("adding-*")
  saved = json.loads((run_dir / "config.json").read_text())
  assert saved["steps"] == 8 and saved["extended_from"] == [4]
  assert (saved["cell"], saved["init"], saved["reg"]) == ("plrnn", "identity", "none")  # the paper's iPLRNN
  assert staged == table(tmp_path / "fresh", 8)


def test_progress_table_counts_seeds_over_training():
  """Left chance, passed 0.9 and diverged are counted per step and so far; a diverged seed stops counting."""
  from rnnstab.results import progress_table
  ok = lambda seed, step, acc, mse: {"seed": seed, "step": step, "status": "ok", "eval_accuracy": acc, "eval_mse": mse}
  rows = [ok(0, 0, 0.1, 0.2), ok(1, 0, 0.1, 0.2), ok(2, 0, 0.1, 0.2),
          ok(0, 5, 0.95, 0.001), ok(1, 5, 0.3, 0.02), ok(2, 5, 0.5, 0.005),
          ok(0, 10, 0.4, 0.02), ok(1, 10, 0.2, 0.009),
          {"seed": 2, "step": 10, "status": "diverged at step 7 (non-finite loss)", "eval_accuracy": 0.0,
           "eval_mse": None},
          {"seed": 0, "step": 0, "phase": "before_pretrain", "status": "ok", "eval_accuracy": 1.0, "eval_mse": 0.0}]
  lines = progress_table("m, T = 8", rows, 3, 5, chance_mse=1 / 6)
  assert lines[0] == "m, T = 8, over training (chance MSE 0.167)"
  assert lines[1] == ("| step | mean accuracy | seeds >= 0.9 so far | seeds below MSE 0.01 | below MSE 0.01 so far "
                      "| diverged so far |")
  assert lines[3:5] == ["| 5 | 0.58 | 1 | 2 | 2 | 0 |", "| 10 | 0.30 | 1 | 1 | 3 | 1 |"]
  assert lines[5] == "final (best) accuracy of each seed: 0.40 (0.95), 0.20 (0.30), diverged"
  assert progress_table("m", rows[:8], 3, 10, chance_mse=None)[1:4] == [
      "| step | mean accuracy | seeds >= 0.9 so far |", "|---|---|---|", "| 10 | 0.30 | 1 |"]
  # A run that stopped between multiples (every seed diverged, or a shorter budget) ends with its last row.
  assert progress_table("m", rows[:8], 3, 4, chance_mse=None)[3:] == [
      "| 10 | 0.30 | 1 |", "final (best) accuracy of each seed: 0.40 (0.95), 0.20 (0.30), 0.50 (0.50)"]


def test_huge_means_print_in_scientific_notation():
  from rnnstab.results import format_mean_std
  assert format_mean_std({"mean": 0.1234, "std": 0.01, "n": 3}) == "0.123 +- 0.010"
  assert format_mean_std({"mean": 1.5428e30, "std": 6.17e30, "n": 16}) == "1.54e+30 +- 6.17e+30"
  assert format_mean_std({"mean": None, "std": None, "n": 0}) == "diverged"
