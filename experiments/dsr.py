"""Dynamical-systems reconstruction: fit PLRNNs to a simulated system by teacher forcing, then compare their
free-running trajectories with the system's.

    python experiments/dsr.py --system=lorenz63 --method=stf --interval=25 --seeds=4
    python experiments/dsr.py --system=lorenz63 --method=stf --interval=25 --window=200 --batch=16 --hidden=30 \
        --samples=125000 --tf_noise=0.05 --steps=80000 --lr=1e-3 --lr_decay=0.1 --mean_centre --clip=10 --seeds=2
        # reconstructs Lorenz-63 (docs/rplrnn.md)
    python experiments/dsr.py --system=bursting_neuron --method=gtf --alpha=adaptive --mar_tau=1 --mar_fraction=0.5 --hidden=30

The data (--samples points, standardised) come from ``rnnstab.dsr.simulate``; the first 80% train every seed
(one vmapped program), with --noise as observation noise, the last 20% are held out clean. Each seed then
runs freely from the first held-out point for 1.25 times as many steps as were held out, drops the first
quarter as transient (the reconstruction papers' protocol), and is scored by D_stsp (30 bins per dimension,
and by Gaussian mixtures), D_H and its maximal Lyapunov exponent against the system's own (per unit time).
Writes a run directory under --out with config.json, params.npz (every seed's trained PLRNN and its losses,
seeds on the leading axis), generated.npz (every seed's scored free run and the held-out data),
summary.json, losses.png, attractor.png and spectra.png (the held-out data against the best seed's
generated trajectory), and prints the per-seed table.
"""
from __future__ import annotations

import dataclasses
import sys

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags, logging

from rnnstab import results
from rnnstab.config import flags_parser
from rnnstab.dsr import (SYSTEMS, max_lyapunov, power_spectrum_distance, simulate, state_space_divergence,
                         state_space_divergence_gmm)
from rnnstab.dsr.measures import smoothed_power_spectrum
from rnnstab.dsr.systems import integrate
from rnnstab.dsr.teacher_forcing import (INITS, LR_SCHEDULES, METHODS, DSRConfig, generate, initial_latent, make_cell,
                                         plrnn_map, train)

flags.DEFINE_string("system", "lorenz63", f"the system to reconstruct: {', '.join(sorted(SYSTEMS))}")
flags.DEFINE_integer("samples", 20000, "data points simulated (80% train, 20% held out)")
flags.DEFINE_float("noise", 0.0, "observation noise on the training data, as a fraction of each variable's "
                   "standard deviation")
flags.DEFINE_float("tf_noise", DSRConfig.tf_noise, "std of fresh noise on the teacher signal (standardised data)")
flags.DEFINE_float("latent_clip", DSRConfig.latent_clip, "clip the latent state to [-c, c] every step (0: off)")
flags.DEFINE_bool("mean_centre", DSRConfig.mean_centre, "mean-centred PLRNN: relu(z - mean z)")
flags.DEFINE_string("init", DSRConfig.init, f"the PLRNN's recurrent init: {', '.join(INITS)}")
flags.DEFINE_string("method", DSRConfig.method, f"teacher forcing: {', '.join(METHODS)}")
flags.DEFINE_integer("interval", DSRConfig.interval, "tau of sparse teacher forcing")
flags.DEFINE_string("alpha", str(DSRConfig.alpha), "GTF weight in [0, 1], or adaptive")
flags.DEFINE_integer("alpha_every", DSRConfig.alpha_every, "steps between estimates of the adaptive GTF alpha")
flags.DEFINE_float("alpha_gamma", DSRConfig.alpha_gamma, "annealing of the adaptive alpha towards smaller estimates")
flags.DEFINE_integer("hidden", DSRConfig.hidden, "latent units M")
flags.DEFINE_integer("window", DSRConfig.window, "steps per training window")
flags.DEFINE_integer("batch", DSRConfig.batch, "windows per step")
flags.DEFINE_integer("steps", DSRConfig.steps, "optimiser steps")
flags.DEFINE_float("lr", DSRConfig.lr, "Adam learning rate")
flags.DEFINE_string("lr_schedule", DSRConfig.lr_schedule,
                    f"{' or '.join(LR_SCHEDULES)}: exponential decays to --lr * --lr_decay, multistep multiplies "
                    "by 0.1 at 10%, 80% and 90% of the steps")
flags.DEFINE_float("lr_decay", DSRConfig.lr_decay, "final learning rate / --lr (exponential decay; 1: constant)")
flags.DEFINE_float("clip", DSRConfig.clip, "global gradient-norm clip (0: none)")
flags.DEFINE_float("mar_tau", DSRConfig.mar_tau, "manifold-attractor regularisation (0: off; >0 also AWh init)")
flags.DEFINE_bool("awh", None, "AWh init on the --mar_fraction units (default: when --mar_tau > 0); --awh "
                  "with --mar_tau=0 is the init without the penalty, --noawh with --mar_tau > 0 the penalty alone")
flags.DEFINE_float("mar_fraction", DSRConfig.mar_fraction, "share of the latent units that are manifold-attractor "
                   "regularised (and AWh initialised), in (0, 1]")
flags.DEFINE_integer("seeds", 4, "seeds trained in parallel")
flags.DEFINE_integer("seed", 0, "base seed")
flags.DEFINE_string("out", "runs/dsr", "parent directory of run directories")
flags.DEFINE_string("name", None, "run directory name (default: system-method-timestamp)")
FLAGS = flags.FLAGS


def _config() -> DSRConfig:
  if FLAGS.system not in SYSTEMS:
    raise ValueError(f"--system: unknown system {FLAGS.system!r}; valid choices: {', '.join(sorted(SYSTEMS))}")
  if FLAGS.seeds < 1 or FLAGS.samples < 100:
    raise ValueError("--seeds must be >= 1 and --samples >= 100")
  alpha = FLAGS.alpha
  if alpha != "adaptive":
    try:
      alpha = float(alpha)
    except ValueError:
      raise ValueError(f"--alpha: must be a number in [0, 1] or 'adaptive', got {alpha!r}") from None
  return DSRConfig(hidden=FLAGS.hidden, method=FLAGS.method, interval=FLAGS.interval, alpha=alpha,
                   alpha_every=FLAGS.alpha_every, alpha_gamma=FLAGS.alpha_gamma,
                   window=FLAGS.window, batch=FLAGS.batch, steps=FLAGS.steps, lr=FLAGS.lr,
                   lr_schedule=FLAGS.lr_schedule, lr_decay=FLAGS.lr_decay, clip=FLAGS.clip, init=FLAGS.init,
                   mean_centre=FLAGS.mean_centre, latent_clip=FLAGS.latent_clip, tf_noise=FLAGS.tf_noise,
                   mar_tau=FLAGS.mar_tau, mar_fraction=FLAGS.mar_fraction, awh=FLAGS.awh)


def true_lyapunov(system: str, x0, steps: int) -> float:
  """The system's maximal exponent per unit time, from its own sampled map (one dt of RK4 sub-steps)."""
  field, dt, substeps, _, _ = SYSTEMS[system]
  step = lambda x: integrate(field, x, 1, dt, substeps)[0]
  return float(max_lyapunov(step, x0, steps, dt=dt))


def _plots(run_dir, test, gen, losses, title):
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  fig = plt.figure(figsize=(10, 4.5))
  for i, (xs, name) in enumerate(((test, "held-out data"), (gen, "generated (best seed)"))):
    ax = fig.add_subplot(1, 2, i + 1, projection="3d" if xs.shape[1] >= 3 else None)
    ax.plot(*[xs[:, j] for j in range(min(3, xs.shape[1]))], lw=0.4)
    ax.set_title(name)
  fig.suptitle(title)
  fig.savefig(run_dir / "attractor.png", dpi=90)
  plt.close(fig)
  d = test.shape[1]
  fig, axes = plt.subplots(1, d, figsize=(3.2 * d, 3), squeeze=False)
  for j, ax in enumerate(axes[0]):
    for xs, name in ((test, "data"), (gen, "generated")):
      ax.semilogy(np.asarray(smoothed_power_spectrum(jnp.asarray(xs[:, j]))), lw=0.8, label=name)
    ax.set_title(f"power spectrum, x{j + 1}")
    ax.set_xlabel("frequency bin")
  axes[0][0].legend()
  fig.tight_layout()
  fig.savefig(run_dir / "spectra.png", dpi=90)
  plt.close(fig)
  fig, ax = plt.subplots(figsize=(6, 3.5))
  ax.semilogy(np.asarray(losses).T, lw=0.7)
  ax.set_xlabel("step")
  ax.set_ylabel("teacher-forced MSE")
  fig.tight_layout()
  fig.savefig(run_dir / "losses.png", dpi=90)
  plt.close(fig)


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  try:
    config = _config()
    run_dir = results.new_run_dir(FLAGS.out, FLAGS.name, f"{FLAGS.system}-{config.method}-{results.timestamp()}")
  except ValueError as e:
    print(f"dsr.py: error: {e}", file=sys.stderr)
    sys.exit(2)
  key = jax.random.key(FLAGS.seed)
  raw = simulate(FLAGS.system, jax.random.fold_in(key, 1), FLAGS.samples)
  mu, sd = jnp.mean(raw, 0), jnp.std(raw, 0)
  data = (raw - mu) / sd
  split = int(0.8 * FLAGS.samples)
  train_data, test = data[:split], data[split:]
  if FLAGS.noise > 0:   # standardised data: the noise's std is --noise of each variable's
    train_data = train_data + FLAGS.noise * jax.random.normal(jax.random.fold_in(key, 3), train_data.shape)
  results.write_json(run_dir / "config.json", {"system": FLAGS.system, "samples": FLAGS.samples,
                                                "noise": FLAGS.noise, "seeds": FLAGS.seeds, "seed": FLAGS.seed,
                                                **dataclasses.asdict(config)})
  keys = jax.random.split(jax.random.fold_in(key, 2), FLAGS.seeds)
  print(f"[dsr] {FLAGS.seeds} seeds, {config.method} on {FLAGS.system} ({split} training points), "
        f"{config.steps} steps ...", flush=True)
  try:
    params, losses = jax.jit(jax.vmap(lambda k: train(config, train_data, k)))(keys)
  except ValueError as e:
    print(f"dsr.py: error: {e}", file=sys.stderr)
    sys.exit(2)
  # The trained models first: whatever the scoring below does, they are kept (one leading axis of seeds).
  np.savez(run_dir / "params.npz", losses=np.asarray(losses), **{k: np.asarray(v) for k, v in params.items()})
  cell = make_cell(config)
  n_test = test.shape[0]
  transient = n_test // 4
  gens = jax.jit(jax.vmap(lambda p: generate(cell, p, test[0], transient + n_test)[transient:]))(params)
  np.savez_compressed(run_dir / "generated.npz", generated=np.asarray(gens), test=np.asarray(test))
  lam_true = true_lyapunov(FLAGS.system, raw[split], 5000)
  rows = []
  for s in range(FLAGS.seeds):
    p = jax.tree_util.tree_map(lambda x: x[s], params)
    gen = gens[s]
    finite = bool(jnp.all(jnp.isfinite(gen)))
    z = initial_latent(p, test[0])
    dt = SYSTEMS[FLAGS.system][1]
    rows.append({"seed": s, "final_loss": float(losses[s, -1]), "finite": finite,
                 "d_stsp": float(state_space_divergence(test, gen)) if finite else None,
                 "d_stsp_gmm": float(state_space_divergence_gmm(test, gen, jax.random.key(s))) if finite else None,
                 "d_h": float(power_spectrum_distance(test, gen)) if finite else None,
                 "lyapunov": float(max_lyapunov(plrnn_map(cell, p), z, 5000, dt=dt, burn_in=500)) if finite else None})
  ok = [r for r in rows if r["finite"]]
  agg = {k: results.mean_std([r[k] for r in rows], [r["finite"] for r in rows])
         for k in ("d_stsp", "d_stsp_gmm", "d_h", "lyapunov")}
  results.write_json(run_dir / "summary.json", {"seeds": rows, "mean_std": agg, "true_lyapunov": lam_true})
  best = min(ok, key=lambda r: r["d_stsp"])["seed"] if ok else 0
  _plots(run_dir, np.asarray(test), np.asarray(gens[best]), losses,
         f"{FLAGS.system}, {config.method}: D_stsp {rows[best]['d_stsp']}")
  print(f"{'seed':>4} {'final loss':>10} {'D_stsp':>8} {'D_stsp GMM':>10} {'D_H':>6} {'lambda_max':>10}   "
        f"(system: {lam_true:.3f})")
  fmt = lambda v, d: "-" if v is None else f"{v:.{d}f}"
  for r in rows:
    print(f"{r['seed']:>4} {r['final_loss']:>10.4f} {fmt(r['d_stsp'], 3):>8} {fmt(r['d_stsp_gmm'], 3):>10} {fmt(r['d_h'], 3):>6} "
          f"{fmt(r['lyapunov'], 3):>10}")
  pm = lambda v: "-" if v["mean"] is None else f"{v['mean']:.3f} +- {v['std']:.3f}"
  print(f"mean+-std over {len(ok)}/{FLAGS.seeds} seeds with a finite trajectory: "
        + ", ".join(f"{k} {pm(v)}" for k, v in agg.items()))
  print(f"[dsr] results in {run_dir}")


if __name__ == "__main__":
  app.run(main, flags_parser=flags_parser("dsr.py"))
