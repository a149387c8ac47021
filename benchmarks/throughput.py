"""Training throughput of rnnstab against Flax ``nn.RNN``, measured in one run on this machine.

For each cell x hidden x T x seeds, both sides run the same task (copy-first-input), batch, optimiser and
step count inside one jitted program. Flax's seeds are vmapped on one device (the baseline the issue
measured) and, for a like-for-like check, vmapped on each of the devices rnnstab spreads its seeds over;
rnnstab runs its own seed strategy (one CPU device per core, ``--seed_parallel=auto`` on each) and plain
vmap on one device. The contenders are compiled first and then timed in
alternation, and the median is reported, because a shared machine's speed drifts by tens of percent. Prints sequences/s, the ratios, and the achieved matmul
FLOP rate as a fraction of this machine's measured float32 matmul peak.

    python benchmarks/throughput.py            # the full grid (a few minutes on 2 cores)
    python benchmarks/throughput.py --quick    # one configuration per cell
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from rnnstab.config import Config
from rnnstab.devices import compile_over_devices, seed_devices, use_every_core
from rnnstab.experiment import seed_parallel_mode
from rnnstab.orthogonal import orthogonal_init
from rnnstab.train import make_train

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
      # Flax's default orthogonal init calls LAPACK's QR once per gate; concurrent QRs wedge XLA:CPU in
      # jaxlib 0.10.2 (BUILD.md). The same Haar-orthogonal matrices, computed without LAPACK:
      cell = FLAX_CELLS[config.cell](features=config.hidden, recurrent_kernel_init=orthogonal_init())
      ys = nn.RNN(cell)(xs)
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


def compile_run(init, run, keys, mode, devices):
  """(compiled n-step training of all seeds, initial states): compile time is spent here, not timed."""
  S = keys.shape[0]
  states = compile_over_devices(lambda k: init(k), mode, S, devices, keys)(keys)
  fn = compile_over_devices(run, mode, S, devices, states, jnp.int32(1))
  jax.block_until_ready(fn(states, jnp.int32(1)))  # warm caches and allocator
  return fn, states


def interleaved_seconds_per_step(fns: dict, rounds: int, min_seconds: float = 0.3) -> dict:
  """Median seconds per training step of each compiled function, timed in alternation so that a slow
  moment of a shared machine hits every contender alike."""
  steps = {}
  for name, (fn, states) in fns.items():  # enough steps for each timing to last ~min_seconds
    t = _timed(lambda: jax.block_until_ready(fn(states, jnp.int32(2)))) / 2
    steps[name] = max(1, int(min_seconds / max(t, 1e-6)))
  times = {name: [] for name in fns}
  for _ in range(rounds):
    for name, (fn, states) in fns.items():
      n = steps[name]
      times[name].append(_timed(lambda: jax.block_until_ready(fn(states, jnp.int32(n)))) / n)
  return {name: float(np.median(v)) for name, v in times.items()}


def bench(cell: str, hidden: int, seq_len: int, seeds: int, batch: int, peak: float, rounds: int,
          unroll: int) -> dict:
  config = Config(cell=cell, hidden=hidden, layers=1, seq_len=seq_len, seeds=seeds, batch=batch, task="copy",
                  unroll=unroll)
  keys = jax.random.split(jax.random.key(0), seeds)
  trainer = make_train(config)
  ours_init = lambda k: trainer.init(k)[0]
  ours_run = lambda s, n: trainer.run(s, n)[0]
  devices, one = seed_devices(seeds), jax.local_devices()[:1]
  auto = seed_parallel_mode(config, devices=len(devices))
  fns = {"ours_auto": compile_run(ours_init, ours_run, keys, auto, devices)}
  if auto != "vmap" or len(devices) > 1:
    fns["ours_vmap"] = compile_run(ours_init, ours_run, keys, "vmap", one)
  if cell in FLAX_CELLS:
    finit, frun = flax_chunk(config)
    fns["flax_vmap"] = compile_run(finit, frun, keys, "vmap", one)
    if len(devices) > 1:
      fns["flax_spread"] = compile_run(finit, frun, keys, "vmap", devices)
  secs = interleaved_seconds_per_step(fns, rounds)
  row = {"cell": cell, "H": hidden, "T": seq_len, "seeds": seeds, "auto": f"{len(devices)}x{auto}"}
  row.update({name: seeds * batch / t for name, t in secs.items()})
  row.setdefault("ours_vmap", row["ours_auto"])
  one_params = jax.tree_util.tree_map(lambda x: x[0], fns["ours_auto"][1].params)
  row["flop_frac"] = row["ours_auto"] * train_flops_per_sequence(one_params, seq_len) / peak
  return row


ROW_TIMEOUT_S = 420


def run_row_isolated(args, cell: str, H: int, T: int, S: int, peak: float) -> dict | None:
  """One configuration in a fresh process with a time limit: XLA:CPU's intra-op thread pool has been seen
  to wedge (0% CPU, blocked in block_until_ready) on some vmapped programs, and one wedged row must not
  take the whole benchmark with it. Returns None when the row timed out."""
  cmd = [sys.executable, __file__, "--row", f"{cell},{H},{T},{S}", "--peak", str(peak), "--batch", str(args.batch),
         "--rounds", str(args.rounds), "--unroll", str(args.unroll)]
  try:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=ROW_TIMEOUT_S, check=True).stdout
  except subprocess.TimeoutExpired:
    return None
  return json.loads(out.strip().splitlines()[-1])


def main():
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--quick", action="store_true", help="H=128, T=100 only")
  ap.add_argument("--cells", default="gru,lstm,tanh,brc", help="comma-separated cell names")
  ap.add_argument("--batch", type=int, default=32)
  ap.add_argument("--rounds", type=int, default=5, help="alternating timing rounds (the median is reported)")
  ap.add_argument("--unroll", type=int, default=Config.unroll, help="rnnstab's lax.scan unroll factor")
  ap.add_argument("--row", help=argparse.SUPPRESS)   # internal: measure one configuration, print JSON
  ap.add_argument("--peak", type=float, help=argparse.SUPPRESS)
  args = ap.parse_args()
  use_every_core()
  if args.row:
    cell, H, T, S = args.row.split(",")
    print(json.dumps(bench(cell, int(H), int(T), int(S), args.batch, args.peak, args.rounds, args.unroll)))
    return
  peak = matmul_peak()
  print(f"jax {jax.__version__} on {jax.default_backend()} ({jax.device_count()} device(s)); "
        f"measured float32 matmul peak {peak / 1e9:.0f} GFLOP/s; batch {args.batch} per seed; "
        f"sequences/s of training (forward + backward + Adam), compile excluded, median of "
        f"{args.rounds} alternating rounds")
  hiddens, lengths = ((128,), (100,)) if args.quick else ((64, 128), (100, 300))
  header = (f"{'cell':5} {'H':>4} {'T':>4} {'seeds':>5} {'auto':>8} {'ours':>8} {'ours-vmap':>9} {'flax-vmap':>9} "
            f"{'ours/flax':>9} {'flax-spread':>11} {'ours/spread':>11} {'per-seq vs 1 seed':>17} {'peak':>6}")
  print(header)
  print("-" * len(header), flush=True)
  for cell in args.cells.split(","):
    for H in hiddens:
      for T in lengths:
        one = None
        for S in (1, 16):
          r = run_row_isolated(args, cell, H, T, S, peak)
          if r is None:
            print(f"{cell:5} {H:>4} {T:>4} {S:>5}   no result: the row passed {ROW_TIMEOUT_S}s (wedged XLA:CPU "
                  "thread pool; rerun it)", flush=True)
            continue
          one = r if S == 1 else one
          ratio = f"{r['ours_auto'] / r['flax_vmap']:.2f}x" if "flax_vmap" in r else "-"
          flax = f"{r['flax_vmap']:.0f}" if "flax_vmap" in r else "-"
          spread = r.get("flax_spread", r.get("flax_vmap"))
          spread_txt, spread_ratio = (f"{spread:.0f}", f"{r['ours_auto'] / spread:.2f}x") if spread else ("-", "-")
          vs_one = f"{r['ours_auto'] / one['ours_auto']:.2f}x" if one else "-"
          print(f"{cell:5} {H:>4} {T:>4} {S:>5} {str(r['auto']):>8} {r['ours_auto']:>8.0f} {r['ours_vmap']:>9.0f} "
                f"{flax:>9} {ratio:>9} {spread_txt:>11} {spread_ratio:>11} {vs_one:>17} "
                f"{100 * r['flop_frac']:>5.1f}%", flush=True)


if __name__ == "__main__":
  main()
