"""The warmup paper's RL comparison as one Markdown table (results: docs/rl.md).

    python experiments/rl_table.py --cells=gru,lstm,brc,nbrc --inits=default,warmup --lengths=10 --seeds=16

Trains every cell x init x T-maze length (one run directory each under --out, with ``experiments/rl.py``'s
machinery; a run stops once every seed's greedy policy has been optimal, which fixes every seed's
first-optimal episode) and prints per configuration: the VAA of the recurrent core as initialised (after
warmup for those rows), how many seeds became optimal from both cues within --episodes, and the first
optimal episode over those seeds. Run again with the same --out, it reuses the finished runs.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from absl import app, flags

from rnnstab import experiment, results
from rnnstab.config import flags_parser
from rnnstab.cells import CELLS
from rnnstab.inits import INITS
from rnnstab.rl import AGENTS, ENVS, RLConfig
from rnnstab.rl.experiment import run

flags.DEFINE_string("cells", "gru,lstm,brc,nbrc", "cells to compare")
flags.DEFINE_string("inits", "default,warmup", "inits to compare")
flags.DEFINE_string("lengths", "10", "comma-separated environment lengths (T-maze corridor L)")
flags.DEFINE_string("env", "tmaze", "environment (rnnstab.rl.ENVS)")
flags.DEFINE_enum("agent", "drqn", list(AGENTS), "agent")
flags.DEFINE_integer("seeds", 16, "seeds per configuration")
flags.DEFINE_integer("episodes", 2000, "training episodes per seed at most")
flags.DEFINE_integer("hidden", 32, "units per layer (two layers, as in the paper)")
flags.DEFINE_bool("analysis", True, "measure VAA and stable equilibria of each configuration as initialised")
flags.DEFINE_string("out", "runs/rl_table", "parent directory of the run directories")
FLAGS = flags.FLAGS


def _names(flag: str, valid) -> list[str]:
  names = [n for n in getattr(FLAGS, flag).split(",") if n]
  bad = [n for n in names if n not in valid]
  if bad or not names:
    raise ValueError(f"--{flag}: unknown choice {(bad or [''])[0]!r}; valid choices: {', '.join(sorted(valid))}")
  return names


def _lengths() -> list[int]:
  try:
    values = [int(v) for v in FLAGS.lengths.split(",")]
  except ValueError:
    raise ValueError(f"--lengths: expected comma-separated integers, got {FLAGS.lengths!r}") from None
  return values


def _config(cell: str, init: str, length: int) -> RLConfig:
  return RLConfig(env=FLAGS.env, length=length, agent=FLAGS.agent, cell=cell, init=init, seeds=FLAGS.seeds,
                  hidden=FLAGS.hidden, episodes=FLAGS.episodes,
                  analysis_every=FLAGS.episodes if FLAGS.analysis else 0)


def _at_start(run_dir: Path, metric: str) -> np.ndarray:
  rows = results.read_metrics(run_dir / "metrics.jsonl")
  return np.array([r[metric] for r in rows if r["step"] == 0 and r.get(metric) is not None], np.float64)


def table() -> None:
  cells, inits = _names("cells", CELLS.names()), _names("inits", INITS.names())
  lengths = _lengths()
  configs = [(c, i, L) for L in lengths for c in cells for i in inits]
  for c, i, L in configs:  # every configuration checked before any work
    _config(c, i, L)
  rows = []
  for c, i, L in configs:
    config = _config(c, i, L)
    summary = results.finished_summary(FLAGS.out, config)
    if summary is None:
      summary = run(config, out=FLAGS.out, log=lambda s: None, stop_when_optimal=True)
      if summary.get("interrupted"):
        return
    first = [f for f in summary["first_optimal_episode"] if f is not None]
    vaa = _at_start(Path(summary["run_dir"]), "vaa") if FLAGS.analysis else np.array([])
    eq = _at_start(Path(summary["run_dir"]), "stable_equilibria") if FLAGS.analysis else np.array([])
    cols = [c, i, str(L)]
    if FLAGS.analysis:
      cols += [results.pm(vaa, 2), results.pm(eq, 1)]
    cols += [f"{len(first)}/{config.seeds}",
             f"{np.median(first):.0f}" if first else "-",
             results.pm(first, 0) if first else "-",
             str(summary["completed_episodes"])]
    rows.append("| " + " | ".join(cols) + " |")
    print(rows[-1], flush=True)
  env = ENVS[FLAGS.env]
  print(f"\n{FLAGS.agent} on {FLAGS.env} ({env.__name__}), two layers of {FLAGS.hidden}, {FLAGS.seeds} seeds, at most "
        f"{FLAGS.episodes} episodes (a run stops once every seed has been optimal); first optimal episode: the first "
        "greedy evaluation (every 20 episodes) optimal from every start")
  header = ["cell", "init", "L"] + (["VAA at start", "stable equilibria at start"] if FLAGS.analysis else []) + \
      ["seeds optimal", "first optimal episode (median)", "mean +- std", "episodes run"]
  print("| " + " | ".join(header) + " |")
  print("|" + "---|" * len(header))
  print("\n".join(rows))


def main(argv):
  del argv
  experiment.study_main("rl_table.py", table)


if __name__ == "__main__":
  app.run(main, flags_parser=flags_parser("rl_table.py"))
