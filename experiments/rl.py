"""Train recurrent RL agents on a memory task: ``python experiments/rl.py --env=tmaze --length=10 --cell=nbrc
--init=warmup --seeds=16``.

Every flag but --out, --name and --stop_when_optimal is a field of ``rnnstab.rl.RLConfig`` (see --help);
results go to --out/<run name> with the layout of ``experiments/run.py``'s runs, and the summary reports
the warmup paper's metric: the first episode at which each seed's greedy policy is optimal from every start.
"""
from __future__ import annotations

import sys

from absl import app, flags, logging

from rnnstab.cells import CELLS
from rnnstab.config import config_from_flags, define_flags, flags_parser
from rnnstab.devices import use_every_core
from rnnstab.inits import INITS
from rnnstab.results import RunDirExists
from rnnstab.rl import ENVS, RLConfig
from rnnstab.rl.experiment import run

define_flags(RLConfig, {"cell": CELLS, "init": INITS, "env": ENVS})
flags.DEFINE_string("out", "runs", "parent directory of run directories")
flags.DEFINE_string("name", None, "run directory name (default: env-L-agent-cell-init-timestamp)")
flags.DEFINE_bool("stop_when_optimal", False, "end the run at the first evaluation at which every seed has been "
                  "optimal once (all first-optimal episodes known; the curves stop there)")
FLAGS = flags.FLAGS


def _error(message: str):
  print(f"rl.py: error: {message}", file=sys.stderr)
  sys.exit(2)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  logging.set_verbosity(logging.WARNING)
  use_every_core()  # before any JAX computation: on CPU, each core trains its share of the seeds
  try:
    config = config_from_flags(RLConfig, FLAGS)
    from rnnstab.rl import make_agent
    make_agent(config)  # every invalid combination fails here, before any work
    run(config, out=FLAGS.out, name=FLAGS.name, stop_when_optimal=FLAGS.stop_when_optimal)
  except (ValueError, RunDirExists) as e:
    _error(str(e))
  except KeyboardInterrupt:
    sys.exit(130)  # the run directory already holds everything computed, summary included


if __name__ == "__main__":
  app.run(main, flags_parser=flags_parser("rl.py"))
