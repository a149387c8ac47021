"""Smoke version of experiments/rplrnn_paper.py (its results so far: docs/rplrnn.md)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "rplrnn_paper.py"


def test_sweep_prints_one_row_per_model_and_length(tmp_path):
  proc = subprocess.run([sys.executable, str(SCRIPT), "--configs=rplrnn,ornn", "--lengths=8", "--seeds=2",
                         "--hidden=6", "--batch=4", "--steps=4", f"--out={tmp_path}"],
                        cwd=tmp_path, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr
  rows = [l.split("|")[1:3] for l in proc.stdout.splitlines() if l.startswith("| ") and not l.startswith("| model")]
  assert [(m.strip(), t.strip()) for m, t in rows] == [("rplrnn", "8"), ("ornn", "8")]
  best = [l.split("|")[4] for l in proc.stdout.splitlines() if l.startswith("| rplrnn")][0]
  assert 0 <= float(best.split("+-")[0]) <= 1
  runs = [json.loads((d / "config.json").read_text()) for d in tmp_path.glob("adding-*")]
  assert sorted((r["cell"], r["backend"]) for r in runs) == [("plrnn", "remat"), ("relu", "scan")]


@pytest.mark.parametrize("flag, message", [
    ("--backend=cuda", "--backend: unknown backend 'cuda'; valid choices: auto, scan, remat, pallas, wavefront"),
    ("--configs=gru", "--configs: unknown model 'gru'; valid choices: rplrnn, plrnn, iplrnn, irnn, relu, lstm, ornn"),
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
  assert staged == table(tmp_path / "fresh", 8)
