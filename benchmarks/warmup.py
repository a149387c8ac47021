"""Speed of the warmup paper's workflow in rnnstab: warmup + training of 16 seeds against the authors'
PyTorch code training one seed, and the cost of a multistability measurement.

Part 1 (the issue's target). The authors' PyTorch code on this kind of machine (one seed, one thread; GRU
hidden 64 x 2 layers, T = 100, batch 32) takes ~67 s for the 100 warmup steps (BRC ~160 s) and ~70 ms per
training batch. These reference numbers were measured once when the target was set (PyTorch is not a
dependency of rnnstab), so they are constants here; everything on our side is measured in this run: S seeds
warmed up and trained in one compiled program each, compile time reported apart and included in the total.

Part 2. One ``rnnstab.analysis.measure`` call (VAA over up to 10,000 iteration steps, equilibrium count) for
16 seeds x 32 samples at hidden 256, the cost of logging multistability during training, also expressed in
training steps of the same 16 seeds at that size; "full" forces all 10,000 steps (no sample converges
early), "typical" stops when every sample has converged.

    python benchmarks/warmup.py                  # both parts
    python benchmarks/warmup.py --part=1 --train_steps=200,1000
"""
from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp

from rnnstab.analysis import measure
from rnnstab.cells import CELLS, stack
from rnnstab.config import Config
from rnnstab.experiment import init_mode, seed_parallel_mode
from rnnstab.devices import compile_over_devices, seed_devices, use_every_core
from rnnstab.train import make_train

# The authors' PyTorch code, one seed, measured on a 2-core machine like this one (see the module docstring).
PYTORCH_WARMUP_S = {"gru": 67.0, "brc": 160.0}
PYTORCH_TRAIN_STEP_S = 0.070


def _timed(fn):
  t = time.perf_counter()
  out = jax.block_until_ready(fn())
  return out, time.perf_counter() - t


def part1(cells, seeds: int, train_steps: list[int]) -> None:
  print(f"Part 1: {seeds} seeds, warmup (100 steps, batch 32) then training (T = 100, batch 32, 2 layers of "
        f"64), against the authors' PyTorch code for ONE seed ({PYTORCH_TRAIN_STEP_S * 1e3:.0f} ms per training step)")
  print(f"{'cell':5} {'mode':>5} {'compile s':>9} {'warmup s':>9} {'ms/step':>8} {'vs torch/seed':>13} |"
        + "".join(f" {'total@' + str(n):>11} {'torch@' + str(n):>10} {'ratio':>6}" for n in train_steps))
  for name in cells:
    config = Config(cell=name, init="warmup", task="copy", seeds=seeds, hidden=64, layers=2, seq_len=100, batch=32,
                    steps=max(train_steps), log_every=max(train_steps), analysis_every=0)
    trainer = make_train(config)
    devices = seed_devices(seeds)
    mode = seed_parallel_mode(config, devices=len(devices))
    keys = jax.random.split(jax.random.key(0), seeds)
    t = time.perf_counter()
    init_c = compile_over_devices(lambda k: trainer.init(k)[0], init_mode(config, mode), seeds, devices, keys)
    compile_s = time.perf_counter() - t
    states, warm_s = _timed(lambda: init_c(keys))
    t = time.perf_counter()
    run_c = compile_over_devices(lambda s, n: trainer.run(s, n)[0], mode, seeds, devices, states, jnp.int32(1))
    compile_s += time.perf_counter() - t
    n_probe = 100
    _, probe_s = _timed(lambda: run_c(states, jnp.int32(n_probe)))
    step_s = probe_s / n_probe  # all S seeds advance one step
    row = (f"{name:5} {str(mode):>5} {compile_s:9.1f} {warm_s:9.1f} {step_s * 1e3:8.1f} "
           f"{PYTORCH_TRAIN_STEP_S / (step_s / seeds):12.1f}x |")
    for n in train_steps:
      ours = compile_s + warm_s + n * step_s
      torch = PYTORCH_WARMUP_S.get(name, float("nan")) + n * PYTORCH_TRAIN_STEP_S
      row += f" {ours:10.1f}s {torch:9.1f}s {torch / ours:5.2f}x"
    print(row)
    even = (PYTORCH_WARMUP_S[name] - compile_s - warm_s) / max(step_s - PYTORCH_TRAIN_STEP_S, 1e-9)
    print(f"      {seeds} seeds finish before one PyTorch seed "
          + ("at any number of training steps" if step_s <= PYTORCH_TRAIN_STEP_S and even > 0 else
             f"up to ~{max(even, 0):.0f} training steps"))


def part2(cells, seeds: int, samples: int, hidden: int, steps: int) -> None:
  print(f"\nPart 2: one multistability measurement, {seeds} seeds x {samples} samples, 2 layers of {hidden}, "
        f"up to {steps} iteration steps, against one training step of the same {seeds} seeds (T = 100, "
        f"batch 32, copy-first-input)")
  print(f"{'cell':5} {'kind':8} {'compile s':>9} {'measure s':>9} {'steps done':>10} {'train ms/step':>13} "
        f"{'= training steps':>16}")
  for name in cells:
    cell = stack(CELLS[name](hidden_size=hidden), 2)
    keys = jax.random.split(jax.random.key(0), seeds)
    params = jax.vmap(lambda k: cell.init(k, 1))(keys)
    inputs = jax.random.normal(jax.random.key(1), (100, samples, 1))
    train_s = _train_step_seconds(name, seeds, hidden)
    for kind, tol in (("full", -1.0), ("typical", 1e-5)):
      # One device: the measurement calls LAPACK (eig, solve), see devices.compile_over_devices.
      f = jax.jit(jax.vmap(lambda p, k: measure(cell, p, inputs, k, steps=steps, tol=tol)))
      t = time.perf_counter()
      fc = f.lower(params, keys).compile()
      compile_s = time.perf_counter() - t
      m, s = _timed(lambda: fc(params, keys))
      print(f"{name:5} {kind:8} {compile_s:9.1f} {s:9.1f} {int(m.steps.max()):10d} {train_s * 1e3:13.0f} "
            f"{s / train_s:16.0f}")


def _train_step_seconds(name: str, seeds: int, hidden: int, n: int = 20) -> float:
  """Seconds per training step of ``seeds`` seeds (2 layers, T = 100, batch 32), as experiment.run runs them."""
  config = Config(cell=name, task="copy", seeds=seeds, hidden=hidden, layers=2, seq_len=100, batch=32,
                  steps=n, log_every=n, analysis_every=0)
  trainer = make_train(config)
  devices = seed_devices(seeds)
  mode = seed_parallel_mode(config, devices=len(devices))
  keys = jax.random.split(jax.random.key(0), seeds)
  states = compile_over_devices(lambda k: trainer.init(k)[0], mode, seeds, devices, keys)(keys)
  run_c = compile_over_devices(lambda s, n: trainer.run(s, n)[0], mode, seeds, devices, states, jnp.int32(1))
  jax.block_until_ready(run_c(states, jnp.int32(1)))
  return _timed(lambda: run_c(states, jnp.int32(n)))[1] / n


def main():
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument("--part", choices=["1", "2", "both"], default="both")
  ap.add_argument("--cells", default="gru,brc", help="part 1 cells (gru, brc)")
  ap.add_argument("--seeds", type=int, default=16)
  ap.add_argument("--train_steps", default="0,200,1000", help="training steps the totals are given for")
  ap.add_argument("--measure_cells", default="gru,lstm", help="part 2 cells")
  ap.add_argument("--measure_hidden", type=int, default=256)
  ap.add_argument("--measure_steps", type=int, default=10_000)
  args = ap.parse_args()
  use_every_core()
  print(f"jax {jax.__version__} on {jax.default_backend()}, {len(jax.local_devices())} device(s)")
  if args.part in ("1", "both"):
    part1(args.cells.split(","), args.seeds, [int(n) for n in args.train_steps.split(",")])
  if args.part in ("2", "both"):
    part2(args.measure_cells.split(","), args.seeds, 32, args.measure_hidden, args.measure_steps)


if __name__ == "__main__":
  main()
