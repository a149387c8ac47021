"""A grid of runs over run.py's flags: each point a vmapped-seed run, finished points skipped, results aggregated.

    python experiments/sweep.py --axis=cell=gru,lstm,brc --axis=init=default,lsc --set=task=copy \
        --set=seq_len=100 --set=seeds=16 --out=runs/sweep_copy

Every combination of the --axis values (with the --set values for everything else, run.py's defaults
beyond that) is one run directory under --out, named after its point (``cell-gru_init-lsc``). A point whose
directory holds a finished summary is not run again, and a point killed mid-way continues from its latest
checkpoint (``run.py --resume``), so a killed sweep continues where it stopped. An unfinished directory
that cannot be resumed (no checkpoint, or another configuration) is kept, renamed ``<point>.incomplete-N``,
and the point reruns.
After each point, --out gets sweep.csv and sweep.md (one row per point: final metric mean +- std over the
healthy seeds, how many were healthy, how many solved the task and when, train time) and sweep.png.
Every point is validated before any training starts.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import json
import sys
from pathlib import Path

import numpy as np
from absl import app, flags, logging

from rnnstab import experiment, results
from rnnstab.config import Config, flags_parser, parse_field
from rnnstab.devices import use_every_core

flags.DEFINE_multi_string("axis", [], "name=v1,v2,...: a Config field and the values the grid takes")
flags.DEFINE_multi_string("set", [], "name=value: a Config field fixed for every point")
flags.DEFINE_string("out", "runs/sweep", "directory of the sweep: one run directory per point, plus the tables")
FLAGS = flags.FLAGS


def _pairs(specs: list[str], flag: str) -> list[tuple[str, str]]:
  out = []
  for spec in specs:
    name, eq, value = spec.partition("=")
    if not eq or not name or not value:
      raise ValueError(f"--{flag}: expected name=value, got {spec!r}")
    out.append((name, value))
  return out


def _values(text: str) -> list[str]:
  """An --axis's values, split at commas; a piece "key=value" without a ":" continues the options of the
  value before it, so that ``task=recall:delay=5,recall:delay=10`` and ``task=dyck1:generalise=5,p=0.6``
  (or ``reg=mar:tau=5,fraction=0.5``) both mean what they say."""
  values = []
  for piece in text.split(","):
    if values and "=" in piece and ":" not in piece and ":" in values[-1]:
      values[-1] += "," + piece
    else:
      values.append(piece)
  return values


def grid(axes: list[str], fixed: list[str]) -> list[tuple[str, Config]]:
  """The sweep's points as (directory name, Config), every one validated.

  Args:
    axes: "name=v1,v2" strings (the grid is their Cartesian product, in the order given).
    fixed: "name=value" strings applied to every point.

  Returns:
    [(point name, config)], e.g. ("cell-gru_init-lsc", Config(cell="gru", init="lsc", ...)).
  """
  from rnnstab.train import make_train
  base = {name: parse_field(name, value) for name, value in _pairs(fixed, "set")}
  names, values = [], []
  for name, text in _pairs(axes, "axis"):
    if name in base or name in names:
      raise ValueError(f"--axis: {name} is given twice (as an axis and/or with --set)")
    names.append(name)
    values.append([parse_field(name, v) for v in _values(text)])
  points = []
  for combo in itertools.product(*values):
    point = dict(zip(names, combo))
    config = Config(**{**base, **point})
    make_train(config)   # every invalid combination fails here, before any point trains
    label = "_".join(f"{k}-{v}" for k, v in point.items()) or "point"
    points.append((label, config))
  return points


def _finished(run_dir: Path, config: Config) -> bool:
  summary = run_dir / "summary.json"
  if not summary.exists():
    return False
  s = json.loads(summary.read_text())
  return not s.get("interrupted") and s.get("completed_steps") == config.steps


def _resumable(run_dir: Path, config: Config) -> bool:
  """Whether an unfinished run directory is this point's own run, with a checkpoint to continue from."""
  try:
    saved = json.loads((run_dir / "config.json").read_text())
  except (OSError, ValueError):
    return False
  same = all(saved.get(f.name) == getattr(config, f.name) for f in dataclasses.fields(Config))
  return same and (run_dir / "checkpoints").is_dir()


def _set_aside(run_dir: Path) -> None:
  """Keeps an unfinished run's files (results are never deleted) under a new name."""
  for i in range(1, 10_000):
    target = run_dir.with_name(f"{run_dir.name}.incomplete-{i}")
    if not target.exists():
      run_dir.rename(target)
      return


def row(label: str, axes: dict, run_dir: Path) -> dict:
  """One aggregated row from a finished run directory."""
  summary = json.loads((run_dir / "summary.json").read_text())
  metric = summary["metric"].removeprefix("eval_")
  final = summary["final"][summary["metric"]]
  seeds = len(summary["seeds"])
  solved = results.steps_to_solve(results.read_metrics(run_dir / "metrics.jsonl"), metric, seeds)
  return {"point": label, **axes, "metric": metric, "mean": final["mean"], "std": final["std"],
          "healthy": f"{final['n']}/{seeds}", "solved": f"{len(solved)}/{seeds}",
          "median_steps_to_solve": int(np.median(solved)) if solved else None,
          "train_s": round(summary["timing"]["train_s"], 1)}


def write_tables(out: Path, rows: list[dict]) -> None:
  """sweep.csv, sweep.md and sweep.png under ``out``, each written atomically."""
  if not rows:
    return
  keys = list(rows[0])
  buf = io.StringIO()
  writer = csv.DictWriter(buf, keys)
  writer.writeheader()
  writer.writerows(rows)
  _atomic(out / "sweep.csv", buf.getvalue())
  fmt = lambda v: "-" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))
  lines = ["| " + " | ".join(k for k in keys if k not in ("mean", "std")).replace("metric", "final metric") + " |",
           "|" + "---|" * (len(keys) - 2)]
  for r in rows:
    cells = [fmt(r[k]) if k != "metric" else (f"{r['metric']} {fmt(r['mean'])} +- {fmt(r['std'])}"
                                              if r["mean"] is not None else f"{r['metric']}: all seeds diverged")
             for k in keys if k not in ("mean", "std")]
    lines.append("| " + " | ".join(cells) + " |")
  _atomic(out / "sweep.md", "\n".join(lines) + "\n")
  _plot(out / "sweep.png", rows)


def _atomic(path: Path, text: str) -> None:
  tmp = path.with_name(path.name + ".tmp")
  tmp.write_text(text)
  tmp.replace(path)


def _plot(path: Path, rows: list[dict]) -> None:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  ok = [r for r in rows if r["mean"] is not None]
  fig, ax = plt.subplots(figsize=(max(4.0, 0.6 * len(rows) + 2), 3.5))
  ax.bar(range(len(ok)), [r["mean"] for r in ok], yerr=[r["std"] for r in ok], capsize=3)
  ax.set_xticks(range(len(ok)), [r["point"] for r in ok], rotation=45, ha="right", fontsize=7)
  ax.set_ylabel(f"final {rows[0]['metric']} (mean +- std over healthy seeds)")
  fig.tight_layout()
  tmp = path.with_name(path.stem + ".tmp.png")
  fig.savefig(tmp, dpi=90)
  plt.close(fig)
  tmp.replace(path)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  logging.set_verbosity(logging.WARNING)
  use_every_core()
  try:
    points = grid(FLAGS.axis, FLAGS.set)
  except ValueError as e:
    print(f"sweep.py: error: {e}", file=sys.stderr)
    sys.exit(2)
  out = Path(FLAGS.out)
  out.mkdir(parents=True, exist_ok=True)
  axes = [name for name, _ in _pairs(FLAGS.axis, "axis")]
  rows = []
  for i, (label, config) in enumerate(points):
    run_dir = out / label
    if run_dir.exists() and _finished(run_dir, config):
      print(f"[sweep] {i + 1}/{len(points)} {label}: finished before, skipped", flush=True)
    else:
      resuming = run_dir.exists() and _resumable(run_dir, config)
      if run_dir.exists() and not resuming:
        _set_aside(run_dir)
      print(f"[sweep] {i + 1}/{len(points)} {label}{': resumed from its checkpoint' if resuming else ''}",
            flush=True)
      try:
        if resuming:
          experiment.resume(run_dir, log=lambda s: None)
        else:
          experiment.run(config, out=str(out), name=label, log=lambda s: None)
      except KeyboardInterrupt:
        write_tables(out, rows)   # what finished so far stays aggregated
        sys.exit(130)
    rows.append(row(label, {k: getattr(config, k) for k in axes}, run_dir))
    write_tables(out, rows)
  print((out / "sweep.md").read_text(), end="")
  print(f"[sweep] tables in {out / 'sweep.md'}, {out / 'sweep.csv'}, {out / 'sweep.png'}")


if __name__ == "__main__":
  app.run(main, flags_parser=flags_parser("sweep.py"))
