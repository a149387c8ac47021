"""Run directories and what goes in them: config.json, metrics.jsonl, summary.json, learning_curve.png.

Files other than the append-only metrics.jsonl are written atomically (temporary file + rename), and
metrics.jsonl is flushed after every evaluation, so a killed run keeps everything it had computed.
"""
from __future__ import annotations

import collections
import json
import math
import os
import re
import time
import warnings
from pathlib import Path

import numpy as np


class RunDirExists(ValueError):
  """The run directory asked for exists already; runs never overwrite one."""


def name_part(spec: str) -> str:
  """A task or environment spec as part of a directory name: "recall:delay=10" -> "recall-delay-10"
  (colons and equals signs upset shells, scp and Windows)."""
  return re.sub(r"[^A-Za-z0-9._-]+", "-", spec)


def new_run_dir(root: str | os.PathLike, name: str | None, default_name: str) -> Path:
  """Creates and returns a fresh run directory under ``root``.

  An explicit ``name`` that exists is an error; an automatic ``default_name`` gets a -2, -3, ... suffix.
  """
  root = Path(root)
  root.mkdir(parents=True, exist_ok=True)
  if name is not None:
    path = root / name
    try:
      path.mkdir()
    except FileExistsError:
      raise RunDirExists(f"--name: run directory {path} already exists; choose another --name or --out") from None
    return path
  for i in range(1, 10_000):
    path = root / (default_name if i == 1 else f"{default_name}-{i}")
    try:
      path.mkdir()
      return path
    except FileExistsError:
      continue
  raise RunDirExists(f"--out: could not find a free run directory name under {root}")


def write_json(path: str | os.PathLike, obj) -> None:
  """Writes JSON atomically: readers see the old file or the new one, never half of one."""
  path = Path(path)
  tmp = path.with_name(path.name + ".tmp")
  tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_jsonable) + "\n")
  os.replace(tmp, path)


def _jsonable(x):
  if isinstance(x, (np.floating, np.integer)):
    return x.item()
  if isinstance(x, np.ndarray):
    return x.tolist()
  raise TypeError(f"not JSON serialisable: {type(x).__name__}")


def finite_or_none(v):
  v = float(v)
  return v if math.isfinite(v) else None  # JSON has no NaN; null marks a missing value


class MetricsWriter:
  """Appends one JSON line per seed and evaluation to metrics.jsonl, flushed at once."""

  def __init__(self, path: str | os.PathLike):
    self._f = open(path, "a", buffering=1)

  def write(self, step: int, metrics: dict, status: list[str], wall: float, phase: str | None = None) -> None:
    """One row per seed; ``phase`` tags rows that are not the state after ``step`` training steps (e.g.
    "before_pretrain": the network before its init's pre-training phase)."""
    n = len(status)
    for i in range(n):
      row = {"seed": i, "step": step, "status": status[i], "wall_s": round(wall, 3)}
      if phase is not None:
        row["phase"] = phase
      row.update({k: finite_or_none(np.asarray(v)[i]) for k, v in metrics.items()})
      self._f.write(json.dumps(row) + "\n")
    self._f.flush()
    os.fsync(self._f.fileno())

  def close(self):
    self._f.close()


# Fields that pace a run's evaluations and checkpoints without changing what it trains.
PACING = ("log_every", "checkpoint_every")


def _runs(out: str | os.PathLike):
  """(run dir, config.json, summary.json or None while unfinished) of every run directory under ``out``."""
  for path in sorted(Path(out).glob("*/config.json")):
    try:
      saved = json.loads(path.read_text())
      summary = path.with_name("summary.json")
      yield path.parent, saved, json.loads(summary.read_text()) if summary.is_file() else None
    except (OSError, ValueError):
      continue


def _same(saved: dict, config, ignore=()) -> bool:
  """Whether a config.json ran ``config`` (a field missing from an older config.json counts as its default,
  which is what such a run ran with), fields named in ``ignore`` aside."""
  import dataclasses
  return all(saved.get(f.name, f.default) == getattr(config, f.name)
             for f in dataclasses.fields(config) if f.name not in ignore)


def finished_summary(out: str | os.PathLike, config, ignore=()) -> dict | None:
  """The summary of a finished, uninterrupted run of exactly ``config`` (a config dataclass: every field must
  match its config.json, except those named in ``ignore``, e.g. ``PACING``) among the run directories under
  ``out``, if there is one: the study scripts reuse the runs a stopped report had finished."""
  for _, saved, summary in _runs(out):
    if summary is None or summary.get("interrupted") or not _same(saved, config, ignore):
      continue
    # An extension that was killed leaves the summary of the shorter run it extends.
    if summary.get("all_diverged") or summary.get("completed_steps", saved.get("steps")) == saved.get("steps"):
      return summary
  return None


def run_to_continue(out: str | os.PathLike, config) -> Path | None:
  """A run directory under ``out`` of ``config`` (``PACING`` aside) that stopped short of ``config.steps``,
  killed, interrupted or finished with fewer steps, and has checkpoints to continue from; the one
  configured for the most steps. A study script continues it
  (``experiment.resume(run_dir, steps=config.steps)``) rather than training from scratch. (Not for a
  directory that another process is still writing.)"""
  found = [(saved.get("steps", config.steps), run_dir) for run_dir, saved, _ in _runs(out)
           if saved.get("steps", config.steps) <= config.steps and (run_dir / "checkpoints").is_dir()
           and _same(saved, config, ("steps", *PACING))]
  return max(found)[1] if found else None


def truncate_metrics(path: str | os.PathLike, up_to_step: int) -> None:
  """Keeps the rows of metrics.jsonl at steps <= ``up_to_step`` (a resumed run recomputes the others),
  rewriting the file atomically; -1 drops every row. A missing file stays missing."""
  path = Path(path)
  if not path.exists():
    return
  keep = [line for line in path.read_text().splitlines(keepends=True)
          if line.strip() and json.loads(line)["step"] <= up_to_step]
  tmp = path.with_name(path.name + ".tmp")
  tmp.write_text("".join(keep))
  os.replace(tmp, path)


def read_metrics(path: str | os.PathLike) -> list[dict]:
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


# A seed has learnt a task once its test score crosses this (MSE tasks: chance is 1 for copy / denoising).
# NARMA10: NRMSE 0.2 is about where a good reservoir of a few hundred units lands (Jaeger 2002 reports ~0.1).
# recall: r2 0.9 (MSE below a tenth of the input's variance) marks a delay k as learnt, the k* criterion.
# chorales: NLL 9 nats per frame is about where Chung et al. 2014's tanh RNN, GRU and LSTM end (8.5-8.8).
SOLVED = {"mse": ("<", 0.1), "accuracy": (">=", 0.9), "nrmse": ("<", 0.2), "r2": (">=", 0.9), "nll": ("<", 9.0)}


def steps_to_solve(rows: list[dict], metric: str, seeds: int) -> list[int]:
  """For each seed that solved the task (``SOLVED[metric]``), the first logged training step where it had;
  rows tagged with a phase (measurements before pre-training) do not count."""
  op, bound = SOLVED[metric]
  key = f"eval_{metric}"
  solved = (lambda v: v < bound) if op == "<" else (lambda v: v >= bound)
  first = []
  for seed in range(seeds):
    hit = [r["step"] for r in rows if r["seed"] == seed and r.get("phase") is None and r.get(key) is not None
           and solved(r[key])]
    if hit:
      first.append(min(hit))
  return first


# A regression seed has left chance once its test MSE is below this: a sixteenth of the addition problem's
# chance MSE (1/6) and a fifth of multiplication's (0.049), where the accuracy |error| < 0.04 still swings.
LEFT_CHANCE = 0.01


def best_accuracy(rows: list[dict]) -> dict[int, float]:
  """Each seed's best test accuracy over its training evaluations (rows with a phase left out)."""
  best = {}
  for r in rows:
    if r.get("phase") is None and r.get("eval_accuracy") is not None:
      best[r["seed"]] = max(r["eval_accuracy"], best.get(r["seed"], 0.0))
  return best


def progress_table(title: str, rows: list[dict], seeds: int, every: int, chance_mse: float | None) -> list[str]:
  """One run's progress over training, as Markdown lines.

  Args:
    title: what the run is, e.g. "rplrnn, T = 400".
    rows: its metrics.jsonl rows (rows with a phase, measurements before training, are left out).
    seeds: how many seeds it trained.
    every: a row for each evaluated step > 0 that is a multiple of this, and for the last one (a run that
      stopped early, every seed diverged, or a budget that is not a multiple, still ends with its row).
    chance_mse: the task's chance MSE, for the left-chance columns; None (classification) leaves them out.

  Returns:
    A title line, a table (step, mean test accuracy over the seeds evaluated there, seeds that have passed
    accuracy 0.9 so far, and with ``chance_mse`` the seeds below test MSE ``LEFT_CHANCE`` at that step and
    at any step so far; a seed counts until it diverges, and how many have, when any did), then each
    seed's final (best) accuracy, "diverged" for a seed that did.
  """
  at = collections.defaultdict(dict)
  for r in rows:
    if r.get("phase") is None:
      at[r["step"]][r["seed"]] = r
  regression = chance_mse is not None
  head = ["step", "mean accuracy", "seeds >= 0.9 so far"]
  if regression:
    head += [f"seeds below MSE {LEFT_CHANCE}", f"below MSE {LEFT_CHANCE} so far"]
  diverged_any = any(r.get("status") not in (None, "ok") for step in at.values() for r in step.values())
  if diverged_any:
    head.append("diverged so far")
  note = f" (chance MSE {chance_mse:.3g})" if regression else ""
  lines = [f"{title}, over training{note}", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  passed, left, diverged, final = set(), set(), set(), {}
  best = best_accuracy(rows)
  last = max(at, default=0)
  for step in sorted(at):
    diverged |= {s for s, r in at[step].items() if r.get("status") not in (None, "ok")}
    healthy = {s: r for s, r in at[step].items() if s not in diverged}
    acc = {s: r["eval_accuracy"] for s, r in healthy.items() if r.get("eval_accuracy") is not None}
    below = {s for s, r in healthy.items() if r.get("eval_mse") is not None and r["eval_mse"] < LEFT_CHANCE}
    passed |= {s for s, a in acc.items() if a >= 0.9}
    left |= below
    final.update(acc)
    if step == 0 or (step % every and step != last):
      continue
    cells = [str(step), f"{sum(acc.values()) / len(acc):.2f}" if acc else "-", str(len(passed))]
    if regression:
      cells += [str(len(below)), str(len(left))]
    if diverged_any:
      cells.append(str(len(diverged)))
    lines.append("| " + " | ".join(cells) + " |")
  each = [f"{final[s]:.2f} ({best[s]:.2f})" if s in final and s not in diverged else "diverged"
          for s in range(seeds)]
  return lines + [f"final (best) accuracy of each seed: {', '.join(each)}"]


def pm(values, digits: int = 3) -> str:
  """"mean +- std" of ``values`` (sample std; 0 for one value), as the results tables print it."""
  v = np.asarray(values, np.float64)
  return f"{v.mean():.{digits}f} +- {v.std(ddof=1) if v.size > 1 else 0.0:.{digits}f}"


def format_mean_std(stat: dict) -> str:
  """A ``mean_std`` dict as "mean +- std" (3 decimals; scientific past 1e4, since a healthy seed's MSE can
  be 1e30 on its way to diverging), or "diverged" when no seed was healthy."""
  if stat["mean"] is None:
    return "diverged"
  spec = ".3g" if max(abs(stat["mean"]), stat["std"]) >= 1e4 else ".3f"
  return f"{stat['mean']:{spec}} +- {stat['std']:{spec}}"


def mean_std(values, ok) -> dict:
  """Mean +- std over the healthy seeds, with how many were used."""
  v = np.asarray([x for x, good in zip(values, ok) if good and x is not None and math.isfinite(x)], np.float64)
  if v.size == 0:
    return {"mean": None, "std": None, "n": 0}
  return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if v.size > 1 else 0.0, "n": int(v.size)}


def plot_learning_curve(rows: list[dict], path: str | os.PathLike, metric: str, chance: float | None,
                        title: str, xlabel: str = "training step", chance_label: str = "chance") -> None:
  """Evaluation metric against training step (or episode: ``xlabel``): one thin line per seed, the mean in
  bold, and a dashed reference line at ``chance`` (labelled ``chance_label``)."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  seeds = sorted({r["seed"] for r in rows})
  steps = sorted({r["step"] for r in rows})
  grid = np.full((len(seeds), len(steps)), np.nan)
  for r in rows:
    if r.get(metric) is not None:
      grid[seeds.index(r["seed"]), steps.index(r["step"])] = r[metric]
  fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
  for i in range(len(seeds)):
    ax.plot(steps, grid[i], color="tab:blue", alpha=0.3, lw=0.8)
  with warnings.catch_warnings():   # steps where no seed was healthy have no mean
    warnings.simplefilter("ignore", RuntimeWarning)
    ax.plot(steps, np.nanmean(grid, axis=0), color="tab:blue", lw=2.2, label=f"mean over {len(seeds)} seeds")
  if chance is not None:
    ax.axhline(chance, color="gray", ls="--", lw=1, label=chance_label)
  if metric.endswith("mse") and np.nanmin(grid) > 0:
    ax.set_yscale("log")
  ax.set_xlabel(xlabel)
  ax.set_ylabel(metric)
  ax.set_title(title, fontsize=9)
  ax.legend(fontsize=8)
  fig.tight_layout()
  tmp = Path(path).with_name(Path(path).name + ".tmp.png")
  fig.savefig(tmp)
  plt.close(fig)
  os.replace(tmp, path)


def plot_multistability(rows: list[dict], path: str | os.PathLike, title: str, xlabel: str = "training step") -> None:
  """VAA and the number of stable equilibria against training step, one thin line per seed and the mean;
  the values before the pre-training phase (if any) are drawn as hollow markers left of step 0."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  during = [r for r in rows if r.get("vaa") is not None and r.get("phase") is None]
  before = [r for r in rows if r.get("vaa") is not None and r.get("phase") == "before_pretrain"]
  if not during:
    return
  seeds = sorted({r["seed"] for r in during})
  steps = sorted({r["step"] for r in during})
  shift = -0.04 * max(steps[-1], 1)
  fig, axes = plt.subplots(1, 2, figsize=(10, 4), dpi=120)
  for ax, metric, label in ((axes[0], "vaa", "VAA"), (axes[1], "stable_equilibria", "stable equilibria reached")):
    grid = np.full((len(seeds), len(steps)), np.nan)
    for r in during:
      if r.get(metric) is not None:
        grid[seeds.index(r["seed"]), steps.index(r["step"])] = r[metric]
    for i in range(len(seeds)):
      ax.plot(steps, grid[i], color="tab:purple", alpha=0.3, lw=0.8, marker=".", ms=3)
    with np.errstate(all="ignore"):
      ax.plot(steps, np.nanmean(grid, axis=0), color="tab:purple", lw=2.2, label=f"mean over {len(seeds)} seeds")
    pre = [r[metric] for r in before if r.get(metric) is not None]
    if pre:
      ax.scatter([shift] * len(pre), pre, facecolors="none", edgecolors="tab:gray", s=18, label="before pre-training")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(label)
    ax.legend(fontsize=8)
  fig.suptitle(title, fontsize=9)
  fig.tight_layout()
  tmp = Path(path).with_name(Path(path).name + ".tmp.png")
  fig.savefig(tmp)
  plt.close(fig)
  os.replace(tmp, path)


def plot_gradient_grid(grid, path: str | os.PathLike, title: str) -> None:
  """Heatmap of log10 ||dL/d s^l_t|| (layers x time), the LSC paper's Fig. 1 view."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  g = np.log10(np.maximum(np.asarray(grid, np.float64), 1e-38))
  fig, ax = plt.subplots(figsize=(8, 1.2 + 0.35 * g.shape[0]))
  im = ax.imshow(g, aspect="auto", origin="lower", cmap="viridis", interpolation="nearest")
  ax.set_xlabel("time step t")
  ax.set_ylabel("layer l")
  ax.set_title(title)
  fig.colorbar(im, ax=ax, label="log10 ||dL / d s^l_t||")
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def format_table(summary: dict) -> str:
  """The end-of-run table: one row per seed, then mean +- std over healthy seeds."""
  metrics = list(summary["final"])
  header = ["seed", "status"] + metrics
  rows = []
  for s in summary["seeds"]:
    rows.append([str(s["seed"]), s["status"]] +
                ["-" if s["final"].get(m) is None else f"{s['final'][m]:.4g}" for m in metrics])
  agg = ["mean+-std", f"n={summary['healthy_seeds']}/{len(summary['seeds'])}"]
  for m in metrics:
    a = summary["final"][m]
    agg.append("-" if a["mean"] is None else f"{a['mean']:.4g} +- {a['std']:.2g}")
  rows.append(agg)
  widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
  line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths))
  return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def timestamp() -> str:
  return time.strftime("%Y%m%d-%H%M%S")
