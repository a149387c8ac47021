"""One experiment end to end: S seeds trained in parallel, evaluated every ``log_every`` steps, with every
result on disk as soon as it is computed (metrics.jsonl, TensorBoard events) and the training state
checkpointed every ``checkpoint_every`` steps, so that ``resume`` continues a killed run to the numbers
it would have had. ``experiments/run.py`` is a thin command line over ``run`` and ``resume``."""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from rnnstab import hosts, report, results
from rnnstab.checkpoints import Checkpointer
from rnnstab.config import Config
from rnnstab.cost import cell_cost
from rnnstab.devices import compile_over_devices, seed_devices, seed_sharding, usable_cores, use_every_core
from rnnstab.tensorboard import TensorBoardWriter
from rnnstab.inits import INITS
from rnnstab.train import REASONS, make_train

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
  if seeds <= 1:  # vmap of one seed keeps a size-1 batch axis in every product: 1.6x slower (PLRNN)
    return "map"
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
  return (f"{results.name_part(config.task)}-T{config.seq_len}-{config.cell}{depth}{dbl}-{config.init}-"
          f"{results.timestamp()}")


def _status(state) -> tuple[list[str], list[int]]:
  """Per seed: "ok" or "diverged at step k (reason)", and the step itself (-1 while healthy)."""
  at, why = (np.asarray(x) for x in hosts.gather((state.diverged_at, state.reason)))
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


def progress_bar(done: int, total: int, width: int = 20) -> str:
  """``[#####...............]  25%``: how far a run is, for its log lines."""
  filled = width * done // max(total, 1)
  return f"[{'#' * filled}{'.' * (width - filled)}] {100 * done // max(total, 1):3d}%"


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
  make_train(config)  # every invalid combination fails here, before a run directory exists
  # Process 0 picks the (timestamped) name; every process needs it for its shards of the checkpoints.
  run_dir = str(results.new_run_dir(out, name, default_run_name(config))) if hosts.is_writer() else ""
  return _train(config, Path(hosts.broadcast_string(run_dir)), log, resume=False)


def resume(run_dir: str | os.PathLike, log: Callable[[str], None] = print, steps: int | None = None) -> dict:
  """Continues the run in ``run_dir`` from its latest checkpoint (from the start when it has none).

  The configuration is the run's own (config.json). Rows of metrics.jsonl after the checkpoint, written
  before the run was killed, are dropped and recomputed; the run ends with the numbers it would have had
  without the interruption. A finished run is left as it is, unless ``steps`` extends it.

  Args:
    run_dir: the run directory.
    log: where progress lines go.
    steps: the run's new total of training steps, at least its configured ``steps``: a finished run then
      trains on from its final checkpoint and ends with the numbers of a run configured for ``steps``
      from the start (each batch depends on its step alone, and the learning rate on nothing else).
      config.json then says ``steps`` and lists the earlier totals under "extended_from". None: the
      run's own total.

  Returns:
    The run's summary dict (plus "run_dir").
  """
  run_dir = Path(run_dir)
  if not (run_dir / "config.json").is_file():
    raise FileNotFoundError(f"--resume: {run_dir} is not a run directory (it has no config.json)")
  saved = json.loads((run_dir / "config.json").read_text())
  config = Config(**{f.name: saved[f.name] for f in dataclasses.fields(Config) if f.name in saved})
  summary = json.loads((run_dir / "summary.json").read_text()) if (run_dir / "summary.json").is_file() else None
  if steps is not None and steps != config.steps:
    diverged = summary is not None and summary.get("all_diverged")
    config = _extend(run_dir, config, saved, steps, write=not diverged)
    if diverged:  # a diverged seed's state is frozen: more steps could change nothing
      log(f"[rnnstab] every seed of {run_dir} diverged (by step {summary['completed_steps']}); nothing to extend")
      return {**summary, "run_dir": str(run_dir)}
  if summary is not None and not summary.get("interrupted") and summary.get("completed_steps") == config.steps:
    log(f"[rnnstab] {run_dir} has finished all {config.steps} steps; nothing to resume")
    return {**summary, "run_dir": str(run_dir)}
  return _train(config, run_dir, log, resume=True)


def _extend(run_dir: Path, config: Config, saved: dict, steps: int, write: bool = True) -> Config:
  """``config`` with ``steps`` steps in all, checked and (with ``write``) written to the run's config.json
  before any training, so that an extension killed half-way resumes to the new total."""
  if not isinstance(steps, int) or isinstance(steps, bool) or steps < config.steps:
    raise ValueError(f"--steps: {run_dir} was configured for {config.steps} steps; with --resume, --steps "
                     f"can only extend a run (a total of at least {config.steps}), got {steps!r}")
  if not config.checkpoint_every:
    raise ValueError(f"--steps: {run_dir} kept no checkpoints (checkpoint_every=0), so it cannot be extended")
  if write and hosts.is_writer():
    results.write_json(run_dir / "config.json", {**saved, "steps": steps,
                                                 "extended_from": saved.get("extended_from", []) + [config.steps]})
  return dataclasses.replace(config, steps=steps)


def _meta(done: int, train_s: float, analysis_s: float, last: dict, resumed_at: list) -> dict:
  """The host-side loop's state saved with a checkpoint (JSON: NaN becomes null)."""
  return {"done": done, "train_s": train_s, "analysis_s": analysis_s, "resumed_at": resumed_at,
          "last": {k: [results.finite_or_none(v) for v in np.asarray(vals)] for k, vals in last.items()}}


def _train(config: Config, run_dir: Path, log: Callable[[str], None], resume: bool) -> dict:
  """The body of ``run`` and ``resume``; every process of a multi-host run calls it, process 0 writes."""
  trainer = make_train(config)
  devices = seed_devices(config.seeds)
  mode = seed_parallel_mode(config, devices=len(devices))
  keys = jax.random.split(jax.random.key(config.seed), config.seeds)
  S = config.seeds
  write = hosts.is_writer()
  if not write:
    log = lambda s: None
  ckpt = Checkpointer(run_dir / "checkpoints") if config.checkpoint_every else None
  start = ckpt.latest_step() if (resume and ckpt is not None) else None

  def compiled(fn, mode, *example, donate=False):
    # Every program on all devices, except those that call LAPACK (exact spectral radii):
    # those run on one device (devices.compile_over_devices says why).
    return compile_over_devices(fn, mode, S, devices, *example, donate=donate)

  t0 = time.perf_counter()
  if start is None:
    if write:
      if resume:  # nothing was checkpointed: start again from scratch, in the same directory
        results.truncate_metrics(run_dir / "metrics.jsonl", up_to_step=-1)
        shutil.rmtree(run_dir / "tensorboard", ignore_errors=True)
      results.write_json(run_dir / "config.json", {**dataclasses.asdict(config), "resolved_seed_parallel": mode,
                                                   "devices": len(devices), "processes": jax.process_count(),
                                                   "platform": jax.default_backend(), "jax": jax.__version__})
    raw_params = None
    if config.analysis_every and trainer.pretrain is not None:
      # The params before pre-training come out of the init program for the measurement before it:
      # compiling initial_params again costs seconds (one threefry per weight on XLA:CPU).
      def init_keeping_initial(k):
        params = trainer.initial_params(k)
        return trainer.init_from(k, params), params

      (states, pretrain_info), raw_params = compiled(init_keeping_initial, init_mode(config, mode), keys)(keys)
    else:
      states, pretrain_info = compiled(lambda k: trainer.init(k), init_mode(config, mode), keys)(keys)
    pretrain_info = hosts.gather(pretrain_info)
    if write and jax.tree_util.tree_leaves(pretrain_info):  # what the init's pre-training phase measured
      results.write_json(run_dir / "pretrain.json", jax.tree_util.tree_map(np.asarray, pretrain_info))
    if "radii_after" in pretrain_info:
      log(f"[rnnstab] {config.init}: {_radii_line(pretrain_info)}")
    done, train_s_before, analysis_s, resumed_at = 0, 0.0, 0.0, []
  else:
    like = jax.eval_shape(jax.vmap(lambda k: trainer.init(k)[0]), keys)
    sharding = seed_sharding(devices)
    like = jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding), like)
    states, meta = ckpt.restore(like, start)
    done, train_s_before, analysis_s = meta["done"], meta["train_s"], meta["analysis_s"]
    resumed_at = meta["resumed_at"] + [done]
    last = {k: np.asarray([np.nan if v is None else v for v in vals], np.float64) for k, vals in meta["last"].items()}
    if write:
      results.truncate_metrics(run_dir / "metrics.jsonl", up_to_step=done)
  writer = results.MetricsWriter(run_dir / "metrics.jsonl") if write else None
  # On a resumed run, TensorBoard drops the events after the checkpoint that the killed run had written.
  board = TensorBoardWriter(run_dir / "tensorboard", S, purge_step=done + 1 if start is not None else None) \
      if write else None

  def record(step, metrics, status, wall, phase=None):
    if write:
      writer.write(step, metrics, status, wall, phase=phase)
      if phase is None:
        board.write(step, metrics, status)

  evaluate = compiled(trainer.evaluate, mode, states)
  chunk_c = compiled(trainer.chunk, mode, states, jnp.int32(config.log_every), donate=True)
  analyse = None
  if config.analysis_every:
    measure_c = compiled(lambda pk: trainer.analyse(*pk), mode, (states.params, states.analysis_key))

    def analyse(states):
      return hosts.gather(measure_c((states.params, states.analysis_key)))

  if start is None:
    last = {f"eval_{k}": v for k, v in hosts.gather(evaluate(states)).items()}
  setup_s = time.perf_counter() - t0
  where = f"resumed at step {done} in" if start is not None else "run dir"
  log(f"[rnnstab] {S} seeds of {config.cell} on {config.task} (T={config.seq_len}), seeds run as "
      f"{mode!r} on {len(chunk_c.devices)} {jax.default_backend()} device(s)"
      f"{f' of {jax.process_count()} processes' if jax.process_count() > 1 else ''}; compiled in {setup_s:.1f}s; "
      f"{where} {run_dir}")

  if start is None:
    if analyse is not None:
      # Reachable multistability (VAA, stable equilibria): before the pre-training phase, at step 0 and
      # every analysis_every steps; timed apart from training. Only params and keys go to the analysis.
      ta = time.perf_counter()
      if trainer.pretrain is not None:
        # The same compiled measurement, on the params before pre-training (same shapes): one compile less.
        raw = hosts.gather(measure_c((raw_params, states.analysis_key)))
        record(0, raw, _status(states)[0], 0.0, phase="before_pretrain")
        log(f"[rnnstab] before {config.init}: {_multistability_line(raw)}")
      first = analyse(states)
      last = {**last, **first}
      log(f"[rnnstab] at step 0: {_multistability_line(first)}")
      analysis_s += time.perf_counter() - ta
    record(0, last, _status(states)[0], 0.0)
    if ckpt is not None:  # the init's pre-training phase is never redone
      ckpt.save(0, states, _meta(0, 0.0, analysis_s, last, resumed_at))

  # Seed 0 as it starts training, for the report (the states are donated to the first chunk).
  # (Gathered on every process: a multi-host run's seeds are spread over the hosts.)
  seed0 = lambda params: jax.tree_util.tree_map(lambda a: a[0], hosts.gather(params))
  start_params = seed0(states.params) if (report.wanted(config) and start is None) else None
  t1, analysis_at_start, done_at_start = time.perf_counter(), analysis_s, done
  status, diverged_at = _status(states)
  interrupted = all_diverged = False
  elapsed = lambda: train_s_before + time.perf_counter() - t1 - (analysis_s - analysis_at_start)
  try:
    end = 0
    for n in trainer.chunk_lengths():
      end += n
      if end <= done:  # chunks that a resumed run's checkpoint holds already
        continue
      # An extended run's last checkpoint may lie inside one of its new chunks: train to that chunk's end.
      states, metrics = chunk_c(states, jnp.int32(min(n, end - done)))
      metrics = hosts.gather(metrics)
      before, done = done, end
      if analyse is not None and (done // config.analysis_every > before // config.analysis_every
                                  or done == config.steps):
        ta = time.perf_counter()
        metrics = {**metrics, **analyse(states)}
        analysis_s += time.perf_counter() - ta
      wall = elapsed()
      status, diverged_at = _status(states)
      record(done, metrics, status, wall)
      last = metrics
      if ckpt is not None and (done // config.checkpoint_every > before // config.checkpoint_every
                               or done == config.steps):
        ckpt.save(done, states, _meta(done, wall, analysis_s, metrics, resumed_at))
      healthy = [s == "ok" for s in status]
      # float64: a healthy seed's evaluation can be huge (MSE 1e30 on the way to diverging), and its
      # square would overflow float32 in the std.
      score = np.asarray(metrics[f"eval_{trainer.task.metric}"], np.float64)[healthy]
      eta = (wall - train_s_before) / (done - done_at_start) * (config.steps - done)
      score_txt = f"{np.mean(score):.4f} +- {np.std(score):.4f}" if score.size else "n/a"
      log(f"[step {done:>6}/{config.steps}] {progress_bar(done, config.steps)}  eval_{trainer.task.metric} "
          f"{score_txt}  healthy {sum(healthy)}/{S}  {wall:6.1f}s elapsed, ETA {eta:5.1f}s")
      if not any(healthy) and done < config.steps:
        # A diverged seed stays diverged (its state is frozen), so the remaining steps could change nothing.
        all_diverged = True
        log(f"[rnnstab] every seed has diverged; stopping after {done} steps")
        break
  except KeyboardInterrupt:
    # Keep what was computed: the summary below describes the last completed evaluation.
    interrupted = True
    log(f"[rnnstab] interrupted after {done} steps; writing the summary of what was computed")
  finally:
    if write:
      writer.close()
      board.close()
    if ckpt is not None:
      ckpt.close()
  train_s = elapsed()
  final_params = seed0(states.params) if report.wanted(config) else None
  if not write:
    return {"run_dir": str(run_dir), "completed_steps": done, "interrupted": interrupted}

  ok = [s == "ok" for s in status]
  finals = {k: [results.finite_or_none(v) for v in np.asarray(last[k])] for k in last if k != "train_loss"}
  summary = {
      "run_dir": str(run_dir),
      "task": config.task,
      "metric": f"eval_{trainer.task.metric}",
      "chance": trainer.task.chance,
      "completed_steps": done,
      "interrupted": interrupted,
      "all_diverged": all_diverged,
      "resumed_at": resumed_at,
      "extended_from": json.loads((run_dir / "config.json").read_text()).get("extended_from", []),
      "healthy_seeds": int(sum(ok)),
      "final": {k: results.mean_std(v, ok) for k, v in finals.items()},
      "seeds": [{"seed": i, "status": status[i], "diverged_at": diverged_at[i],
                 "final": {k: v[i] for k, v in finals.items()}} for i in range(S)],
      "cost": cell_cost(trainer.model.cell, trainer.task.input_size).as_dict(),
      "timing": {"setup_and_compile_s": round(setup_s, 3), "train_s": round(train_s, 3),
                 "sequences_per_s": round(S * done * config.batch / max(train_s, 1e-9), 1),
                 "multistability_analysis_s": round(analysis_s, 3),
                 "seed_parallel": mode, "devices": len(devices), "processes": jax.process_count(),
                 "platform": jax.default_backend()},
  }
  results.write_json(run_dir / "summary.json", summary)
  title = f"{config.cell} / {config.init} on {config.task}, T={config.seq_len}, {S} seeds"
  results.plot_learning_curve(results.read_metrics(run_dir / "metrics.jsonl"), run_dir / "learning_curve.png",
                              f"eval_{trainer.task.metric}", trainer.task.chance, title)
  if analyse is not None:
    results.plot_multistability(results.read_metrics(run_dir / "metrics.jsonl"), run_dir / "multistability.png",
                                title)
  if report.wanted(config):
    _report(config, trainer, run_dir, summary, keys[0], start_params, final_params, title)
  log(results.format_table(summary))
  log(f"[rnnstab] trained {done} steps in {train_s:.1f}s ({summary['timing']['sequences_per_s']:.0f} "
      f"sequences/s); results in {run_dir}")
  if interrupted:
    raise KeyboardInterrupt
  return summary


def _report(config: Config, trainer, run_dir: Path, summary: dict, key, start_params, final_params, title: str):
  """report.html of a finished (or interrupted) run: seed 0 at initialisation, after the pre-training phase
  (when the run had one and started here, not from a checkpoint) and after training."""
  stages = {"at initialisation": jax.jit(trainer.initial_params)(key)}
  if trainer.pretrain is not None and start_params is not None:
    stages["after pre-training"] = start_params
  stages["after training"] = final_params
  batch = trainer.task.sample(jax.random.key(7), 16)
  loss_of = lambda p: (lambda ys: jnp.mean(trainer.task.loss(trainer.model.readout(p["readout"], ys), batch.targets,
                                                             batch.mask)))
  saved = json.loads((run_dir / "config.json").read_text())
  report.write_report(run_dir, title=title, summary=summary, config=saved, cell=trainer.model.cell, stages=stages,
                      inputs=batch.inputs, loss_of=loss_of, key=jax.random.key(8))


def study_main(script: str, study: Callable[[], None]) -> None:
  """The body of a study script's ``main``: JAX's INFO lines kept out of the printed tables, every CPU core
  used (before any JAX computation), and bad input (a ValueError) reported as the one line
  ``script: error: ...`` with exit code 2."""
  from absl import logging
  logging.set_verbosity(logging.WARNING)
  use_every_core()
  try:
    study()
  except ValueError as e:
    print(f"{script}: error: {e}", file=sys.stderr)
    sys.exit(2)
