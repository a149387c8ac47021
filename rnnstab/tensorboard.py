"""TensorBoard event files beside metrics.jsonl: ``tensorboard --logdir <run dir>/tensorboard``.

Each seed is its own TensorBoard run (``seed_00``, ``seed_01``, ...), so its curves overlay the other
seeds' under the same tag, and ``mean`` holds the mean over the healthy seeds. Tags are the names of
metrics.jsonl's columns. The event files are flushed after every evaluation, like metrics.jsonl.
"""
from __future__ import annotations

import math
import os

import numpy as np


class TensorBoardWriter:
  """Writes every evaluation's per-seed metrics as TensorBoard scalars.

  Args:
    directory: where the per-seed and mean runs go (created if needed).
    seeds: number of seeds.
    purge_step: on a resumed run, the step it continues from: TensorBoard discards the events at or
      after this step written before the run was killed, so curves do not fold back.
  """

  def __init__(self, directory: str | os.PathLike, seeds: int, purge_step: int | None = None):
    from tensorboardX import SummaryWriter  # imported here: only runs that log pay for it
    self._seeds = [SummaryWriter(os.path.join(directory, f"seed_{i:02d}"), purge_step=purge_step, flush_secs=3600)
                   for i in range(seeds)]
    self._mean = SummaryWriter(os.path.join(directory, "mean"), purge_step=purge_step, flush_secs=3600)

  def write(self, step: int, metrics: dict, status: list[str]) -> None:
    """One scalar per seed and metric at ``step``; the mean over seeds whose status is "ok"."""
    healthy = np.asarray([s == "ok" for s in status])
    for name, values in metrics.items():
      values = np.asarray(values, np.float64)
      for writer, v in zip(self._seeds, values):
        if math.isfinite(v):
          writer.add_scalar(name, v, step)
      good = values[healthy & np.isfinite(values)]
      if good.size:
        self._mean.add_scalar(name, float(good.mean()), step)
    self._mean.add_scalar("healthy_seeds", int(healthy.sum()), step)
    for writer in self._seeds + [self._mean]:
      writer.flush()

  def close(self) -> None:
    for writer in self._seeds + [self._mean]:
      writer.close()
