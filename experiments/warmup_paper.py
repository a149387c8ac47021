"""Reproductions of the warmup paper's claims (Lambrechts et al. 2023), each printing a Markdown table.

    python experiments/warmup_paper.py --study=equilibria      # 1. stable equilibria at initialisation
    python experiments/warmup_paper.py --study=warmup_vaa      # 2. warmup raises VAA (GRU, LSTM)
    python experiments/warmup_paper.py --study=learning --task=copy --seq_len=300   # 3. long-memory learning

Studies 1 and 2 take a few minutes on two CPU cores; study 3 trains every configuration of --configs on
--task with ``experiments/run.py``'s machinery (one run directory each under --out) and tabulates the
final test MSE and the steps each seed needed to reach MSE < 0.1. Results and commands: docs/warmup.md.
"""
from __future__ import annotations


import jax
import numpy as np
from absl import app, flags

from rnnstab import experiment, results
from rnnstab.cells import CELLS
from rnnstab.config import Config, flags_parser
from rnnstab.train import analysis_key, make_train

flags.DEFINE_enum("study", "equilibria", ["equilibria", "warmup_vaa", "learning"], "which claim to check")
flags.DEFINE_string("task", "copy", "task of the learning study (copy, denoising, ...)")
flags.DEFINE_integer("seeds", 16, "seeds per configuration")
flags.DEFINE_integer("hidden", 64, "units per layer")
flags.DEFINE_integer("layers", 2, "depth")
flags.DEFINE_integer("seq_len", 300, "T of the learning study (studies 1-2 reach states on T = 100 prefixes)")
flags.DEFINE_integer("steps", 2000, "training steps of the learning study")
flags.DEFINE_string("configs", "gru,gru+warmup,lstm,lstm+warmup,brc,nbrc,gru+double+warmup",
                    "learning study configurations: cell[+double][+warmup|+chrono]")
flags.DEFINE_integer("analysis_steps", 10_000, "iteration budget of each multistability measurement (the paper's 10,000)")
flags.DEFINE_string("out", "runs/warmup_paper", "parent directory of the learning study's run directories")
FLAGS = flags.FLAGS


def equilibria() -> None:
  """Claim 1: standard cells have a single stable equilibrium at initialisation."""
  print(f"| cell ({FLAGS.layers} x {FLAGS.hidden}) | stable equilibria (mean, min-max over {FLAGS.seeds} seeds) "
        "| VAA | not converged | iteration steps |")
  print("|---|---|---|---|---|")
  for name in ("tanh", "gru", "lstm", "brc", "nbrc"):
    config = Config(cell=name, hidden=FLAGS.hidden, layers=FLAGS.layers, seeds=FLAGS.seeds, seq_len=100)
    trainer = make_train(config)
    keys = jax.random.split(jax.random.key(0), FLAGS.seeds)
    m = jax.jit(jax.vmap(lambda k: trainer.analyse(trainer.initial_params(k), analysis_key(k))))(keys)
    eq = np.asarray(m["stable_equilibria"])
    print(f"| {name} | {eq.mean():.2f} ({eq.min()}-{eq.max()}) | {results.pm(m['vaa'], 3)} | "
          f"{np.mean(m['not_converged']):.0%} | <= {config.analysis_steps} |")


def warmup_vaa() -> None:
  """Claim 2: warmup raises VAA (and the number of stable equilibria) of GRU and LSTM."""
  print(f"| cell ({FLAGS.layers} x {FLAGS.hidden}) | VAA before | VAA after warmup | stable eq. before | "
        f"stable eq. after | not converged after |")
  print("|---|---|---|---|---|---|")
  for name in ("gru", "lstm", "tanh", "brc", "nbrc"):
    config = Config(cell=name, init="warmup", hidden=FLAGS.hidden, layers=FLAGS.layers, seeds=FLAGS.seeds,
                    seq_len=100)
    trainer = make_train(config)
    keys = jax.random.split(jax.random.key(0), FLAGS.seeds)
    # One device: XLA:CPU has hung running LAPACK's eigenvalue routine on two CPU devices at once.
    f = jax.jit(jax.vmap(lambda k: (trainer.analyse(trainer.initial_params(k), analysis_key(k)),
                                    trainer.analyse(trainer.init(k)[0].params, analysis_key(k)))))
    before, after = f(keys)
    print(f"| {name} | {results.pm(before['vaa'], 3)} | {results.pm(after['vaa'], 3)} | {results.pm(before['stable_equilibria'], 1)} | "
          f"{results.pm(after['stable_equilibria'], 1)} | {np.mean(after['not_converged']):.0%} |")


def _config(spec: str) -> Config:
  parts = spec.split("+")
  extras = set(parts[1:])
  unknown = extras - {"double", "warmup", "chrono"}
  if parts[0] not in CELLS or unknown:
    raise ValueError(f"--configs: bad configuration {spec!r}; write cell[+double][+warmup|+chrono] "
                     f"with cell one of {', '.join(CELLS.names())}")
  init = "warmup" if "warmup" in extras else "chrono" if "chrono" in extras else "default"
  return Config(cell=parts[0], init=init, double="double" in extras, task=FLAGS.task, seq_len=FLAGS.seq_len,
                hidden=FLAGS.hidden, layers=FLAGS.layers, seeds=FLAGS.seeds, steps=FLAGS.steps,
                lr=1e-3, log_every=100, analysis_every=max(FLAGS.steps // 4, 100), analysis_steps=FLAGS.analysis_steps)


def learning() -> None:
  """Claim 3: on long-memory tasks, warmed-up GRU/LSTM learn where the plain ones stay at chance."""
  configs = [(spec, _config(spec)) for spec in FLAGS.configs.split(",")]  # all validated before any work
  task = make_train(configs[0][1]).task
  key = f"eval_{task.metric}"
  op, bound = results.SOLVED[task.metric]
  rows = []
  for spec, config in configs:
    summary = experiment.run(config, out=FLAGS.out, log=lambda s: None)
    solved = results.steps_to_solve(results.read_metrics(f"{summary['run_dir']}/metrics.jsonl"), task.metric,
                                    config.seeds)
    final = summary["final"][key]
    vaa = summary["final"].get("vaa", {})
    rows.append(f"| {spec} | {final['mean']:.3f} +- {final['std']:.3f} | {len(solved)}/{config.seeds} | "
                f"{int(np.median(solved)) if solved else '-'} | "
                f"{vaa.get('mean', float('nan')):.2f} | {summary['timing']['train_s']:.0f} s |")
    print(rows[-1], flush=True)
  name = f"{task.metric} {op} {bound:g}"
  print(f"\n{FLAGS.task}, T = {FLAGS.seq_len}, {FLAGS.layers} x {FLAGS.hidden}, Adam 1e-3, batch 32, "
        f"{FLAGS.steps} steps, {FLAGS.seeds} seeds (chance {task.metric} = {task.chance:.3g})")
  print(f"| configuration | final test {task.metric} | seeds reaching {name} | median steps to {name} | final VAA "
        "| train time |")
  print("|---|---|---|---|---|---|")
  print("\n".join(rows))


def main(argv):
  del argv
  experiment.study_main("warmup_paper.py",
                        {"equilibria": equilibria, "warmup_vaa": warmup_vaa, "learning": learning}[FLAGS.study])


if __name__ == "__main__":
  app.run(main, flags_parser=flags_parser("warmup_paper.py"))
