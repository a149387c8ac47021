"""Smoke runs of the benchmarks that take sizes on the command line (the real numbers are in README)."""
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def test_plrnn_benchmark_prints_a_row_per_seed_count():
  proc = subprocess.run([sys.executable, str(BENCH / "plrnn.py"), "--seeds=1,2", "--batch=4", "--hidden=4",
                         "--seq_len=5", "--rounds=1"], capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr
  rows = [l.split() for l in proc.stdout.splitlines()[2:]]
  assert [r[0] for r in rows] == ["1", "2"] and all(r[-1].endswith("x") for r in rows)
