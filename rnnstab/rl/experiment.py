"""One RL experiment end to end: S seeds of an agent trained in parallel, the greedy policy evaluated every
``eval_every`` episodes, every result on disk as soon as it is computed.

The run directory has the layout of a supervised run (``rnnstab.experiment``): config.json,
metrics.jsonl (one row per seed and evaluation; "step" counts training episodes), TensorBoard events,
summary.json, learning_curve.png (greedy return per seed) and, with ``analysis_every``,
multistability.png. The summary's headline is the warmup paper's metric: per seed, the first episode at
which the greedy policy is optimal from every evaluation start (both cues of the T-maze).
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

import json

from rnnstab import report, results
from rnnstab.analysis import measure
from rnnstab.devices import compile_over_devices, seed_devices
from rnnstab.experiment import init_mode, progress_bar, seed_parallel_mode
from rnnstab.rl.agents import make_agent
from rnnstab.rl.config import RLConfig
from rnnstab.rl.rollout import Histories, input_size
from rnnstab.cost import cell_cost
from rnnstab.tensorboard import TensorBoardWriter

METRIC = "eval_greedy_return"


def default_run_name(config: RLConfig) -> str:
  depth = f"x{config.layers}" if config.layers > 1 else ""
  dbl = "-double" if config.double else ""
  return (f"{results.name_part(config.env)}-L{config.length}-{config.agent}-{config.cell}{depth}{dbl}-{config.init}-"
          f"{results.timestamp()}")


def first_optimal(rows: list[dict], seeds: int) -> list[int | None]:
  """Per seed, the first evaluated episode at which its greedy policy was optimal (None: never)."""
  first = [None] * seeds
  for r in sorted(rows, key=lambda r: r["step"]):
    if r.get("phase") is None and r.get("eval_optimal") == 1.0 and first[r["seed"]] is None:
      first[r["seed"]] = r["step"]
  return first


def _analysis(agent, config):
  """Reachable multistability of each seed's recurrent core on exploration histories (fixed per seed)."""
  histories = Histories(agent.env)

  def analyse(params, key):
    inputs = histories.sample(key, config.analysis_samples).inputs
    m = measure(agent.model.cell, params["cell"], inputs, jax.random.fold_in(key, 1), steps=config.analysis_steps)
    return {"vaa": m.vaa, "stable_equilibria": m.stable_equilibria, "unstable": m.unstable,
            "not_converged": m.not_converged}
  return analyse


def run(config: RLConfig, out: str = "runs", name: str | None = None, log: Callable[[str], None] = print,
        stop_when_optimal: bool = False) -> dict:
  """Trains ``config.seeds`` seeds of ``config.agent`` on ``config.env`` and writes the run directory.

  Args:
    config: the run's ``RLConfig``.
    out: parent directory of run directories.
    name: run directory name; an automatic, never-colliding one when None.
    log: where progress lines go.
    stop_when_optimal: end the run at the first evaluation at which every seed has been optimal once
      (their first-optimal episodes are then all known; the curves stop there).

  Returns:
    The summary dict also written to summary.json (plus "run_dir").
  """
  agent = make_agent(config)  # every invalid combination fails here, before a run directory exists
  run_dir = results.new_run_dir(out, name, default_run_name(config))
  devices = seed_devices(config.seeds)
  mode = seed_parallel_mode(config, devices=len(devices))
  S = config.seeds
  keys = jax.random.split(jax.random.key(config.seed), S)
  iterations = lambda episodes: jnp.int32(episodes // agent.episodes_per_iteration)
  results.write_json(run_dir / "config.json", {**dataclasses.asdict(config), "kind": "rl",
                                               "stop_when_optimal": stop_when_optimal, "resolved_lr": config.learning_rate,
                                               "resolved_eval_every": config.period, "resolved_seed_parallel": mode,
                                               "devices": len(devices), "platform": jax.default_backend(),
                                               "jax": jax.__version__})
  t0 = time.perf_counter()
  states, info = compile_over_devices(agent.init, init_mode(config, mode), S, devices, keys)(keys)
  info = jax.device_get(info)
  if jax.tree_util.tree_leaves(info):
    results.write_json(run_dir / "pretrain.json", jax.tree_util.tree_map(np.asarray, info))
  evaluate = compile_over_devices(lambda s: {f"eval_{k}": v for k, v in agent.evaluate(s).items()}, mode, S,
                                  devices, states)
  chunk = compile_over_devices(agent.chunk, mode, S, devices, states, iterations(config.period), donate=True)
  analyse = None
  if config.analysis_every:
    analysis_keys = jax.vmap(lambda k: jax.random.fold_in(k, 0x5EED))(keys)
    measure_c = compile_over_devices(lambda pk: _analysis(agent, config)(*pk), mode, S, devices,
                                     (states.params, analysis_keys))
    analyse = lambda states: jax.device_get(measure_c((states.params, analysis_keys)))
  setup_s = time.perf_counter() - t0
  log(f"[rnnstab] {S} seeds of {config.agent} / {config.cell} ({config.init}) on {config.env} L={config.length} "
      f"(horizon {agent.env.horizon}), seeds run as {mode!r} on {len(devices)} {jax.default_backend()} device(s); "
      f"compiled in {setup_s:.1f}s; run dir {run_dir}")

  writer = results.MetricsWriter(run_dir / "metrics.jsonl")
  board = TensorBoardWriter(run_dir / "tensorboard", S)
  status = ["ok"] * S
  last = jax.device_get(evaluate(states))
  analysis_s = 0.0
  if analyse is not None:
    ta = time.perf_counter()
    last = {**last, **analyse(states)}
    analysis_s += time.perf_counter() - ta
  writer.write(0, last, status, 0.0)
  board.write(0, last, status)
  first = [0 if o == 1.0 else None for o in np.asarray(last["eval_optimal"])]
  start_params = jax.device_get(jax.tree_util.tree_map(lambda a: a[0], states.params)) \
      if report.wanted(config) else None  # seed 0 as it starts training, for the report
  t1, done, interrupted = time.perf_counter(), 0, False
  elapsed = lambda: time.perf_counter() - t1 - analysis_s
  try:
    for n in config.chunk_episodes():
      if stop_when_optimal and all(f is not None for f in first):
        break
      states, metrics = chunk(states, iterations(n))
      metrics = jax.device_get(metrics)
      before, done = done, done + n
      if analyse is not None and (done // config.analysis_every > before // config.analysis_every
                                  or done == config.episodes):
        ta = time.perf_counter()
        metrics = {**metrics, **analyse(states)}
        analysis_s += time.perf_counter() - ta
      loss = np.asarray(metrics["td_loss" if config.agent == "drqn" else "loss"])
      status = [s if s != "ok" or np.isfinite(v) else f"diverged by episode {done} (non-finite loss)"
                for s, v in zip(status, loss)]
      wall = elapsed()
      writer.write(done, metrics, status, wall)
      board.write(done, metrics, status)
      last = metrics
      first = [f if f is not None or o != 1.0 else done for f, o in zip(first, np.asarray(metrics["eval_optimal"]))]
      eta = wall / done * (config.episodes - done)
      log(f"[episode {done:>6}/{config.episodes}] {progress_bar(done, config.episodes)}  greedy return "
          f"{np.mean(metrics[METRIC]):.3f}  optimal {int(np.sum(metrics['eval_optimal']))}/{S}  "
          f"ever optimal {sum(f is not None for f in first)}/{S}  {wall:6.1f}s elapsed, ETA {eta:5.1f}s")
  except KeyboardInterrupt:
    interrupted = True
    log(f"[rnnstab] interrupted after {done} episodes; writing the summary of what was computed")
  finally:
    writer.close()
    board.close()
  train_s = elapsed()

  ok = [s == "ok" for s in status]
  finals = {k: [results.finite_or_none(v) for v in np.asarray(vals)] for k, vals in last.items()}
  solved = [f for f in first if f is not None]
  summary = {
      "run_dir": str(run_dir),
      "env": config.env,
      "length": config.length,
      "agent": config.agent,
      "metric": METRIC,
      "optimal_return": agent.env.optimal_return,
      "completed_episodes": done,
      "interrupted": interrupted,
      "stopped_when_optimal": bool(stop_when_optimal and done < config.episodes),
      "healthy_seeds": int(sum(ok)),
      "first_optimal_episode": first,
      "optimal_seeds": len(solved),
      "first_optimal": results.mean_std([float(f) for f in solved], [True] * len(solved)),
      "first_optimal_median": float(np.median(solved)) if solved else None,
      "final": {k: results.mean_std(v, ok) for k, v in finals.items()},
      "seeds": [{"seed": i, "status": status[i], "first_optimal_episode": first[i],
                 "final": {k: v[i] for k, v in finals.items()}} for i in range(S)],
      "cost": cell_cost(agent.model.cell, input_size(agent.env)).as_dict(),
      "timing": {"setup_and_compile_s": round(setup_s, 3), "train_s": round(train_s, 3),
                 "episodes_per_s": round(S * done / max(train_s, 1e-9), 1),
                 "multistability_analysis_s": round(analysis_s, 3), "seed_parallel": mode,
                 "devices": len(devices), "platform": jax.default_backend()},
  }
  results.write_json(run_dir / "summary.json", summary)
  rows = results.read_metrics(run_dir / "metrics.jsonl")
  title = f"{config.agent} / {config.cell} / {config.init} on {config.env} L={config.length}, {S} seeds"
  results.plot_learning_curve(rows, run_dir / "learning_curve.png", METRIC, agent.env.optimal_return, title,
                              xlabel="training episode", chance_label="optimal return")
  if analyse is not None:
    results.plot_multistability(rows, run_dir / "multistability.png", title, xlabel="training episode")
  if report.wanted(config):
    stages = {"at initialisation": jax.jit(agent.seed_params)(keys[0])}
    if agent.pretrain is not None:
      stages["after pre-training"] = start_params
    stages["after training"] = jax.device_get(jax.tree_util.tree_map(lambda a: a[0], states.params))
    report.write_report(run_dir, title=title, summary=summary,
                        config=json.loads((run_dir / "config.json").read_text()), cell=agent.model.cell,
                        stages=stages, inputs=Histories(agent.env).sample(jax.random.key(7), 16).inputs,
                        key=jax.random.key(8))
  log(results.format_table(summary))
  log(f"[rnnstab] optimal from every start: {len(solved)}/{S} seeds, first at episode "
      f"{results.pm(solved, 0) if solved else 'never'} (per seed {first}); {done} episodes in {train_s:.1f}s; "
      f"results in {run_dir}")
  if interrupted:
    raise KeyboardInterrupt
  return summary
