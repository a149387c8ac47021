"""Training throughput of rnnstab against Flax ``nn.RNN``, measured in one run on this machine.

For each cell x hidden x T x seeds, both sides run the same task (copy-first-input), batch, optimiser and
step count inside one jitted program; seeds are vmapped for Flax, and for rnnstab both vmapped and with
its own seed strategy (``--seed_parallel=auto``). Prints sequences/s, the ratios, and the achieved matmul
FLOP rate as a fraction of this machine's measured float32 matmul peak.

    python benchmarks/throughput.py            # the full grid (a few minutes on 2 cores)
    python benchmarks/throughput.py --quick    # one configuration per cell
"""
from __future__ import annotations

import argparse
import dataclasses
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from rnnstab.config import Config
from rnnstab.experiment import seed_parallel_mode
from rnnstab.train import make_train, over_seeds

FLAX_CELLS = {"gru": nn.GRUCell, "lstm": nn.OptimizedLSTMCell, "tanh": nn.SimpleCell}


def matmul_peak(n: int = 2048, reps: int = 5) -> float:
  """Measured float32 matmul FLOP/s of this device (best of ``reps``)."""
  a = jax.random.normal(jax.random.key(0), (n, n))
  f = jax.jit(lambda a: a @ a)
  f(a).block_until_ready()
  best = min(_timed(lambda: f(a).block_until_ready()) for _ in range(reps))
  return 2 * n ** 3 / best


def _timed(fn) -> float:
  t = time.perf_counter()
  fn()
  return time.perf_counter() - t


def train_flops_per_sequence(params, seq_len: int) -> float:
  """Matmul FLOPs of one training sequence: every 2-D weight is used once per step per sequence
  (2 * fan_in * fan_out FLOPs), and the backward pass costs twice the forward."""
  per_step = sum(2 * w.shape[-2] * w.shape[-1] for w in jax.tree_util.tree_leaves(params) if w.ndim >= 2)
  return 3.0 * per_step * seq_len


def flax_chunk(config: Config):
  """The Flax baseline: nn.RNN(cell) + Dense readout on the same task, optimiser and loop as rnnstab."""
  trainer = make_train(config)
  task = trainer.task

  class Model(nn.Module):
    @nn.compact
    def __call__(self, xs):
      ys = nn.RNN(FLAX_CELLS[config.cell](features=config.hidden))(xs)
      return nn.Dense(task.output_size)(ys)

  model = Model()
  opt = optax.adam(config.lr)

  def init(key):
    params = model.init(key, jnp.zeros((1, config.seq_len, task.input_size)))
    return params, opt.init(params), key

  def loss(params, batch):
    preds = jnp.swapaxes(model.apply(params, jnp.swapaxes(batch.inputs, 0, 1)), 0, 1)
    return jnp.mean(task.loss(preds, batch.targets, batch.mask))

  def run(state, n):
    def body(i, state):
      params, opt_state, key = state
      grads = jax.grad(loss)(params, task.sample(jax.random.fold_in(key, i), config.batch))
      updates, opt_state = opt.update(grads, opt_state, params)
      return optax.apply_updates(params, updates), opt_state, key
    return jax.lax.fori_loop(0, n, body, state)

  return init, run


def measure(init, run, keys, mode, steps: int) -> tuple[float, object]:
  """Seconds per training step of all seeds together (compile excluded), and one seed's initial state."""
  S = keys.shape[0]
  states = jax.jit(over_seeds(lambda k: init(k), mode, S))(keys)
  fn = jax.jit(over_seeds(run, mode, S)).lower(states, jnp.int32(steps)).compile()
  jax.block_until_ready(fn(states, jnp.int32(1)))  # warm caches
  best = min(_timed(lambda: jax.block_until_ready(fn(states, jnp.int32(steps)))) for _ in range(2))
  return best / steps, states


def bench(cell: str, hidden: int, seq_len: int, seeds: int, batch: int, peak: float, steps: int,
          unroll: int) -> dict:
  config = Config(cell=cell, hidden=hidden, seq_len=seq_len, seeds=seeds, batch=batch, task="copy", unroll=unroll)
  keys = jax.random.split(jax.random.key(0), seeds)
  trainer = make_train(config)
  ours_init = lambda k: trainer.init(k)[0]
  ours_run = lambda s, n: trainer.run(s, n)[0]
  auto = seed_parallel_mode(config)
  row = {"cell": cell, "H": hidden, "T": seq_len, "seeds": seeds, "auto": auto}
  t_auto, states = measure(ours_init, ours_run, keys, auto, steps)
  row["ours_auto"] = seeds * batch / t_auto
  if seeds > 1 and auto != "vmap":
    row["ours_vmap"] = seeds * batch / measure(ours_init, ours_run, keys, "vmap", steps)[0]
  else:
    row["ours_vmap"] = row["ours_auto"]
  one_params = jax.tree_util.tree_map(lambda x: x[0], states.params)
  row["flop_frac"] = row["ours_auto"] * train_flops_per_sequence(one_params, seq_len) / peak
  if cell in FLAX_CELLS:
    finit, frun = flax_chunk(config)
    row["flax_vmap"] = seeds * batch / measure(finit, lambda s, n: frun(s, n), keys, "vmap", steps)[0]
  return row


def main():
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--quick", action="store_true", help="H=128, T=100 only")
  ap.add_argument("--cells", default="gru,lstm,tanh,brc", help="comma-separated cell names")
  ap.add_argument("--batch", type=int, default=32)
  ap.add_argument("--steps", type=int, default=3, help="timed training steps per measurement")
  ap.add_argument("--unroll", type=int, default=Config.unroll, help="rnnstab's lax.scan unroll factor")
  args = ap.parse_args()
  peak = matmul_peak()
  print(f"jax {jax.__version__} on {jax.default_backend()} ({jax.device_count()} device(s)); "
        f"measured float32 matmul peak {peak / 1e9:.0f} GFLOP/s; batch {args.batch} per seed; "
        f"sequences/s of training (forward + backward + Adam), compile excluded")
  hiddens, lengths = ((128,), (100,)) if args.quick else ((64, 128), (100, 300))
  header = (f"{'cell':5} {'H':>4} {'T':>4} {'seeds':>5} {'auto':>5} {'ours':>8} {'ours-vmap':>9} {'flax-vmap':>9} "
            f"{'ours/flax':>9} {'per-seq vs 1 seed':>17} {'peak':>6}")
  print(header)
  print("-" * len(header))
  for cell in args.cells.split(","):
    for H in hiddens:
      for T in lengths:
        one = None
        for S in (1, 16):
          r = bench(cell, H, T, S, args.batch, peak, args.steps, args.unroll)
          one = r if S == 1 else one
          ratio = f"{r['ours_auto'] / r['flax_vmap']:.2f}x" if "flax_vmap" in r else "-"
          flax = f"{r['flax_vmap']:.0f}" if "flax_vmap" in r else "-"
          vs_one = f"{r['ours_auto'] / one['ours_auto']:.2f}x"
          print(f"{cell:5} {H:>4} {T:>4} {S:>5} {str(r['auto']):>5} {r['ours_auto']:>8.0f} {r['ours_vmap']:>9.0f} "
                f"{flax:>9} {ratio:>9} {vs_one:>17} {100 * r['flop_frac']:>5.1f}%", flush=True)


if __name__ == "__main__":
  main()
