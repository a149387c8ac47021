"""Runs that span several hosts (a Cloud TPU pod slice, a GPU cluster): one Python process per host.

JAX is multi-controller: every process runs the same program on its own devices, and arrays sharded over
all processes' devices are "global". rnnstab spreads the seeds over every device of every process
(``devices.seed_devices``); seeds never communicate, so the only cross-host traffic is the gathering of
each evaluation's metrics (``gather``) and the run directory's name (``broadcast_string``). Process 0
alone writes results; every process writes its own shards of a checkpoint, so with checkpoints on, the
run directory must be on a filesystem all hosts share (README, "Multi-host runs").
"""
from __future__ import annotations

import jax
import numpy as np


def initialize(coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None) -> None:
  """``jax.distributed.initialize``: call it first thing, on every host (``run.py --distributed``).

  On a Cloud TPU VM pod (and under SLURM or Open MPI) every argument is found from the environment; give
  them elsewhere, e.g. for several processes on one machine.
  """
  jax.distributed.initialize(coordinator_address=coordinator_address, num_processes=num_processes,
                             process_id=process_id)


def is_writer() -> bool:
  """Whether this process writes results: process 0 of a multi-host run, always in a one-process run."""
  return jax.process_index() == 0


def gather(tree):
  """Every leaf of ``tree`` as a NumPy array on the host, whole on every process (each process may hold
  only its own seeds' shards of a global array)."""
  if jax.process_count() == 1:
    return jax.device_get(tree)
  from jax.experimental import multihost_utils
  return multihost_utils.process_allgather(tree, tiled=True)


def broadcast_string(text: str) -> str:
  """Process 0's ``text`` on every process (the others' argument is ignored); every process must call it."""
  if jax.process_count() == 1:
    return text
  from jax.experimental import multihost_utils
  raw = np.frombuffer(text.encode(), np.uint8)
  # Lengths first: broadcast_one_to_all needs the same shape on every process.
  n = int(multihost_utils.broadcast_one_to_all(np.int32(raw.size)))
  buf = np.zeros(n, np.uint8)
  buf[:min(n, raw.size)] = raw[:n]
  return bytes(np.asarray(multihost_utils.broadcast_one_to_all(buf))).decode()
