"""Smoke runs of the benchmarks that take sizes on the command line (the real numbers are in README)."""
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def test_plrnn_benchmark_prints_a_row_per_seed_count_and_backend():
  proc = subprocess.run([sys.executable, str(BENCH / "plrnn.py"), "--seeds=1,2", "--backends=scan,remat",
                         "--batch=4", "--hidden=4", "--seq_len=5", "--rounds=1"], capture_output=True, text=True,
                        timeout=600)
  assert proc.returncode == 0, proc.stderr
  rows = [l.split() for l in proc.stdout.splitlines()[2:]]
  assert [(r[0], r[2]) for r in rows] == [("1", "scan"), ("1", "remat"), ("2", "scan"), ("2", "remat")]
  assert all(r[-1].endswith("x") for r in rows)


def test_remat_benchmark_prints_a_row_per_cell_and_size():
  proc = subprocess.run([sys.executable, str(BENCH / "remat.py"), "--cells=plrnn,gru", "--hidden=4", "--batch=2",
                         "--seq_len=5", "--seeds=2", "--steps=1", "--rounds=1"], capture_output=True, text=True,
                        timeout=600)
  assert proc.returncode == 0, proc.stderr
  rows = [l.split() for l in proc.stdout.splitlines()[2:]]
  assert [(r[0], r[1]) for r in rows] == [("plrnn", "4"), ("gru", "4")]
  assert all(float(r[4].rstrip("x")) > 0 for r in rows)
