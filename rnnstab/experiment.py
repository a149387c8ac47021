"""One experiment end to end: S seeds trained in parallel, evaluated every ``log_every`` steps, with every
result on disk as soon as it is computed. ``experiments/run.py`` is a thin command line over ``run``."""
from __future__ import annotations

import dataclasses
import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from rnnstab import results
from rnnstab.config import Config
from rnnstab.devices import compile_over_devices, seed_devices, usable_cores
from rnnstab.inits import INITS
from rnnstab.train import REASONS, analysis_key, make_train

# Seed groups on CPU: measured on 2 cores (GRU, T = 100, 16 seeds, batch 32), vmapping pairs of seeds
# beat one seed at a time by up to 10% and larger groups lost up to 25% to vmap-all as activations
# outgrew the cache. So: at most one seed per core in a group, and a group's activations within this bound.
_CPU_GROUP_BYTES = 16 * 2**20


def seed_parallel_mode(config: Config, platform: str | None = None, cores: int | None = None,
                       devices: int = 1) -> str | int:
  """Resolves ``config.seed_parallel`` for the seeds of one device (``config.seeds / devices`` of them):
  "auto" is vmap on GPU/TPU and, on CPU, groups of at most one seed per core of the device whose saved
  activations (~16 bytes x batch x hidden x layers x seq_len per seed) stay within 16 MiB, mapped one
  group after another ("map" when no group of two fits). With one CPU device per core, that is "map"."""
  mode = config.seed_parallel
  if mode.isdigit():
    return int(mode)
  if mode != "auto":
    return mode
  platform = platform or jax.default_backend()
  if platform != "cpu":
    return "vmap"
  per_seed = config.batch * config.hidden * config.layers * config.seq_len * 4 * 4
  seeds = config.seeds // devices
  cores = max(1, (cores or usable_cores()) // devices)
  group = 1
  while (group * 2 <= min(seeds, cores) and seeds % (group * 2) == 0
         and per_seed * group * 2 <= _CPU_GROUP_BYTES):
    group *= 2
  if group == seeds:
    return "vmap"
  return "map" if group == 1 else group


def init_mode(config: Config, mode: str | int) -> str | int:
  """How each device runs its seeds during the init phase (an explicit --seed_parallel is obeyed).

  "auto" vmaps pre-training phases of a fixed length (warmup: short, small steps for which one vmapped
  program is at least as fast as seed groups; GRU 2 x 64 warmup of 16 seeds on 2 cores: 33 s against
  35 s for "map"), and maps those that stop per seed (LSC): vmapped, every seed would run as long as the
  slowest. BRC 2 x 64, 16 seeds on 2 cores: LSC pre-training 139 s mapped against about 370 s vmapped."""
  if config.seed_parallel != "auto":
    return mode
  return "map" if INITS[config.init].stops_early else "vmap"


def default_run_name(config: Config) -> str:
  depth = f"x{config.layers}" if config.layers > 1 else ""
  dbl = "-double" if config.double else ""
  return f"{config.task}-T{config.seq_len}-{config.cell}{depth}{dbl}-{config.init}-{results.timestamp()}"


def _status(state) -> tuple[list[str], list[int]]:
  """Per seed: "ok" or "diverged at step k (reason)", and the step itself (-1 while healthy)."""
  at, why = np.asarray(state.diverged_at), np.asarray(state.reason)
  return ["ok" if a < 0 else f"diverged at step {a} ({REASONS[w]})" for a, w in zip(at, why)], at.tolist()


def _multistability_line(m) -> str:
  m = jax.device_get(m)
  return (f"VAA {np.mean(m['vaa']):.3f} +- {np.std(m['vaa']):.3f}, stable equilibria "
          f"{np.mean(m['stable_equilibria']):.1f} (per seed {np.asarray(m['stable_equilibria']).tolist()}), "
          f"not converged {np.mean(m['not_converged']):.0%}")


def _radii_line(info) -> str:
  """The LSC pre-training in one line: who met the targets, how fast, mean radii before -> after."""
  info = jax.device_get(info)
  kinds = sorted(info["radii_after"])
  mean = lambda d, k: ", ".join(f"{v:.2f}" for v in np.mean(np.asarray(d[k]), axis=0))
  radii = "; ".join(f"{k} {mean(info['radii_before'], k)} -> {mean(info['radii_after'], k)}" for k in kinds)
  return (f"{int(np.sum(info['converged']))}/{len(info['steps'])} seeds met the targets, median "
          f"{int(np.median(info['steps']))} steps; mean radii per layer {radii}")


def run(config: Config, out: str = "runs", name: str | None = None,
        log: Callable[[str], None] = print) -> dict:
  """Trains ``config.seeds`` seeds and writes the run directory.

  Args:
    config: the run's configuration.
    out: parent directory of run directories.
    name: run directory name; an automatic, never-colliding one when None.
    log: where progress lines go.

  Returns:
    The summary dict also written to summary.json (plus "run_dir").
  """
  trainer = make_train(config)
  run_dir = results.new_run_dir(out, name, default_run_name(config))
  devices = seed_devices(config.seeds)
  mode = seed_parallel_mode(config, devices=len(devices))
  results.write_json(run_dir / "config.json", {**dataclasses.asdict(config), "resolved_seed_parallel": mode,
                                               "devices": len(devices), "platform": jax.default_backend(),
                                               "jax": jax.__version__})
  writer = results.MetricsWriter(run_dir / "metrics.jsonl")
  keys = jax.random.split(jax.random.key(config.seed), config.seeds)
  S = config.seeds

  def compiled(fn, mode, *example, donate=False):
    # Every program on all devices, except those that call LAPACK (exact spectral radii):
    # those run on one device (devices.compile_over_devices says why).
    return compile_over_devices(fn, mode, S, devices, *example, donate=donate)

  t0 = time.perf_counter()
  init = compiled(lambda k: trainer.init(k), init_mode(config, mode), keys)
  states, pretrain_info = init(keys)
  if jax.tree_util.tree_leaves(pretrain_info):  # what the init's pre-training phase measured, per seed
    results.write_json(run_dir / "pretrain.json", jax.tree_util.tree_map(np.asarray, jax.device_get(pretrain_info)))
    if "radii_after" in pretrain_info:
      log(f"[rnnstab] {config.init}: {_radii_line(pretrain_info)}")
  evaluate = compiled(trainer.evaluate, mode, states)
  n0 = jnp.int32(config.log_every)
  chunk_c = compiled(trainer.chunk, mode, states, n0, donate=True)
  evals0 = {f"eval_{k}": v for k, v in evaluate(states).items()}
  jax.block_until_ready((states, evals0))
  setup_s = time.perf_counter() - t0
  log(f"[rnnstab] {S} seeds of {config.cell} on {config.task} (T={config.seq_len}), seeds run as "
      f"{mode!r} on {len(chunk_c.devices)} {jax.default_backend()} device(s); compiled in {setup_s:.1f}s; "
      f"run dir {run_dir}")

  analysis_s = 0.0
  analyse = None
  if config.analysis_every:
    # Reachable multistability (VAA, stable equilibria): before the pre-training phase, at step 0 and
    # every analysis_every steps; timed apart from training. Only params and keys go to the analysis.
    ta = time.perf_counter()
    measure = compiled(lambda pk: trainer.analyse(*pk), mode, (states.params, states.analysis_key))

    def analyse(states):
      return measure((states.params, states.analysis_key))

    if trainer.pretrain is not None:
      raw = compiled(lambda k: trainer.analyse(trainer.initial_params(k), analysis_key(k)), mode, keys)(keys)
      writer.write(0, raw, _status(states)[0], 0.0, phase="before_pretrain")
      log(f"[rnnstab] before {config.init}: {_multistability_line(raw)}")
    first = analyse(states)
    evals0 = {**evals0, **first}
    log(f"[rnnstab] at step 0: {_multistability_line(first)}")
    analysis_s += time.perf_counter() - ta
  writer.write(0, evals0, _status(states)[0], 0.0)

  t1, analysis_before_training = time.perf_counter(), analysis_s
  done = 0
  last = jax.device_get(evals0)
  status, diverged_at = _status(states)
  interrupted = False
  try:
    for n in trainer.chunk_lengths():
      states, metrics = chunk_c(states, jnp.int32(n))
      metrics = jax.device_get(metrics)
      before, done = done, done + n
      if analyse is not None and (done // config.analysis_every > before // config.analysis_every
                                  or done == config.steps):
        ta = time.perf_counter()
        metrics = {**metrics, **jax.device_get(analyse(states))}
        analysis_s += time.perf_counter() - ta
      wall = time.perf_counter() - t1 - (analysis_s - analysis_before_training)
      status, diverged_at = _status(states)
      writer.write(done, metrics, status, wall)
      last = metrics
      healthy = [s == "ok" for s in status]
      score = np.asarray(metrics[f"eval_{trainer.task.metric}"])[healthy]
      eta = wall / done * (config.steps - done)
      score_txt = f"{np.mean(score):.4f} +- {np.std(score):.4f}" if score.size else "n/a"
      log(f"[step {done:>6}/{config.steps}] eval_{trainer.task.metric} {score_txt}  healthy {sum(healthy)}/{S}  "
          f"{wall:6.1f}s elapsed, ETA {eta:5.1f}s")
  except KeyboardInterrupt:
    # Keep what was computed: the summary below describes the last completed evaluation.
    interrupted = True
    log(f"[rnnstab] interrupted after {done} steps; writing the summary of what was computed")
  finally:
    writer.close()
  train_s = time.perf_counter() - t1 - (analysis_s - analysis_before_training)

  ok = [s == "ok" for s in status]
  finals = {k: [results.finite_or_none(v) for v in np.asarray(last[k])] for k in last if k != "train_loss"}
  summary = {
      "run_dir": str(run_dir),
      "task": config.task,
      "metric": f"eval_{trainer.task.metric}",
      "chance": trainer.task.chance,
      "completed_steps": done,
      "interrupted": interrupted,
      "healthy_seeds": int(sum(ok)),
      "final": {k: results.mean_std(v, ok) for k, v in finals.items()},
      "seeds": [{"seed": i, "status": status[i], "diverged_at": diverged_at[i],
                 "final": {k: v[i] for k, v in finals.items()}} for i in range(S)],
      "timing": {"setup_and_compile_s": round(setup_s, 3), "train_s": round(train_s, 3),
                 "sequences_per_s": round(S * done * config.batch / max(train_s, 1e-9), 1),
                 "multistability_analysis_s": round(analysis_s, 3),
                 "seed_parallel": mode, "devices": len(devices), "platform": jax.default_backend()},
  }
  results.write_json(run_dir / "summary.json", summary)
  title = f"{config.cell} / {config.init} on {config.task}, T={config.seq_len}, {S} seeds"
  results.plot_learning_curve(results.read_metrics(run_dir / "metrics.jsonl"), run_dir / "learning_curve.png",
                              f"eval_{trainer.task.metric}", trainer.task.chance, title)
  if analyse is not None:
    results.plot_multistability(results.read_metrics(run_dir / "metrics.jsonl"), run_dir / "multistability.png",
                                title)
  log(results.format_table(summary))
  log(f"[rnnstab] trained {done} steps in {train_s:.1f}s ({summary['timing']['sequences_per_s']:.0f} "
      f"sequences/s); results in {run_dir}")
  if interrupted:
    raise KeyboardInterrupt
  return summary
