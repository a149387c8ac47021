"""Smoke runs of the benchmarks that take sizes on the command line (the real numbers are in README)."""
import subprocess
import sys
from pathlib import Path

from rnnstab.kernels import plrnn_cpu

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def test_plrnn_benchmark_prints_a_row_per_seed_count_backend_and_loop():
  """The remat loop timed both as the compiled CPU kernel and in XLA, the kernel's row with their ratio
  (the kernel is built in CI: tests/test_plrnn_cpu_kernel.py)."""
  proc = subprocess.run([sys.executable, str(BENCH / "plrnn.py"), "--seeds=1,2", "--backends=scan,remat",
                         "--batch=4", "--hidden=4", "--seq_len=5", "--rounds=1"], capture_output=True, text=True,
                        timeout=600)
  assert proc.returncode == 0, proc.stderr
  lines = proc.stdout.splitlines()
  if plrnn_cpu.unavailable() is not None:   # no compiler at install: it says so and times the XLA loop
    assert lines[1] == f"the CPU kernel is not timed: {plrnn_cpu.unavailable()}"
    rows = [l.split() for l in lines[3:]]
    assert [(r[0], r[2], r[3]) for r in rows] == [(s, b, "xla") for s in ("1", "2") for b in ("scan", "remat")]
    return
  rows = [l.split() for l in lines[2:]]
  assert [(r[0], r[2], r[3]) for r in rows] == [
      (s, b, l) for s in ("1", "2") for b, l in (("scan", "xla"), ("remat", "kernel"), ("remat", "xla"))]
  assert all(float(r[6].rstrip("x")) > 0 for r in rows)          # vs torch
  assert [len(r) for r in rows] == [7, 8, 7] * 2                  # vs xla on the kernel's rows alone
  assert float(rows[1][7].rstrip("x")) > 0


def test_plrnn_benchmark_rejects_an_unknown_loop():
  proc = subprocess.run([sys.executable, str(BENCH / "plrnn.py"), "--loops=fast"], capture_output=True, text=True,
                        timeout=600)
  assert proc.returncode == 2
  assert "--loops: unknown loop 'fast'; valid choices: kernel, xla" in proc.stderr


def test_remat_benchmark_prints_a_row_per_cell_and_size():
  proc = subprocess.run([sys.executable, str(BENCH / "remat.py"), "--cells=plrnn,gru", "--hidden=4", "--batch=2",
                         "--seq_len=5", "--seeds=2", "--steps=1", "--rounds=1"], capture_output=True, text=True,
                        timeout=600)
  assert proc.returncode == 0, proc.stderr
  rows = [l.split() for l in proc.stdout.splitlines()[2:]]
  assert [(r[0], r[1]) for r in rows] == [("plrnn", "4"), ("gru", "4")]
  assert all(float(r[4].rstrip("x")) > 0 for r in rows)
