"""Training speed of the regularised PLRNN in rnnstab against the authors' PyTorch code.

The authors' code on this kind of machine (one seed; PLRNN M = 40, T = 100, batch 500, addition problem) takes
~30 ms per forward + backward pass at best: 500 / 0.030 = 16.7k sequences/s. That number was measured once when
the target was set (PyTorch is not a dependency of rnnstab), so it is a constant here. Everything on our side
is measured in this run: S seeds of the rPLRNN (AWh init, manifold-attractor regularisation, clip 3, Adam)
trained in one compiled program, compile time excluded, the median of rounds, for each time loop of
--backends (``scan``: autodiff of lax.scan; ``remat``: the step recomputed in the backward pass, see
rnnstab.unroll). The target is 16 seeds training at least 5x as many sequences per second in total as
that one PyTorch seed.

    python benchmarks/plrnn.py
    python benchmarks/plrnn.py --seeds=1,16 --backends=scan,remat --batch=500 --rounds=5
"""
from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from rnnstab.config import Config
from rnnstab.devices import compile_over_devices, seed_devices, use_every_core
from rnnstab.experiment import seed_parallel_mode
from rnnstab.train import make_train

PYTORCH_STEP_S = 0.030   # the authors' code, one seed, M = 40, T = 100, batch 500 (module docstring)
PYTORCH_BATCH = 500
TARGET = 5.0


def seconds_per_step(seeds: int, batch: int, hidden: int, seq_len: int, rounds: int, backend: str = "auto",
                     min_seconds: float = 1.0, seed_parallel: str = "auto"):
  """(median seconds per training step of all seeds, seed mode, device count)."""
  config = Config(cell="plrnn", init="awh", reg="mar:tau=5", clip=3.0, lr=1e-3, task="adding", layers=1,
                  hidden=hidden, seq_len=seq_len, batch=batch, seeds=seeds, backend=backend,
                  seed_parallel=seed_parallel)
  trainer = make_train(config)
  devices = seed_devices(seeds)
  mode = seed_parallel_mode(config, devices=len(devices))
  keys = jax.random.split(jax.random.key(0), seeds)
  init = compile_over_devices(lambda k: trainer.init(k)[0], "vmap", seeds, devices, keys)
  states = init(keys)
  run = compile_over_devices(lambda s, n: trainer.run(s, n)[0], mode, seeds, devices, states, jnp.int32(1))
  jax.block_until_ready(run(states, jnp.int32(2)))
  t = time.perf_counter()
  jax.block_until_ready(run(states, jnp.int32(2)))
  n = max(1, int(min_seconds / ((time.perf_counter() - t) / 2)))
  times = []
  for _ in range(rounds):
    t = time.perf_counter()
    jax.block_until_ready(run(states, jnp.int32(n)))
    times.append((time.perf_counter() - t) / n)
  return float(np.median(times)), mode, len(devices)


def main():
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--seeds", default="1,16", help="comma-separated seed counts")
  ap.add_argument("--backends", default="scan,remat", help="comma-separated time loops (unroll's backend)")
  ap.add_argument("--batch", type=int, default=500)
  ap.add_argument("--hidden", type=int, default=40)
  ap.add_argument("--seq_len", type=int, default=100)
  ap.add_argument("--rounds", type=int, default=5)
  ap.add_argument("--seed_parallel", default="auto", help="how each device runs its seeds: auto, vmap, map or a "
                  "group size (rnnstab.experiment.seed_parallel_mode)")
  args = ap.parse_args()
  use_every_core()
  torch_rate = PYTORCH_BATCH / PYTORCH_STEP_S   # its rate at its batch size; compare at --batch=500
  print(f"jax {jax.__version__} on {jax.default_backend()} ({jax.device_count()} device(s)); rPLRNN M = {args.hidden}, "
        f"T = {args.seq_len}, batch {args.batch} per seed, addition; training (forward + backward + MAR + clip + "
        f"Adam), compile excluded; authors' PyTorch, one seed: {torch_rate:,.0f} sequences/s")
  print(f"{'seeds':>5} {'mode':>8} {'backend':>8} {'ms/step':>8} {'sequences/s':>12} {'vs torch (1 seed)':>18}")
  for seeds, backend in ((int(s), b) for s in args.seeds.split(",") for b in args.backends.split(",")):
    step_s, mode, devices = seconds_per_step(seeds, args.batch, args.hidden, args.seq_len, args.rounds, backend,
                                             seed_parallel=args.seed_parallel)
    rate = seeds * args.batch / step_s
    print(f"{seeds:>5} {f'{devices}x{mode}':>8} {backend:>8} {step_s * 1e3:8.1f} {rate:12,.0f} {rate / torch_rate:17.2f}x"
          + (f"   target {TARGET:g}x: {'met' if rate / torch_rate >= TARGET else 'not met'}" if seeds == 16 else ""),
          flush=True)


if __name__ == "__main__":
  main()
