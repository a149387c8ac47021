"""Smoke versions of experiments/memory_zoo.py's reports (the real ones are in docs/memory.md)."""
import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "memory_zoo.py"


def report(args, cwd, code=0):
  proc = subprocess.run([sys.executable, str(SCRIPT), *args], cwd=cwd, capture_output=True, text=True, timeout=600)
  assert proc.returncode == code, proc.stderr
  return proc


def test_table_and_capacity_reports(tmp_path):
  args = ["--study=table", "--cells=ncgru", "--inits=default", "--benchmarks=dyck1", "--seeds=2", "--hidden=4",
          "--steps=2", f"--out={tmp_path}"]
  out = report(args, tmp_path).stdout
  row = {l for l in out.splitlines() if l.startswith("| ncgru")}  # printed as it comes, then in the table
  assert len(row) == 1 and next(iter(row)).split("|")[4].strip().endswith("/2)")  # score (seeds solved out of 2)
  # Run again (as after a stop): the finished run and the measured MC are reused, not redone.
  runs = sorted(p.name for p in tmp_path.iterdir() if p.is_dir())
  again = report(args, tmp_path).stdout
  assert {l for l in again.splitlines() if l.startswith("| ncgru")} == row
  assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == runs
  assert "dyck1:generalise=10, T = 20: accuracy (seeds >= 0.9)" in out
  # Reservoir-mode rows beside the trained ones; the trained run is reused.
  out = report(args + ["--trains=all,readout"], tmp_path).stdout
  trained, readout = [l.split("|") for l in out.splitlines()[-2:]]
  assert trained[3].strip() == "all" and readout[3].strip() == "readout"
  assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == len(runs) + 1
  out = report(["--study=capacity", "--cells=esn", "--sizes=4", "--delays=1", "--seeds=2", "--steps=2",
                f"--out={tmp_path}"], tmp_path).stdout
  row = [l for l in out.splitlines() if l.startswith("| esn")][0].split("|")
  mc = float(row[3].split("+-")[0])
  assert 0 < mc <= 4.0 and (tmp_path / "capacity.png").stat().st_size > 0
  # The ESN's reservoir is fixed: its warmup row is left out with the reason, the default row is measured.
  out = report(["--study=mc", "--cells=tanh,esn", "--inits=default,warmup", "--seeds=1", "--hidden=4",
                f"--out={tmp_path}"], tmp_path).stdout
  assert 0 < float([l for l in out.splitlines() if l.startswith("| tanh | default")][0].split("|")[3].split("+-")[0]) <= 4.0
  assert {l.split("|")[2].strip() for l in out.splitlines() if l.startswith("| esn")} == {"default"}
  assert out.rstrip().endswith("- esn + warmup: --init=warmup: the ESN's reservoir is fixed, so pre-training cannot "
                               "change it; use --init=default")
  # One cache of measured MCs per --out, keyed by cell, init, size and seeds: every report's entries kept.
  assert set(json.loads((tmp_path / "capacity_at_init.json").read_text())) == {
      "ncgru|default|4|2", "esn|default|4|2", "tanh|default|4|1", "tanh|warmup|4|1", "esn|default|4|1"}


def test_bad_flags_are_one_line(tmp_path):
  proc = report(["--study=table", "--trains=rnn"], tmp_path, code=2)
  assert proc.stderr.strip().endswith("--trains: expected a comma-separated list of all, readout; got 'rnn'")
  proc = report(["--study=table", "--cells=gru,foo"], tmp_path, code=2)
  assert proc.stderr.strip().splitlines()[-1].startswith("memory_zoo.py: error: --cells: unknown cell 'foo'; valid "
                                                         "choices: alif")
  proc = report(["--study=capacity", "--delays=4,2"], tmp_path, code=2)
  assert proc.stderr.strip().splitlines()[-1] == ("memory_zoo.py: error: --delays: expected increasing positive "
                                                  "integers, got '4,2'")
