"""Smoke versions of experiments/warmup_paper.py's studies (the real ones are in docs/warmup.md)."""
import subprocess
import sys
from pathlib import Path


SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "warmup_paper.py"


def study(args, cwd):
  proc = subprocess.run([sys.executable, str(SCRIPT), *args], cwd=cwd, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr
  return proc.stdout


def test_equilibria_study_tabulates_every_cell(tmp_path):
  out = study(["--study=equilibria", "--seeds=2", "--hidden=4", "--layers=1"], tmp_path)
  rows = [l for l in out.splitlines() if l.startswith("| ") and "cell" not in l]
  assert [r.split("|")[1].strip() for r in rows] == ["tanh", "gru", "lstm", "brc", "nbrc"]


def test_learning_study_tabulates_each_configuration(tmp_path):
  out = study(["--study=learning", "--task=denoising", "--seeds=2", "--hidden=4", "--layers=1", "--seq_len=12", "--steps=4",
               "--analysis_steps=200", "--configs=gru,gru+double+warmup", f"--out={tmp_path}"], tmp_path)
  table = out.split("| configuration |")[1].splitlines()
  assert [l.split("|")[1].strip() for l in table[2:]] == ["gru", "gru+double+warmup"]
  assert len(list(tmp_path.iterdir())) == 2  # one run directory per configuration


def test_bad_configuration_is_a_usage_error(tmp_path):
  proc = subprocess.run([sys.executable, str(SCRIPT), "--study=learning", "--configs=gru+nope"], cwd=tmp_path,
                        capture_output=True, text=True, timeout=120)
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines() == [
      "warmup_paper.py: error: --configs: bad configuration 'gru+nope'; write cell[+double][+warmup|+chrono] "
      "with cell one of alif, alif_lsc, brc, esn, gatel0rd, gru, lru, lstm, mgu, nbrc, ncgru, plrnn, relu, srgru, stpn, tanh"]
