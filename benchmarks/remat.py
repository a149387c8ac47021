"""Training time per step with the rematerialising time loop (``--backend=remat``) against autodiff of lax.scan.

Autodiff of ``lax.scan`` saves every residual of every step, a (T, B, H) array each, and the backward loop
reads them back; ``remat`` saves only the states and recomputes each step (input projection included) in
the backward pass (rnnstab.unroll). Which is faster depends on the cell: recomputation costs the step's
matmuls again where the backward needs their outputs (tanh, ReLU), and saves memory traffic where a step
has many residuals (PLRNN, gated cells). Both run here in one program per cell, S seeds mapped on one
device, compile excluded, the median of --rounds; printed: milliseconds per training step per seed and
the speed-up of remat.

    python benchmarks/remat.py                                      # the default grid (~20 min on one core)
    python benchmarks/remat.py --cells=plrnn,lstm --hidden=40 --batch=500 --seq_len=100
"""
from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from rnnstab.config import Config
from rnnstab.train import make_train

BACKENDS = ("scan", "remat")


def ms_per_step(cell: str, backend: str, hidden: int, batch: int, seq_len: int, seeds: int, steps: int,
                rounds: int) -> float:
  """Median milliseconds per training step per seed (adding problem, Adam, S seeds under lax.map)."""
  config = Config(cell=cell, task="adding", layers=1, hidden=hidden, batch=batch, seq_len=seq_len, seeds=seeds,
                  lr=1e-3, clip=3.0, backend=backend)
  trainer = make_train(config)
  states = jax.jit(jax.vmap(lambda k: trainer.init(k)[0]))(jax.random.split(jax.random.key(0), seeds))
  run = jax.jit(lambda s, n: jax.lax.map(lambda x: trainer.run(x, n)[0], s))
  jax.block_until_ready(run(states, jnp.int32(1)))
  times = []
  for _ in range(rounds):
    t = time.perf_counter()
    jax.block_until_ready(run(states, jnp.int32(steps)))
    times.append((time.perf_counter() - t) / steps / seeds)
  return float(np.median(times)) * 1e3


def main():
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--cells", default="plrnn,relu,tanh,gru,lstm,brc", help="comma-separated cells")
  ap.add_argument("--hidden", default="40,256", help="comma-separated hidden sizes")
  ap.add_argument("--batch", type=int, default=64)
  ap.add_argument("--seq_len", type=int, default=100)
  ap.add_argument("--seeds", type=int, default=4, help="seeds per program (lax.map)")
  ap.add_argument("--steps", type=int, default=5, help="training steps per timed call")
  ap.add_argument("--rounds", type=int, default=3)
  args = ap.parse_args()
  print(f"jax {jax.__version__} on {jax.default_backend()}; adding problem, T = {args.seq_len}, batch "
        f"{args.batch}, {args.seeds} seeds under lax.map on one device; ms per training step per seed")
  print(f"{'cell':>6} {'H':>5} {'scan':>8} {'remat':>8} {'remat speed-up':>15}")
  for cell in args.cells.split(","):
    for hidden in (int(h) for h in args.hidden.split(",")):
      scan, remat = (ms_per_step(cell, b, hidden, args.batch, args.seq_len, args.seeds, args.steps, args.rounds)
                     for b in BACKENDS)
      print(f"{cell:>6} {hidden:>5} {scan:8.2f} {remat:8.2f} {scan / remat:14.2f}x", flush=True)


if __name__ == "__main__":
  main()
