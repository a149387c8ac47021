"""The authors' own runs behind the rPLRNN paper's Figure 2, tabulated over T (docs/rplrnn.md section 3d).

    python experiments/rplrnn_authors.py --dir=reg-PLRNN/machine_learning_benchmarks/benchmark_analysis

The authors' repository (github.com/DurstewitzLab/reg-PLRNN) ships ``benchmark_results.mat`` (each run's
best test accuracy and lowest test MSE over its epochs, one evaluation an epoch) and
``benchmark_configs.mat`` (each run's settings). Nothing is downloaded here: clone that repository and
point ``--dir`` at the folder that holds the two files.

Each model is selected as their ``pick_experiments.m`` selects it (rPLRNN: the PLRNN with the AWh init on
half the units and tau 5; iPLRNN: AWh on every unit, no penalty; PLRNN: neither; iRNN and LSTM with 40
units; the oRNN with tau_W 5), within one training budget a model: 500 epochs of batch 500 for the LSTM,
200 for the others, 200 or 300 for the oRNN (its only runs at T = 400 on addition have 300). Their
plotting code drops a run whose best accuracy is NaN or 0 (a run that diverged); a cell is the mean +-
sample standard deviation of the kept runs' best accuracies, and in brackets the runs whose lowest test
MSE fell below 0.01 out of all the runs, dropped ones included.
"""
from __future__ import annotations

import collections
import math
import sys
from pathlib import Path
from typing import Mapping

import numpy as np
from absl import app, flags

from rnnstab.config import flags_parser

MODELS = ("RNN", "PLRNN", "oRNN", "LSTM", "iRNN", "iPLRNN", "rPLRNN")
PROBLEMS = ("Addition", "Multiplication", "MNIST")
FILES = ("benchmark_results.mat", "benchmark_configs.mat")
LEFT_CHANCE_MSE = 0.01  # the threshold of this project's "left chance" (sections 3 and 3b)

flags.DEFINE_string("dir", None, "folder holding the authors' benchmark_results.mat and benchmark_configs.mat")
flags.DEFINE_list("problems", list(PROBLEMS), f"problems to tabulate, from {', '.join(PROBLEMS)}")
FLAGS = flags.FLAGS


def model_of(run: Mapping) -> str | None:
  """The paper's model a run belongs to (Figure 2's selection, one budget a model), or None."""
  net, hidden, epochs = run["network_structure"], run["d_hidden"], run["n_epochs"]
  if run["train_batch_size"] != 500:
    return None
  if net == "uninitialized":
    model = "RNN"
  elif net == "IRNN" and hidden == 40:
    model = "iRNN"
  elif net == "LSTM" and hidden == 40:
    model = "LSTM"
  elif net == "oRNN" and run["tau_W"] == 5:
    model = "oRNN"
  elif net == "PLRNN":
    tau, share, awh = (run["tau_A"], run["tau_W"]), run["per_reg"], run["initialize_regulated"] == "AWh"
    if tau == (0, 0) and share == 0:
      model = "PLRNN"
    elif tau == (0, 0) and share == 1 and awh and hidden == 40:
      model = "iPLRNN"
    elif tau == (5, 5) and share == 0.5 and awh and hidden == 40:
      model = "rPLRNN"
    else:
      return None
  else:
    return None
  budget = {"LSTM": (500,), "oRNN": (200, 300)}.get(model, (200,))
  return model if epochs in budget else None


def cells(runs: list[Mapping]) -> dict[tuple[str, str, int], dict]:
  """Per (problem, model, T): the kept runs' best accuracies, how many runs left chance, how many ran."""
  out = collections.defaultdict(lambda: {"kept": [], "left": 0, "runs": 0})
  for run in runs:
    model = model_of(run)
    if model is None:
      continue
    cell = out[(run["problem"], model, int(run["T"]))]
    cell["runs"] += 1
    acc, mse = run["best_accuracy"], run["lowest_mse"]
    if math.isfinite(acc) and acc > 0:
      cell["kept"].append(acc)
    if math.isfinite(mse) and mse < LEFT_CHANCE_MSE:
      cell["left"] += 1
  return dict(out)


def _cell_text(cell: dict, digits: int, count: str) -> str:
  kept = np.asarray(cell["kept"])
  counted = f"{cell['left']}/{cell['runs']}" if count == "left" else f"{cell['runs']} runs"
  if not kept.size:
    return f"- ({counted})"
  spread = f" +- {kept.std(ddof=1):.{digits}f}" if kept.size > 1 else ""
  return f"{kept.mean():.{digits}f}{spread} ({counted})"


def table(by_cell: dict, problem: str) -> str:
  """The Markdown table of one problem: a row per T, a column per model (MNIST: one row, its runs)."""
  head = "| " + ("sequential MNIST" if problem == "MNIST" else f"{problem.lower()}: T") + " | "
  lines = [head + " | ".join(MODELS) + " |", "|---" * (len(MODELS) + 1) + "|"]
  if problem == "MNIST":  # one length; the accuracy is the classification's, so no MSE counts
    pooled = {m: {"kept": [], "left": 0, "runs": 0} for m in MODELS}
    for (p, m, _), cell in by_cell.items():
      if p == problem:
        pooled[m]["kept"] += cell["kept"]
        pooled[m]["runs"] += cell["runs"]
    row = [_cell_text(pooled[m], 3, "runs") if pooled[m]["runs"] else "" for m in MODELS]
    return "\n".join(lines + ["| best test accuracy | " + " | ".join(row) + " |"])
  for t in sorted({t for (p, _, t) in by_cell if p == problem}):
    row = [_cell_text(by_cell[(problem, m, t)], 2, "left") if (problem, m, t) in by_cell else "" for m in MODELS]
    lines.append(f"| {t} | " + " | ".join(row) + " |")
  return "\n".join(lines)


def _number(value) -> float:
  try:
    return float(value)
  except (TypeError, ValueError):  # an empty MATLAB array: the run recorded nothing
    return float("nan")


def load(folder: Path) -> list[dict]:
  """Every run of the authors' two files: its settings and its best accuracy and lowest MSE."""
  from scipy.io import loadmat  # a dependency of jax

  # squeeze_me turns a file of one run into a lone struct, not an array of one
  results = np.atleast_1d(loadmat(folder / FILES[0], squeeze_me=True, struct_as_record=False)["results"])
  configs = np.atleast_1d(loadmat(folder / FILES[1], squeeze_me=True, struct_as_record=False)["configs"])
  if len(results) != len(configs):
    raise ValueError(f"--dir: {folder} holds {len(results)} results but {len(configs)} configurations")
  runs = []
  for result, config in zip(results, configs):
    run = {k: getattr(config, k) for k in ("problem", "network_structure", "T", "d_hidden", "n_epochs",
                                             "train_batch_size", "tau_A", "tau_W", "per_reg",
                                             "initialize_regulated")}
    run.update(best_accuracy=_number(result.max_per_corr), lowest_mse=_number(result.min_MSE))
    runs.append(run)
  return runs


def main(argv):
  del argv
  try:
    if FLAGS.dir is None:
      raise ValueError("--dir: required (the folder of the authors' benchmark_results.mat and "
                       "benchmark_configs.mat, machine_learning_benchmarks/benchmark_analysis in their repository)")
    folder = Path(FLAGS.dir)
    missing = [f for f in FILES if not (folder / f).is_file()]
    if missing:
      raise ValueError(f"--dir: {folder} has no {' or '.join(missing)} (clone DurstewitzLab/reg-PLRNN; they are "
                       "in machine_learning_benchmarks/benchmark_analysis)")
    bad = [p for p in FLAGS.problems if p not in PROBLEMS]
    if bad:
      raise ValueError(f"--problems: unknown problem {bad[0]!r}; valid choices: {', '.join(PROBLEMS)}")
    by_cell = cells(load(folder))
  except ValueError as e:
    print(f"rplrnn_authors.py: error: {e}", file=sys.stderr)
    sys.exit(2)
  print(__doc__.split("\n\n")[-1].strip().replace("\n", " "))
  for problem in FLAGS.problems:
    print()
    print(table(by_cell, problem))


if __name__ == "__main__":
  app.run(main, flags_parser=flags_parser("rplrnn_authors.py"))
