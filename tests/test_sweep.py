"""experiments/sweep.py: a grid of tiny runs, aggregated; a rerun skips finished points, resumes killed ones and
keeps aside those it cannot resume."""
import csv
import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "sweep.py"
TINY = ["--set=seeds=2", "--set=steps=4", "--set=hidden=4", "--set=seq_len=5", "--set=log_every=2",
        "--set=analysis_every=0", "--set=eval_batch=8"]


def sweep(args, cwd):
  return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=cwd, capture_output=True, text=True, timeout=600)


def test_sweep_runs_every_point_and_resumes(tmp_path):
  out = tmp_path / "sw"
  args = ["--axis=cell=tanh,relu"] + TINY + [f"--out={out}"]
  proc = sweep(args, tmp_path)
  assert proc.returncode == 0, proc.stderr
  rows = list(csv.DictReader((out / "sweep.csv").open()))
  assert [(r["point"], r["cell"], r["healthy"]) for r in rows] == [("cell-tanh", "tanh", "2/2"), ("cell-relu", "relu", "2/2")]
  assert (out / "sweep.md").read_text().count("\n") == 4 and (out / "sweep.png").stat().st_size > 1000
  # A point killed before its summary was written resumes from its checkpoint; the finished one is skipped.
  (out / "cell-relu" / "summary.json").unlink()
  proc = sweep(args, tmp_path)
  assert proc.returncode == 0, proc.stderr
  assert "1/2 cell-tanh: finished before, skipped" in proc.stdout
  assert "2/2 cell-relu: resumed from its checkpoint" in proc.stdout and (out / "cell-relu" / "summary.json").exists()
  # One that cannot be resumed (it ran another configuration) is kept aside and reruns.
  (out / "cell-relu" / "summary.json").unlink()
  config = json.loads((out / "cell-relu" / "config.json").read_text())
  (out / "cell-relu" / "config.json").write_text(json.dumps({**config, "lr": 0.5}))
  proc = sweep(["--axis=cell=relu"] + TINY + [f"--out={out}"], tmp_path)
  assert proc.returncode == 0, proc.stderr
  assert "[sweep] 1/1 cell-relu\n" in proc.stdout
  assert (out / "cell-relu.incomplete-1" / "metrics.jsonl").exists() and (out / "cell-relu" / "summary.json").exists()


def test_bad_grid_is_one_line_and_exit_2(tmp_path):
  for args, message in ((["--axis=cells=gru"], "--cells: not a setting of a run; valid choices: cell, "),
                        (["--axis=cell=gru,foo"], "--cell: unknown cell 'foo'; valid choices: alif, alif_lsc, brc"),
                        (["--axis=hidden=8,x"], "--hidden: expected an integer, got 'x'"),
                        (["--axis=cell=gru", "--set=cell=lstm"], "--axis: cell is given twice")):
    proc = sweep(args + [f"--out={tmp_path / 'x'}"], tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith(f"sweep.py: error: {message}"), proc.stderr
    assert not (tmp_path / "x").exists()
