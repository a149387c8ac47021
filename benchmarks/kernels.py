"""The fused Pallas recurrence against lax.scan (and, on GPU, cuDNN's LSTM), one cell at a time.

For each width H it prints microseconds per time step and sequences per second, forward alone and forward +
backward (the gradient of a loss of every output with respect to the params), compile excluded, the median
of --rounds; and the temporary memory XLA allocates for the backward pass (``memory_analysis``). Every ratio
is measured in this run, on this machine.

On CPU only lax.scan is timed: the Pallas interpreter emulates the kernel op by op for testing and says
nothing about kernel speed. On GPU and TPU the fused kernels run natively (shapes ``kernel_fits`` refuses
print the reason instead), and on GPU the LSTM rows add cuDNN through ``jax.experimental.rnn``. Targets of
issue 6 on one H100: forward + backward >= 5x lax.scan and >= 1x cuDNN LSTM for H <= 256.

    python benchmarks/kernels.py                                   # GRU, H 64..1024, B 32, T 100
    python benchmarks/kernels.py --cell=lstm --hidden=64,128,256 --batch=8,32 --seeds=1,16
"""
from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from rnnstab.cells import CELLS
from rnnstab.devices import use_every_core
from rnnstab.kernels import kernel_fits
from rnnstab.unroll import unroll


def _median_seconds(fn, args, rounds: int, min_seconds: float = 0.2) -> float:
  jax.block_until_ready(fn(*args))
  t = time.perf_counter()
  jax.block_until_ready(fn(*args))
  n = max(1, int(min_seconds / max(time.perf_counter() - t, 1e-6)))
  times = []
  for _ in range(rounds):
    t = time.perf_counter()
    for _ in range(n):
      out = fn(*args)
    jax.block_until_ready(out)
    times.append((time.perf_counter() - t) / n)
  return float(np.median(times))


def _functions(cell, backend: str, seeds: int):
  """(forward, forward + backward) over S seeds' params (vmapped), jitted."""
  one = lambda p, xs: unroll(cell, p, xs, backend=backend)[1]
  fwd, grad = one, jax.grad(lambda p, xs: jnp.sum(jnp.square(one(p, xs))))
  if seeds > 1:
    fwd, grad = jax.vmap(fwd, in_axes=(0, None)), jax.vmap(grad, in_axes=(0, None))
  return jax.jit(fwd), jax.jit(grad)


def _cudnn_lstm(hidden: int, batch: int, seq_len: int, seeds: int, key):
  """cuDNN's LSTM (jax.experimental.rnn) on the same shapes: (forward, forward + backward, args)."""
  from jax.experimental import rnn
  w = rnn.init_lstm_weight(key, hidden, hidden, 1, False)
  h0 = jnp.zeros((1, batch, hidden))
  lengths = jnp.full((batch,), seq_len, jnp.int32)

  def one(w, xs):
    y, _, _ = rnn.lstm(jnp.swapaxes(xs, 0, 1), h0, h0, w, lengths, input_size=hidden, hidden_size=hidden,
                       num_layers=1, dropout=0.0, bidirectional=False)
    return y

  fwd, grad = one, jax.grad(lambda w, xs: jnp.sum(jnp.square(one(w, xs))))
  if seeds > 1:
    fwd, grad = jax.vmap(fwd, in_axes=(0, None)), jax.vmap(grad, in_axes=(0, None))
    w = jnp.broadcast_to(w, (seeds,) + w.shape)
  return jax.jit(fwd), jax.jit(grad), w


def _backward_temp_mib(grad, args) -> float:
  analysis = grad.lower(*args).compile().memory_analysis()
  return getattr(analysis, "temp_size_in_bytes", 0) / 2 ** 20 if analysis is not None else float("nan")


def main():
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--cell", default="gru", help=f"one of {', '.join(CELLS.names())}")
  ap.add_argument("--hidden", default="64,128,256,512,1024")
  ap.add_argument("--batch", default="32")
  ap.add_argument("--seeds", default="1")
  ap.add_argument("--seq_len", type=int, default=100)
  ap.add_argument("--rounds", type=int, default=5)
  args = ap.parse_args()
  if args.cell not in CELLS:
    ap.error(f"--cell: unknown cell {args.cell!r}; valid choices: {', '.join(CELLS.names())}")
  use_every_core()
  platform = jax.default_backend()
  T = args.seq_len
  print(f"jax {jax.__version__} on {platform} ({jax.devices()[0].device_kind}); {args.cell}, T = {T}, float32; "
        "compile excluded, median of rounds")
  if platform == "cpu":
    print("Pallas is not timed on CPU: there it runs in the interpreter, which emulates the kernel for tests.")
  print(f"{'H':>5} {'B':>4} {'seeds':>5} {'backend':>8} {'fwd us/step':>12} {'fwd+bwd us/step':>16} "
        f"{'fwd+bwd seq/s':>14} {'bwd temp MiB':>13} {'fwd+bwd vs scan':>16}")
  for H in (int(h) for h in args.hidden.split(",")):
    for B in (int(b) for b in args.batch.split(",")):
      for S in (int(s) for s in args.seeds.split(",")):
        cell = CELLS[args.cell](hidden_size=H)
        keys = jax.random.split(jax.random.key(0), S)
        params = jax.vmap(lambda k: cell.init(k, H))(keys) if S > 1 else cell.init(keys[0], H)
        xs = jax.random.normal(jax.random.key(1), (T, B, H))
        rows, scan_s = [], None
        backends = ["scan"]
        if platform != "cpu":
          one = cell.init(keys[0], H)
          reason = kernel_fits(cell, one, xs, cell.initial_state(one, B), platform)
          backends += ["pallas"] if reason is None else []
          if reason is not None:
            rows.append(f"{H:>5} {B:>4} {S:>5} {'pallas':>8}   not run: {reason}")
        for backend in backends:
          fwd, grad = _functions(cell, backend, S)
          f_s, g_s = _median_seconds(fwd, (params, xs), args.rounds), _median_seconds(grad, (params, xs), args.rounds)
          scan_s = g_s if backend == "scan" else scan_s
          rows.append(f"{H:>5} {B:>4} {S:>5} {backend:>8} {f_s / T * 1e6:12.1f} {g_s / T * 1e6:16.1f} "
                      f"{S * B / g_s:14,.0f} {_backward_temp_mib(grad, (params, xs)):13.1f} {scan_s / g_s:15.2f}x")
        if platform == "gpu" and args.cell == "lstm":
          try:
            fwd, grad, w = _cudnn_lstm(H, B, T, S, jax.random.key(2))
            f_s, g_s = _median_seconds(fwd, (w, xs), args.rounds), _median_seconds(grad, (w, xs), args.rounds)
            rows.append(f"{H:>5} {B:>4} {S:>5} {'cudnn':>8} {f_s / T * 1e6:12.1f} {g_s / T * 1e6:16.1f} "
                        f"{S * B / g_s:14,.0f} {_backward_temp_mib(grad, (w, xs)):13.1f} {scan_s / g_s:15.2f}x")
          except Exception as e:  # a missing cuDNN RNN must not lose the rows already measured
            rows.append(f"{H:>5} {B:>4} {S:>5} {'cudnn':>8}   not run: {type(e).__name__}: {str(e)[:100]}")
        print("\n".join(rows), flush=True)


if __name__ == "__main__":
  main()
