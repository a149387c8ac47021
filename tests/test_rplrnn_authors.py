"""experiments/rplrnn_authors.py: the authors' per-run results selected and tabulated as docs/rplrnn.md 3d."""
import importlib.util
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.io import savemat

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "rplrnn_authors.py"
_spec = importlib.util.spec_from_file_location("rplrnn_authors", SCRIPT)
authors = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(authors)

FIELDS = ("problem", "network_structure", "T", "d_hidden", "n_epochs", "train_batch_size", "tau_A", "tau_W",
          "per_reg", "initialize_regulated")
NAN = float("nan")


def run(net="PLRNN", T=400, problem="Addition", hidden=40, epochs=200, batch=500, tau=(5.0, 5.0), share=0.5,
        init="AWh", acc=1.0, mse=1e-4):
  return dict(problem=problem, network_structure=net, T=T, d_hidden=hidden, n_epochs=epochs,
              train_batch_size=batch, tau_A=tau[0], tau_W=tau[1], per_reg=share, initialize_regulated=init,
              best_accuracy=acc, lowest_mse=mse)


# (run, the model it belongs to): the paper's selection, one training budget a model.
SELECTION = [
    (run(), "rPLRNN"),
    (run(tau=(0.0, 0.0), share=1.0), "iPLRNN"),
    (run(tau=(0.0, 0.0), share=0.0, init="random"), "PLRNN"),
    (run(tau=(0.0, 0.0), share=0.5), None),  # the half-initialised PLRNN without the penalty: not the paper's
    (run(tau=(1.0, 1.0)), None),  # another tau
    (run(hidden=80), None),
    (run(epochs=100), None),  # another budget
    (run(batch=64), None),
    (run(net="IRNN"), "iRNN"),
    (run(net="IRNN", hidden=20), None),
    (run(net="LSTM", epochs=500), "LSTM"),
    (run(net="LSTM", epochs=200), None),
    (run(net="oRNN", epochs=300), "oRNN"),
    (run(net="oRNN", epochs=3000), None),
    (run(net="oRNN", tau=(0.0, 0.1)), None),
    (run(net="uninitialized"), "RNN"),
    (run(net="npRNN"), None),
]


@pytest.mark.parametrize("r, model", SELECTION)
def test_runs_are_selected_as_the_papers_figure(r, model):
  assert authors.model_of(r) == model


def test_a_cell_keeps_finite_runs_and_counts_every_run():
  runs = [run(acc=1.0, mse=1e-4), run(acc=0.5, mse=0.02), run(acc=NAN, mse=NAN), run(acc=0.0, mse=0.3),
          run(acc=0.9, mse=math.inf), run(T=300), run(net="LSTM", epochs=500, acc=0.08, mse=0.17)]
  by_cell = authors.cells(runs)
  assert by_cell[("Addition", "rPLRNN", 400)] == {"kept": [1.0, 0.5, 0.9], "left": 1, "runs": 5}
  table = authors.table(by_cell, "Addition").splitlines()
  assert table[0] == "| addition: T | RNN | PLRNN | oRNN | LSTM | iRNN | iPLRNN | rPLRNN |"
  assert table[2] == "| 300 |  |  |  |  |  |  | 1.00 (1/1) |"
  spread = np.std([1.0, 0.5, 0.9], ddof=1)
  assert table[3] == f"| 400 |  |  |  | 0.08 (0/1) |  |  | 0.80 +- {spread:.2f} (1/5) |"


def _write(folder, runs):
  """The authors' two files as MATLAB struct arrays, as their analysis code saved them."""
  configs = np.array([tuple(r[k] for k in FIELDS) for r in runs], dtype=[(k, "O") for k in FIELDS])
  results = np.array([(r["best_accuracy"], r["lowest_mse"]) for r in runs],
                     dtype=[("max_per_corr", "O"), ("min_MSE", "O")])
  savemat(folder / "benchmark_configs.mat", {"configs": configs})
  savemat(folder / "benchmark_results.mat", {"results": results})


def test_the_command_reads_the_mat_files_and_prints_the_tables(tmp_path):
  _write(tmp_path, [run(), run(acc=NAN, mse=NAN), run(net="IRNN", T=200, acc=1.0, mse=1e-3),
                    run(problem="MNIST", acc=0.95, mse=0.2), run(problem="MNIST", acc=0.97, mse=0.1)])
  assert len(authors.load(tmp_path)) == 5
  proc = subprocess.run([sys.executable, str(SCRIPT), f"--dir={tmp_path}", "--problems=Addition,MNIST"],
                        capture_output=True, text=True, timeout=120)
  assert proc.returncode == 0, proc.stderr
  lines = proc.stdout.splitlines()
  assert "| 200 |  |  |  |  | 1.00 (1/1) |  |  |" in lines
  assert "| 400 |  |  |  |  |  |  | 1.00 (1/2) |" in lines
  assert "| best test accuracy |  |  |  |  |  |  | 0.960 +- 0.014 (2 runs) |" in lines
  assert not any(l.startswith("| multiplication") for l in lines)


def test_one_run_in_the_files_is_still_a_table(tmp_path):
  _write(tmp_path, [run()])  # loadmat squeezes a struct array of one into a lone struct
  assert [r["best_accuracy"] for r in authors.load(tmp_path)] == [1.0]


@pytest.mark.parametrize("args, message", [
    ([], "--dir: required (the folder of the authors' benchmark_results.mat and benchmark_configs.mat, "
         "machine_learning_benchmarks/benchmark_analysis in their repository)"),
    (["--dir={tmp}"], "--dir: {tmp} has no benchmark_results.mat or benchmark_configs.mat (clone "
                      "DurstewitzLab/reg-PLRNN; they are in machine_learning_benchmarks/benchmark_analysis)"),
    (["--dir={tmp}", "--problems=Addition,Copying"],
     "--problems: unknown problem 'Copying'; valid choices: Addition, Multiplication, MNIST"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
  if "Copying" in " ".join(args):
    _write(tmp_path, [run()])
  args = [a.format(tmp=tmp_path) for a in args]
  proc = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120)
  assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
      "rplrnn_authors.py: error: " + message.format(tmp=tmp_path)], proc.stderr
