"""Run one multi-seed experiment: ``python experiments/run.py --cell=brc --init=default --task=copy --seeds=16``.

Every flag is a field of ``rnnstab.config.Config`` (see ``--help``); results go to ``--out/<run name>``.
``--resume=<run dir>`` continues a killed run from its latest checkpoint (with ``--steps=N``, extends a finished
run to N steps in all); ``--distributed`` runs one
process per host of a TPU pod or GPU cluster.
"""
from __future__ import annotations

import dataclasses
import sys

from absl import app, flags, logging

from rnnstab.config import Config, config_from_flags, define_flags, flags_parser
from rnnstab import experiment, hosts
from rnnstab.devices import use_every_core
from rnnstab.cells import CELLS
from rnnstab.inits import INITS
from rnnstab.optimizers import OPTIMIZERS
from rnnstab.results import RunDirExists
from rnnstab.tasks import TASKS

_CHOICES = {"cell": CELLS, "init": INITS, "task": TASKS, "optimizer": OPTIMIZERS}


define_flags(Config, _CHOICES)
flags.DEFINE_string("out", "runs", "parent directory of run directories")
flags.DEFINE_string("name", None, "run directory name (default: task-T-cell-init-timestamp)")
flags.DEFINE_string("resume", None, "continue the run in this run directory from its latest checkpoint, with its "
                    "own config.json (no other run flags; --steps=N extends a finished run to N steps in all)")
flags.DEFINE_bool("distributed", False, "multi-host run: call jax.distributed.initialize() first (on every host; "
                  "Cloud TPU pods, SLURM and Open MPI are detected); process 0 writes the results")
flags.DEFINE_string("coordinator_address", None, "with --distributed elsewhere: host:port of process 0")
flags.DEFINE_integer("num_processes", None, "with --distributed elsewhere: how many processes take part")
flags.DEFINE_integer("process_id", None, "with --distributed elsewhere: this process's index, 0 .. num_processes-1")
FLAGS = flags.FLAGS


def _error(message: str):
  print(f"run.py: error: {message}", file=sys.stderr)
  sys.exit(2)


def _resume(run_dir: str):
  # --steps is the one run flag a resume takes: the new total of an extended run.
  given = [f"--{f.name}" for f in dataclasses.fields(Config) if FLAGS[f.name].present and f.name != "steps"]
  given += [f"--{n}" for n in ("name", "out") if FLAGS[n].present]
  if given:
    _error(f"--resume: a resumed run keeps its own config.json (only --steps, to extend it, may be given); "
           f"drop {', '.join(given)}")
  try:
    experiment.resume(run_dir, steps=FLAGS.steps if FLAGS["steps"].present else None)
  except (FileNotFoundError, ValueError, TypeError) as e:
    _error(str(e))
  except KeyboardInterrupt:
    sys.exit(130)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  logging.set_verbosity(logging.WARNING)  # keep JAX's backend-probing INFO lines out of the progress output
  if FLAGS.distributed:  # before any other JAX call; seeds then spread over every host's devices
    hosts.initialize(FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)
  else:
    use_every_core()  # before any JAX computation: on CPU, each core trains its share of the seeds
  if FLAGS.resume is not None:
    return _resume(FLAGS.resume)
  try:
    config = config_from_flags(Config, FLAGS)
    from rnnstab.train import make_train
    make_train(config)  # builds cell, task and optimiser: every invalid combination fails here, before any work
  except (ValueError, RunDirExists) as e:
    _error(str(e))
  try:
    experiment.run(config, out=FLAGS.out, name=FLAGS.name)
  except RunDirExists as e:
    _error(str(e))
  except KeyboardInterrupt:
    sys.exit(130)  # the run directory already holds everything computed, summary included


if __name__ == "__main__":
  app.run(main, flags_parser=flags_parser("run.py"))
