"""Smoke runs of experiments/dsr.py and dsr_table.py (the studies' results: docs/rplrnn.md)."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rnnstab.dsr.teacher_forcing import DSRConfig

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "dsr.py"
TABLE = SCRIPT.with_name("dsr_table.py")


def run(args, cwd):
  return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=cwd, capture_output=True, text=True, timeout=600)


def test_reconstruction_run_writes_scores_and_plots(tmp_path):
  proc = run(["--method=gtf", "--alpha=adaptive", "--mar_tau=1", "--seeds=2", "--steps=20", "--samples=1000",
              "--noise=0.05", "--tf_noise=0.05", "--lr_schedule=multistep",
              "--window=40", "--hidden=6", f"--out={tmp_path}", "--name=r"], tmp_path)
  assert proc.returncode == 0, proc.stderr
  summary = json.loads((tmp_path / "r" / "summary.json").read_text())
  assert [r["seed"] for r in summary["seeds"]] == [0, 1] and 0.5 < summary["true_lyapunov"] < 1.3
  assert all((tmp_path / "r" / f).stat().st_size > 1000 for f in ("attractor.png", "spectra.png", "losses.png"))
  params, gen = np.load(tmp_path / "r" / "params.npz"), np.load(tmp_path / "r" / "generated.npz")
  assert params["W"].shape == (2, 6, 6) and params["losses"].shape == (2, 20)
  assert gen["generated"].shape[0] == 2 and gen["generated"].shape[2] == gen["test"].shape[1] == 3
  assert "lambda_max" in proc.stdout
  # dsr_table.py tabulates the finished run and skips one still training (no summary.json yet).
  (tmp_path / "training").mkdir()
  (tmp_path / "training" / "config.json").write_text("{}")
  table = subprocess.run([sys.executable, str(TABLE), f"--runs={tmp_path}/*", "--dh_max=2", "--gmm_max=1e9"],
                         capture_output=True, text=True, timeout=120)
  assert table.returncode == 0, table.stderr
  rows = [l for l in table.stdout.splitlines() if l.startswith("| lorenz63")]
  assert len(rows) == 1 and "| gtf | 1 | yes | 0.5 | 2/2 |" in rows[0] and rows[0].endswith("| r |")
  assert "skipping" in table.stderr and "training" in table.stderr
  bad = subprocess.run([sys.executable, str(TABLE), f"--runs={tmp_path / 'training'}"], capture_output=True,
                       text=True, timeout=120)
  assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
      f"dsr_table.py: error: --runs: {tmp_path / 'training'} is not a finished dsr.py run (no config.json and "
      "summary.json)"]


def test_bad_input_is_one_line_and_exit_2(tmp_path):
  proc = run(["--system=henon", f"--out={tmp_path}"], tmp_path)
  assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
      "dsr.py: error: --system: unknown system 'henon'; valid choices: bursting_neuron, lorenz63"], proc.stderr
  assert not any(tmp_path.iterdir())


def test_bad_choice_flags_are_one_line_and_exit_2(tmp_path):
  for flag, message in (("--init=awh", "--init: unknown PLRNN init 'awh'; valid choices: talathi_vartak, default"),
                        ("--lr_schedule=cosine",
                         "--lr_schedule: unknown schedule 'cosine'; valid choices: exponential, multistep")):
    proc = run([flag, f"--out={tmp_path}"], tmp_path)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [f"dsr.py: error: {message}"], proc.stderr


def test_bad_settings_name_the_flag():
  for kwargs, message in ((dict(method="tbptt"), "--method: unknown teacher forcing 'tbptt'; valid choices: stf, gtf"),
                          (dict(alpha=1.5), "--alpha: must be a number in [0, 1] or 'adaptive', got 1.5"),
                          (dict(window=0), "--window: must be a positive integer, got 0"),
                          (dict(lr_schedule="cosine"),
                           "--lr_schedule: unknown schedule 'cosine'; valid choices: exponential, multistep"),
                          (dict(init="awh"), "--init: unknown PLRNN init 'awh'; valid choices: talathi_vartak, default"),
                          (dict(tf_noise=-1.0), "--tf_noise: must be >= 0, got -1.0"),
                          (dict(latent_clip=-1.0), "--latent_clip: must be >= 0 (0: off), got -1.0"),
                          (dict(mar_tau=-1.0), "--mar_tau: must be >= 0 (0: off), got -1.0"),
                          (dict(mar_fraction=0.0), "--mar_fraction: must be in (0, 1], got 0.0")):
    with pytest.raises(ValueError) as e:
      DSRConfig(**kwargs)
    assert str(e.value) == message
