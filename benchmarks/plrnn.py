"""Training speed of the regularised PLRNN in rnnstab against the authors' PyTorch code.

The authors' code on this kind of machine (one seed; PLRNN M = 40, T = 100, batch 500, addition problem) takes
~30 ms per forward + backward pass at best: 500 / 0.030 = 16.7k sequences/s. That number was measured once when
the target was set (PyTorch is not a dependency of rnnstab), so it is a constant here. Everything on our side
is measured in this run: S seeds of the rPLRNN (AWh init, manifold-attractor regularisation, clip 3, Adam)
trained in one compiled program, compile time excluded, the median of rounds, for each time loop of
--backends (``scan``: autodiff of lax.scan; ``remat``: the PLRNN's own loop with a hand-derived backward
pass, rnnstab.cells.plrnn_loop) and, for ``remat``, each implementation of that loop in --loops
(``kernel``: the compiled CPU kernel, rnnstab.kernels.plrnn_cpu; ``xla``: the same loop in XLA). The
programs of one seed count are compiled first and then timed in alternating rounds, so that a machine
whose speed drifts (shared cores) slows them alike; the ``vs xla`` column is the ratio of their medians.
The target is 16 seeds training at least 5x as many sequences per second in total as that one PyTorch
seed.

    python benchmarks/plrnn.py
    python benchmarks/plrnn.py --seeds=1,16 --backends=scan,remat --loops=kernel,xla --batch=500 --rounds=5
"""
from __future__ import annotations

import argparse
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from rnnstab.config import Config
from rnnstab.devices import compile_over_devices, seed_devices, use_every_core
from rnnstab.experiment import seed_parallel_mode
from rnnstab.kernels import plrnn_cpu
from rnnstab.train import make_train

PYTORCH_STEP_S = 0.030   # the authors' code, one seed, M = 40, T = 100, batch 500 (module docstring)
PYTORCH_BATCH = 500
TARGET = 5.0


def compiled_step(seeds: int, batch: int, hidden: int, seq_len: int, backend: str = "auto", loop: str = "kernel",
                  seed_parallel: str = "auto"):
  """(run(n): n training steps of all seeds, compiled; seed mode; device count). ``loop`` picks the PLRNN
  loop's implementation for ``remat`` (read when the program is traced)."""
  config = Config(cell="plrnn", init="awh", reg="mar:tau=5", clip=3.0, lr=1e-3, task="adding", layers=1,
                  hidden=hidden, seq_len=seq_len, batch=batch, seeds=seeds, backend=backend,
                  seed_parallel=seed_parallel)
  previous = os.environ.get(plrnn_cpu.DISABLE)
  os.environ[plrnn_cpu.DISABLE] = "1" if loop == "kernel" else "0"
  try:
    trainer = make_train(config)
    devices = seed_devices(seeds)
    mode = seed_parallel_mode(config, devices=len(devices))
    keys = jax.random.split(jax.random.key(0), seeds)
    init = compile_over_devices(lambda k: trainer.init(k)[0], "vmap", seeds, devices, keys)
    states = init(keys)
    run = compile_over_devices(lambda s, n: trainer.run(s, n)[0], mode, seeds, devices, states, jnp.int32(1))
    jax.block_until_ready(run(states, jnp.int32(2)))  # traced and compiled here, under this loop
  finally:
    if previous is None:
      os.environ.pop(plrnn_cpu.DISABLE)
    else:
      os.environ[plrnn_cpu.DISABLE] = previous
  return (lambda n: jax.block_until_ready(run(states, jnp.int32(n)))), mode, len(devices)


def seconds_per_step(runs, rounds: int, min_seconds: float = 1.0):
  """Median seconds per training step of each compiled program in ``runs``, timed in alternating rounds."""
  steps = []
  for run in runs:
    t = time.perf_counter()
    run(2)
    steps.append(max(1, int(min_seconds / ((time.perf_counter() - t) / 2))))
  times = [[] for _ in runs]
  for _ in range(rounds):
    for run, n, out in zip(runs, steps, times):
      t = time.perf_counter()
      run(n)
      out.append((time.perf_counter() - t) / n)
  return [float(np.median(t)) for t in times]


def main():
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--seeds", default="1,16", help="comma-separated seed counts")
  ap.add_argument("--backends", default="scan,remat", help="comma-separated time loops (unroll's backend)")
  ap.add_argument("--loops", default="kernel,xla", help="comma-separated implementations of the remat loop: "
                  "kernel (compiled CPU kernel), xla")
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
  loops = args.loops.split(",")
  for loop in loops:
    if loop not in ("kernel", "xla"):
      ap.error(f"--loops: unknown loop {loop!r}; valid choices: kernel, xla")
  if "kernel" in loops and plrnn_cpu.unavailable() is not None:
    print(f"the CPU kernel is not timed: {plrnn_cpu.unavailable()}")
    loops = [l for l in loops if l != "kernel"] or ["xla"]
  print(f"{'seeds':>5} {'mode':>8} {'backend':>8} {'loop':>6} {'ms/step':>8} {'sequences/s':>12} "
        f"{'vs torch (1 seed)':>18} {'vs xla':>7}")
  for seeds in (int(s) for s in args.seeds.split(",")):
    configs = [(b, l) for b in args.backends.split(",") for l in (loops if b == "remat" else ["xla"])]
    compiled = [compiled_step(seeds, args.batch, args.hidden, args.seq_len, b, l, args.seed_parallel)
                for b, l in configs]
    times = seconds_per_step([c[0] for c in compiled], args.rounds)
    xla_time = {b: t for (b, l), t in zip(configs, times) if l == "xla"}
    for (backend, loop), (_, mode, devices), step_s in zip(configs, compiled, times):
      rate = seeds * args.batch / step_s
      vs_xla = f"{xla_time[backend] / step_s:6.2f}x" if loop == "kernel" and backend in xla_time else ""
      print(f"{seeds:>5} {f'{devices}x{mode}':>8} {backend:>8} {loop:>6} {step_s * 1e3:8.1f} {rate:12,.0f} "
            f"{rate / torch_rate:17.2f}x {vs_xla:>7}"
            + (f"   target {TARGET:g}x: {'met' if rate / torch_rate >= TARGET else 'not met'}" if seeds == 16 else ""),
            flush=True)


if __name__ == "__main__":
  main()
