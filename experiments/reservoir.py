"""Model order reduction of echo state reservoirs by POD and POD-DEIM (results: docs/reservoir.md).

    python experiments/reservoir.py --sizes=200,500 --ranks=10,20,40,80 --deim=2 --seeds=4

For each reservoir size N and seed: the full ESN, its POD reductions to each rank r, and (with --deim=k)
POD-DEIM reductions with m = k r interpolation points. Printed per configuration: the energy of the
state snapshots the r modes keep, Jaeger's memory capacity (delays 1..N), the NARMA10 NRMSE of a ridge
readout (fitted on 16 sequences of 500 steps, scored on 16 others, 50-step washout each), and the time
per step of the jitted time loop (one sequence of --timing_steps steps) with the speed-up over the full
reservoir, measured in the same run. Reductions of the NARMA10 runs are fitted on NARMA10 inputs, those
of the MC runs on the MC input U[-1, 1].
"""
from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from rnnstab import experiment, results
from rnnstab.config import flags_parser
from rnnstab.analysis import memory_capacity
from rnnstab.cells import ESN
from rnnstab.readout import ridge_readout
from rnnstab.reduction import pod_reduce
from rnnstab.tasks import make_task
from rnnstab.unroll import unroll

flags.DEFINE_string("sizes", "200,500", "reservoir sizes N")
flags.DEFINE_string("ranks", "10,20,40,80", "POD ranks r (those above N are skipped)")
flags.DEFINE_integer("deim", 2, "POD-DEIM rows with m = deim x r interpolation points (0: POD only)")
flags.DEFINE_integer("seeds", 4, "reservoirs per size")
flags.DEFINE_float("spectral_radius", 0.9, "spectral radius of the reservoirs")
flags.DEFINE_integer("timing_steps", 20000, "steps of the timed time loop")
FLAGS = flags.FLAGS

WASHOUT, LENGTH, SEQUENCES = 50, 500, 16


def _ints(flag: str) -> list[int]:
  try:
    values = [int(v) for v in getattr(FLAGS, flag).split(",")]
  except ValueError:
    raise ValueError(f"--{flag}: expected comma-separated positive integers, got {getattr(FLAGS, flag)!r}") from None
  if not values or min(values) < 1:
    raise ValueError(f"--{flag}: expected positive integers, got {getattr(FLAGS, flag)!r}")
  return values


def narma10_nrmse(cell, params, train, test, task) -> float:
  """NRMSE on ``test`` of the ridge readout fitted on ``train`` (washout steps dropped from both)."""
  _, ys = unroll(cell, params, train.inputs)
  readout = ridge_readout(ys[WASHOUT:], train.targets[WASHOUT:], train.mask[WASHOUT:], 1e-8)
  _, yt = unroll(cell, params, test.inputs)
  pred = yt @ readout["W"] + readout["b"]
  return float(jnp.mean(task.metrics(pred[WASHOUT:], test.targets[WASHOUT:], test.mask[WASHOUT:])["nrmse"]))


def seconds_per_step(cell, params, steps: int) -> float:
  """Wall time per step of the jitted time loop on one sequence (compiled and warmed up first)."""
  x = jax.random.uniform(jax.random.key(0), (steps, 1, 1), minval=-1.0, maxval=1.0)
  f = jax.jit(lambda p, x: unroll(cell, p, x, backend="scan")[1])
  f(params, x).block_until_ready()
  best = float("inf")
  for _ in range(3):
    t = time.perf_counter()
    f(params, x).block_until_ready()
    best = min(best, time.perf_counter() - t)
  return best / steps


def study() -> None:
  sizes, ranks = _ints("sizes"), _ints("ranks")
  if FLAGS.deim < 0:
    raise ValueError(f"--deim: must be >= 0 (0: POD only), got {FLAGS.deim}")
  task = make_task("narma10", LENGTH)
  rows = []
  for N in sizes:
    variants = [("full", None, None)] + [(f"POD r={r}", r, None) for r in ranks if r <= N]
    variants += [(f"POD-DEIM r={r}, m={FLAGS.deim * r}", r, FLAGS.deim * r) for r in ranks if FLAGS.deim and FLAGS.deim * r <= N]
    found = {name: {"energy": [], "mc": [], "nrmse": [], "step": []} for name, _, _ in variants}
    for seed in range(FLAGS.seeds):
      cell = ESN(hidden_size=N, spectral_radius=FLAGS.spectral_radius)
      params = cell.init(jax.random.key(seed), 1)
      u = jax.random.uniform(jax.random.key(1000 + seed), (4 * N + 1000, 1, 1), minval=-1.0, maxval=1.0)
      train = task.sample(jax.random.key(2000 + seed), SEQUENCES)
      test = task.sample(jax.random.key(3000 + seed), SEQUENCES)
      for name, r, m in variants:
        if r is None:
          mc_cell, mc_params, energy = cell, params, 1.0
          na_cell, na_params = cell, params
        else:
          mc_cell, mc_params, info = pod_reduce(cell, params, u, r, m)
          energy = info["energy"]
          na_cell, na_params, _ = pod_reduce(cell, params, train.inputs[:, :4], r, m)
        f = found[name]
        f["energy"].append(energy)
        f["mc"].append(memory_capacity(mc_cell, mc_params, jax.random.key(4000 + seed), max_delay=N, washout=N))
        f["nrmse"].append(narma10_nrmse(na_cell, na_params, train, test, task))
        if seed == 0:
          f["step"].append(seconds_per_step(mc_cell, mc_params, FLAGS.timing_steps))
    full_step = found["full"]["step"][0]
    for name, _, _ in variants:
      f = found[name]
      row = (f"| {N} | {name} | {np.mean(f['energy']):.4f} | {results.pm(f['mc'], 2)} | {results.pm(f['nrmse'], 3)} | "
             f"{f['step'][0] * 1e6:.2f} | {full_step / f['step'][0]:.1f}x |")
      rows.append(row)
      print(row, flush=True)
  print(f"\nESN (tanh, leak 1, spectral radius {FLAGS.spectral_radius:g}, input U(-1, 1) weights), {FLAGS.seeds} "
        f"reservoirs per size; MC over delays 1..N; NARMA10 ridge readout on {SEQUENCES} x {LENGTH} steps; time "
        f"per step of the jitted loop over {FLAGS.timing_steps} steps (one sequence, {jax.default_backend()}, "
        f"seed 0), speed-up over the full reservoir of the same N")
  print("| N | model | POD energy kept | MC | NARMA10 NRMSE | us / step | speed-up |")
  print("|---|---|---|---|---|---|---|")
  print("\n".join(rows))


def main(argv):
  del argv
  experiment.study_main("reservoir.py", study)


if __name__ == "__main__":
  app.run(main, flags_parser=flags_parser("reservoir.py"))
