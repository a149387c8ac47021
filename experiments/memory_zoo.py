"""The memory-cell zoo on the memory benchmarks, printed as Markdown tables (results: docs/memory.md).

    python experiments/memory_zoo.py --study=table      # cells x benchmarks, each cell's default init vs warmup vs LSC
    python experiments/memory_zoo.py --study=capacity   # memory capacity MC and recall limit k* against hidden size
    python experiments/memory_zoo.py --study=mc --cells=all --inits=default   # MC of every cell, no training

The table trains every cell+init of --cells x --inits on every task of --benchmarks (one run directory each
under --out, with ``experiments/run.py``'s machinery) and prints each final test metric as mean +- std over
the seeds that did not diverge in training, with how many of the --seeds seeds passed the solved threshold
(``rnnstab.results.SOLVED``) and how many diverged, if any. Its MC column is
Jaeger's memory capacity of the cell as initialised (after the warmup / LSC pre-training for those rows),
untrained, at input size 1. The capacity study measures, for each cell and hidden size of --sizes, MC at the
default init and k*: the largest delay of --delays whose recall task a seed learns (test r2 >= 0.9), and
plots both against the hidden size (capacity.png under --out).
"""
from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np
from absl import app, flags

from rnnstab import experiment, results
from rnnstab.analysis import memory_capacity
from rnnstab.cells import CELLS
from rnnstab.config import Config, flags_parser
from rnnstab.inits import INITS
from rnnstab.train import make_train

# Each benchmark's task and length: sizes whose training fits a few minutes per 16 seeds on 2 cores.
BENCHMARKS = {
    "recall": ("recall:delay=10", 40),       # reproduce the input 10 steps back (r2)
    "dyck1": ("dyck1:generalise=10", 20),    # train on 20 brackets, tested on 200 (sequence accuracy)
    "narma10": ("narma10", 100),             # NRMSE
    "temporal_order": ("temporal_order", 50),
    "symbol_copy": ("symbol_copy", 40),      # 10 symbols after a 20-step delay
}

flags.DEFINE_enum("study", "table", ["table", "capacity", "mc"], "which report")
flags.DEFINE_string("cells", "tanh,gru,lstm,nbrc,lru,esn,stpn,srgru,ncgru,gatel0rd", "cells to compare ('all': every registered cell)")
flags.DEFINE_string("inits", "default,warmup,lsc", "inits of the table (default: each cell's documented init)")
flags.DEFINE_string("trains", "all", "what training changes, per table row: all (every parameter) and/or readout "
                    "(reservoir mode: the ridge readout of the network as initialised)")
flags.DEFINE_string("benchmarks", ",".join(BENCHMARKS), f"tasks of the table ({', '.join(BENCHMARKS)})")
flags.DEFINE_integer("seeds", 16, "seeds per configuration")
flags.DEFINE_integer("hidden", 32, "units of the table's networks (one layer)")
flags.DEFINE_integer("steps", 1000, "training steps per run")
flags.DEFINE_float("lr", 3e-3, "Adam learning rate")
flags.DEFINE_string("sizes", "8,16,32,64", "hidden sizes of the capacity study")
flags.DEFINE_string("delays", "1,2,4,8,16,32", "recall delays k of the capacity study, increasing")
flags.DEFINE_string("out", "runs/memory_zoo", "parent directory of the run directories and the plot")
FLAGS = flags.FLAGS


def _names(flag: str, valid, what: str) -> list[str]:
  names = list(valid) if getattr(FLAGS, flag) == "all" else [n for n in getattr(FLAGS, flag).split(",") if n]
  bad = [n for n in names if n not in valid]
  if bad or not names:
    raise ValueError(f"--{flag}: unknown {what} {(bad or [''])[0]!r}; valid choices: {', '.join(sorted(valid))}")
  return names


def _ints(flag: str) -> list[int]:
  try:
    values = [int(v) for v in getattr(FLAGS, flag).split(",")]
  except ValueError:
    raise ValueError(f"--{flag}: expected comma-separated positive integers, got {getattr(FLAGS, flag)!r}") from None
  if not values or min(values) < 1 or values != sorted(values):
    raise ValueError(f"--{flag}: expected increasing positive integers, got {getattr(FLAGS, flag)!r}")
  return values


def _config(cell: str, init: str, task: str, seq_len: int, hidden: int, train: str = "all") -> Config:
  # ALIF needs a smaller LSC learning rate and more steps (docs/lsc.md). STPN's large per-sample state gets
  # power-iteration radii from the default lsc_method, "auto".
  return Config(cell=cell, init=init, task=task, seq_len=seq_len, hidden=hidden, layers=1, seeds=FLAGS.seeds,
                steps=FLAGS.steps if train == "all" else 1, lr=FLAGS.lr, batch=32, train=train, log_every=max(FLAGS.steps // 10, 1), analysis_every=0,
                lsc_lr=3e-3 if cell.startswith("alif") else 1e-2, lsc_steps=1000 if cell.startswith("alif") else 500)


def capacity_at_init(cell: str, init: str, hidden: int) -> np.ndarray:
  """Jaeger's MC of each seed's cell as initialised (pre-trained on NARMA10 inputs for warmup / LSC).
  Kept in --out/capacity_at_init.json, so a report run again (after a stop) does not measure it twice."""
  cache_path = Path(FLAGS.out) / "capacity_at_init.json"
  read = lambda: json.loads(cache_path.read_text()) if cache_path.is_file() else {}
  key = f"{cell}|{init}|{hidden}|{FLAGS.seeds}"
  if key in (cache := read()):
    return np.array(cache[key])
  trainer = make_train(_config(cell, init, "narma10", 100, hidden))
  keys = jax.random.split(jax.random.key(0), FLAGS.seeds)
  params = jax.jit(jax.vmap(lambda k: trainer.init(k)[0].params["cell"]))(keys)
  values = [memory_capacity(trainer.model.cell, jax.tree_util.tree_map(lambda a: a[i], params),
                            jax.random.key(100 + i)) for i in range(FLAGS.seeds)]
  # Read again just before writing: another report writing to the same --out meanwhile keeps its entries.
  cache_path.parent.mkdir(parents=True, exist_ok=True)
  results.write_json(cache_path, {**read(), key: values})
  return np.array(values)


def _mc_text(values: np.ndarray, digits: int) -> str:
  """Mean +- std of the seeds' MCs, over the seeds whose network does not diverge (``memory_capacity`` is
  NaN for those), with how many diverged."""
  finite = values[np.isfinite(values)]
  text = f"{finite.mean():.{digits}f} +- {finite.std():.{digits}f}" if finite.size else "-"
  return text + (f" ({values.size - finite.size}/{values.size} diverge)" if finite.size < values.size else "")


def _train(config: Config) -> tuple[dict, list[float | None]]:
  summary = results.finished_summary(FLAGS.out, config) or experiment.run(config, out=FLAGS.out, log=lambda s: None)
  return summary, [s["final"][summary["metric"]] for s in summary["seeds"]]


def _score(summary: dict, per_seed: list) -> str:
  """Mean +- std of the final metric over the seeds that trained without diverging, (seeds solved / all),
  and how many diverged (a non-finite loss, gradient or parameter stopped them), when any did."""
  op, bound = results.SOLVED[summary["metric"].removeprefix("eval_")]
  final = summary["final"][summary["metric"]]
  if not final["n"]:
    return f"diverged (0/{len(per_seed)})"
  solved = sum(v is not None and (v < bound if op == "<" else v >= bound) for v in per_seed)
  diverged = len(per_seed) - final["n"]
  return (f"{final['mean']:.3f} +- {final['std']:.3f} ({solved}/{len(per_seed)}"
          + (f"; {diverged} diverged)" if diverged else ")"))


def _pairs(cells: list[str], inits: list[str]) -> tuple[list[tuple[str, str]], list[str]]:
  """The (cell, init) pairs of --cells x --inits that apply, and for the others a note with the reason (a
  pre-training init on the ESN's fixed reservoir, an LSTM-only init on another cell); an error if none
  applies."""
  pairs, notes = [], []
  for cell in cells:
    for init in inits:
      try:
        make_train(_config(cell, init, "narma10", 100, FLAGS.hidden))
      except ValueError as e:
        notes.append(f"{cell} + {init}: {e}")
      else:
        pairs.append((cell, init))
  if not pairs:
    raise ValueError(notes[0].split(": ", 1)[1])
  return pairs, notes


def _print_notes(notes: list[str]) -> None:
  if notes:
    print("\nnot run (the init does not apply to the cell):\n" + "\n".join(f"- {n}" for n in notes))


def table() -> None:
  """Cells x benchmarks: final test metric (seeds solved), and MC at init, for each init of --inits."""
  cells = _names("cells", CELLS.names(), "cell")
  inits = _names("inits", INITS.names(), "init")
  benches = _names("benchmarks", BENCHMARKS, "benchmark")
  trains = [t for t in FLAGS.trains.split(",") if t]  # "all" is a mode here, not every choice
  if not trains or any(t not in ("all", "readout") for t in trains):
    raise ValueError(f"--trains: expected a comma-separated list of all, readout; got {FLAGS.trains!r}")
  pairs, notes = _pairs(cells, inits)
  for cell, init in pairs:  # every configuration checked before any work
    for b in benches:
      for train in trains:
        _config(cell, init, *BENCHMARKS[b], FLAGS.hidden, train)
  header = ["cell", "init"] + (["train"] if len(trains) > 1 else []) + [f"MC at init (N = {FLAGS.hidden})"]
  for b in benches:
    task, T = BENCHMARKS[b]
    metric = make_train(_config(cells[0], "default", task, T, FLAGS.hidden)).task.metric
    op, bound = results.SOLVED[metric]
    header.append(f"{task}, T = {T}: {metric} (seeds {op} {bound:g})")
  rows = []
  for cell, init in pairs:
    mc = capacity_at_init(cell, init, FLAGS.hidden)
    for train in trains:
      row = [cell, init] + ([train] if len(trains) > 1 else []) + [_mc_text(mc, 1)]
      for b in benches:
        summary, per_seed = _train(_config(cell, init, *BENCHMARKS[b], FLAGS.hidden, train))
        row.append(_score(summary, per_seed))
      rows.append("| " + " | ".join(row) + " |")
      print(rows[-1], flush=True)
  print(f"\none layer of {FLAGS.hidden}, Adam {FLAGS.lr:g}, batch 32, {FLAGS.steps} steps, {FLAGS.seeds} seeds; "
        "final test metric mean +- std over the seeds that did not diverge (seeds past the solved threshold; "
        "seeds that diverged in training)"
        + ("; train = readout: the network as initialised, its readout by ridge regression on 8 batches"
           if "readout" in trains else ""))
  print("| " + " | ".join(header) + " |")
  print("|" + "---|" * len(header))
  print("\n".join(rows))
  _print_notes(notes)


def mc() -> None:
  """Jaeger's memory capacity of each cell of --cells under each init of --inits, untrained, at --hidden units."""
  cells = _names("cells", CELLS.names(), "cell")
  inits = _names("inits", INITS.names(), "init")
  pairs, notes = _pairs(cells, inits)
  rows = []
  for cell, init in pairs:
    values = capacity_at_init(cell, init, FLAGS.hidden)
    rows.append(f"| {cell} | {init} | {_mc_text(values, 2)} | {np.nanmin(values):.2f} | {np.nanmax(values):.2f} |")
    print(rows[-1], flush=True)
  print(f"\nJaeger's memory capacity of one layer of N = {FLAGS.hidden} as initialised, input U[-1, 1], ridge readouts "
        f"fitted on 2000 steps and scored on 2000 more, delays 1..{2 * FLAGS.hidden}; {FLAGS.seeds} seeds "
        f"(MC <= N for linear units)")
  print("| cell | init | MC | min | max |")
  print("|---|---|---|---|---|")
  print("\n".join(rows))
  _print_notes(notes)


def k_star(cell: str, hidden: int, delays: list[int]) -> np.ndarray:
  """Per seed, the largest delay k of ``delays`` whose recall task it learns (r2 >= 0.9); 0 if none.
  Longer delays are not tried once no seed learns one."""
  best = np.zeros(FLAGS.seeds, int)
  for k in delays:
    _, per_seed = _train(_config(cell, "default", f"recall:delay={k}", max(2 * k, 20), hidden))
    learnt = np.array([v is not None and v >= results.SOLVED["r2"][1] for v in per_seed])
    best = np.where(learnt, k, best)
    if not learnt.any():
      break
  return best


def capacity() -> None:
  """MC and k* against hidden size, for each cell at its default init."""
  cells = _names("cells", CELLS.names(), "cell")
  sizes, delays = _ints("sizes"), _ints("delays")
  for cell in cells:
    for n in sizes:
      _config(cell, "default", "recall:delay=1", 20, n)
  rows, curves = [], {}
  for cell in cells:
    for n in sizes:
      mc, ks = capacity_at_init(cell, "default", n), k_star(cell, n, delays)
      curves.setdefault(cell, []).append((n, np.nanmean(mc), np.nanstd(mc), ks.mean(), ks.std()))
      rows.append(f"| {cell} | {n} | {_mc_text(mc, 2)} | {ks.mean():.1f} +- {ks.std():.1f} | "
                  f"{int(ks.min())}-{int(ks.max())} |")
      print(rows[-1], flush=True)
  print(f"\nMC: Jaeger's memory capacity at the default init (untrained, ridge readouts, input U[-1, 1]); k*: the "
        f"largest recall delay of {delays} learnt to r2 >= 0.9 (one layer, Adam {FLAGS.lr:g}, {FLAGS.steps} steps, "
        f"T = max(2k, 20)); {FLAGS.seeds} seeds")
  print("| cell | hidden N | MC | k* | k* range over seeds |")
  print("|---|---|---|---|---|")
  print("\n".join(rows))
  path = Path(FLAGS.out) / "capacity.png"
  _plot(curves, path)
  print(f"\nplot: {path}")


def _plot(curves: dict, path: Path) -> None:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
  for cell, points in curves.items():
    n, mc, mc_sd, k, k_sd = map(np.array, zip(*points))
    a.errorbar(n, mc, mc_sd, marker="o", capsize=3, label=cell)
    b.errorbar(n, k, k_sd, marker="o", capsize=3, label=cell)
  every = sorted({p[0] for points in curves.values() for p in points})
  a.plot(every, every, "k--", lw=1, label="MC = N (linear bound)")
  b.plot(every, every, "k--", lw=1, label="k* = N (a delay line's reach)")
  for ax, name in ((a, "memory capacity MC (at init)"), (b, "recall limit k* (trained)")):
    ax.set_xscale("log", base=2)
    ax.set_xlabel("hidden units N")
    ax.set_ylabel(name)
    ax.grid(alpha=0.3)
  a.legend(fontsize=8)
  b.legend(handles=b.get_lines()[-1:], fontsize=8)
  fig.tight_layout()
  path.parent.mkdir(parents=True, exist_ok=True)
  fig.savefig(path, dpi=100)
  plt.close(fig)


def main(argv):
  del argv
  experiment.study_main("memory_zoo.py", {"table": table, "capacity": capacity, "mc": mc}[FLAGS.study])


if __name__ == "__main__":
  app.run(main, flags_parser=flags_parser("memory_zoo.py"))
