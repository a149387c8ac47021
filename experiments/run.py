"""Run one multi-seed experiment: ``python experiments/run.py --cell=brc --init=default --task=copy --seeds=16``.

Every flag is a field of ``rnnstab.config.Config`` (see ``--help``); results go to ``--out/<run name>``.
"""
from __future__ import annotations

import dataclasses
import sys

from absl import app, flags, logging

from rnnstab.config import Config, parse_field
from rnnstab import experiment
from rnnstab.devices import use_every_core
from rnnstab.cells import CELLS
from rnnstab.inits import INITS
from rnnstab.optimizers import OPTIMIZERS
from rnnstab.results import RunDirExists
from rnnstab.tasks import TASKS

_CHOICES = {"cell": CELLS, "init": INITS, "task": TASKS, "optimizer": OPTIMIZERS}


def _field_help() -> dict:
  """Each Config field's help text, from the "Attributes:" section of its docstring (one source of truth)."""
  text, out, name = Config.__doc__.split("Attributes:", 1)[1], {}, None
  for line in text.splitlines():
    head = line.strip().split(":", 1)
    if line.startswith("    ") and not line.startswith("      ") and len(head) == 2:
      name, out[head[0]] = head[0], head[1].strip()
    elif name and line.strip():
      out[name] += " " + line.strip()
  return out


_HELP = _field_help()
for _f in dataclasses.fields(Config):
  _help = _HELP.get(_f.name, _f.name)
  if _f.name in _CHOICES:
    _help += f" Choices: {_CHOICES[_f.name].help()}"
  if isinstance(_f.default, bool):
    flags.DEFINE_bool(_f.name, _f.default, _help)
  else:  # parsed by the Config field's type below, so a bad value gets our one-line error
    flags.DEFINE_string(_f.name, str(_f.default), _help)
flags.DEFINE_string("out", "runs", "parent directory of run directories")
flags.DEFINE_string("name", None, "run directory name (default: task-T-cell-init-timestamp)")
FLAGS = flags.FLAGS


def config_from_flags() -> Config:
  # Booleans are absl bool flags already; every other field is parsed by its type.
  values = {f.name: getattr(FLAGS, f.name) if isinstance(f.default, bool) else parse_field(f.name, getattr(FLAGS, f.name))
            for f in dataclasses.fields(Config)}
  return Config(**values)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  logging.set_verbosity(logging.WARNING)  # keep JAX's backend-probing INFO lines out of the progress output
  use_every_core()  # before any JAX computation: on CPU, each core trains its share of the seeds
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
