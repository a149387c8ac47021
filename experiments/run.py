"""Run one multi-seed experiment: ``python experiments/run.py --cell=brc --init=default --task=copy --seeds=16``.

Every flag is a field of ``rnnstab.config.Config`` (see ``--help``); results go to ``--out/<run name>``.
"""
from __future__ import annotations

import dataclasses
import sys

from absl import app, flags, logging

from rnnstab.config import Config
from rnnstab import experiment
from rnnstab.cells import CELLS
from rnnstab.inits import INITS
from rnnstab.optimizers import OPTIMIZERS
from rnnstab.results import RunDirExists
from rnnstab.tasks import TASKS

_D = Config()
flags.DEFINE_string("cell", _D.cell, f"recurrent cell: {', '.join(CELLS.names())}")
flags.DEFINE_string("init", _D.init, f"initialisation: {INITS.help()}")
flags.DEFINE_string("task", _D.task, f"task: {TASKS.help()}")
flags.DEFINE_string("seeds", str(_D.seeds), "number of seeds trained in parallel")
flags.DEFINE_string("seed", str(_D.seed), "base seed")
flags.DEFINE_string("hidden", str(_D.hidden), "units per layer")
flags.DEFINE_string("layers", str(_D.layers), "depth of the stack")
flags.DEFINE_bool("double", _D.double, "double layers: two parallel half-width cells per layer")
flags.DEFINE_string("seq_len", str(_D.seq_len), "sequence length T")
flags.DEFINE_string("batch", str(_D.batch), "training batch size per seed")
flags.DEFINE_string("steps", str(_D.steps), "training steps")
flags.DEFINE_string("lr", str(_D.lr), "learning rate")
flags.DEFINE_string("optimizer", _D.optimizer, f"optimiser: {', '.join(OPTIMIZERS.names())}")
flags.DEFINE_string("clip", str(_D.clip), "global gradient-norm clip (0: none)")
flags.DEFINE_string("log_every", str(_D.log_every), "steps between evaluations / log lines")
flags.DEFINE_string("eval_batch", str(_D.eval_batch), "fresh evaluation sequences per seed")
flags.DEFINE_string("backend", _D.backend, "time loop: auto, scan")
flags.DEFINE_string("unroll", str(_D.unroll), "lax.scan unroll factor")
flags.DEFINE_string("seed_parallel", _D.seed_parallel, "auto, vmap, map, or a seed group size")
flags.DEFINE_string("out", "runs", "parent directory of run directories")
flags.DEFINE_string("name", None, "run directory name (default: task-T-cell-init-timestamp)")
FLAGS = flags.FLAGS


def _parse(field: dataclasses.Field, text: str):
  """Parses a flag's text by the Config field's type, with a one-line error naming the flag."""
  kind = type(field.default)
  if kind is bool or kind is str:
    return text
  try:
    return kind(text)
  except ValueError:
    raise ValueError(f"--{field.name}: expected {'an integer' if kind is int else 'a number'}, got {text!r}")


def config_from_flags() -> Config:
  values = {f.name: _parse(f, getattr(FLAGS, f.name)) for f in dataclasses.fields(Config)}
  return Config(**values)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  logging.set_verbosity(logging.WARNING)  # keep JAX's backend-probing INFO lines out of the progress output
  try:
    config = config_from_flags()
    from rnnstab.train import make_train
    make_train(config)  # builds cell, task and optimiser: every invalid combination fails here, before any work
  except (ValueError, RunDirExists) as e:
    print(f"run.py: error: {e}", file=sys.stderr)
    sys.exit(2)
  try:
    experiment.run(config, out=FLAGS.out, name=FLAGS.name)
  except RunDirExists as e:
    print(f"run.py: error: {e}", file=sys.stderr)
    sys.exit(2)
  except KeyboardInterrupt:
    sys.exit(130)  # the run directory already holds everything computed, summary included


if __name__ == "__main__":
  app.run(main)
