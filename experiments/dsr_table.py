"""One table over finished ``experiments/dsr.py`` runs: how many seeds reconstructed the system, per setting.

    python experiments/dsr_table.py --runs='runs/dsr/bn8-*'
    python experiments/dsr_table.py --runs=runs/dsr/a,runs/dsr/b --dh_max=0.1 --gmm_max=0.1

A seed counts as reconstructed when its free run's power spectra and its state-space occupancy both match
the held-out data: D_H < --dh_max and D_stsp (Gaussian mixture) < --gmm_max. The binned D_stsp is shown
but not used: on a thin periodic orbit (the bursting neuron) two correct trajectories rarely share bins,
so it stays high for a correct model (docs/rplrnn.md). One row per run directory, sorted by system, then
regularisation (tau, fraction); medians over the seeds with a finite free run.
"""
from __future__ import annotations

import glob
import json
import sys
from pathlib import Path

import numpy as np
from absl import app, flags

from rnnstab.config import flags_parser

flags.DEFINE_string("runs", None, "comma-separated dsr.py run directories or glob patterns")
flags.DEFINE_float("dh_max", 0.1, "a reconstructed seed's largest D_H (power-spectrum Hellinger distance)")
flags.DEFINE_float("gmm_max", 0.1, "a reconstructed seed's largest Gaussian-mixture D_stsp")
FLAGS = flags.FLAGS


def run_dirs(spec: str) -> list[Path]:
  """The finished run directories ``spec`` names (config.json and summary.json): a named directory must be
  one; a glob pattern's unfinished matches (a run still training) are skipped with a note on stderr."""
  dirs = []
  for part in (p for p in spec.split(",") if p):
    pattern = any(c in part for c in "*?[")
    matches = sorted(glob.glob(part)) if pattern else []
    if pattern and not matches:
      raise ValueError(f"--runs: {part} matches nothing")
    for m in matches or [part]:
      d = Path(m)
      if not ((d / "config.json").is_file() and (d / "summary.json").is_file()):
        if matches:
          print(f"dsr_table.py: skipping {m}: not a finished dsr.py run", file=sys.stderr)
          continue
        raise ValueError(f"--runs: {m} is not a finished dsr.py run (no config.json and summary.json)")
      dirs.append(d)
  if not dirs:
    raise ValueError("--runs: no run directories given")
  return dirs


def row(run_dir: Path, dh_max: float, gmm_max: float) -> dict:
  """One run's setting and its seeds' outcome."""
  config = json.loads((run_dir / "config.json").read_text())
  summary = json.loads((run_dir / "summary.json").read_text())
  seeds = [s for s in summary["seeds"] if s["finite"]]
  ok = [s for s in seeds if s["d_h"] < dh_max and s["d_stsp_gmm"] < gmm_max]
  med = lambda k: float(np.median([s[k] for s in seeds])) if seeds else float("nan")
  tau = config.get("mar_tau", 0.0)
  awh = config.get("awh")
  return {"run": run_dir.name, "system": config["system"], "method": config["method"],
          "tau": tau, "awh": tau > 0 if awh is None else awh, "fraction": config.get("mar_fraction", 0.5),
          "seeds": len(summary["seeds"]), "finite": len(seeds), "reconstructed": len(ok),
          "d_h": med("d_h"), "d_stsp_gmm": med("d_stsp_gmm"), "d_stsp": med("d_stsp"),
          "lyapunov": med("lyapunov"), "true_lyapunov": summary["true_lyapunov"]}


def table(rows: list[dict], dh_max: float, gmm_max: float) -> str:
  """The Markdown table of ``rows``."""
  lines = [f"reconstructed: D_H < {dh_max:g} and D_stsp (GMM) < {gmm_max:g}; medians over the seeds with a "
           "finite free run",
           "| system | method | MAR tau | AWh init | fraction | reconstructed | median D_H | median D_stsp (GMM) "
           "| median D_stsp (30 bins) | median lambda_max (system) | run |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
  for r in sorted(rows, key=lambda r: (r["system"], r["tau"], r["awh"], r["fraction"], r["run"])):
    shared = r["tau"] > 0 or r["awh"]
    lines.append(f"| {r['system']} | {r['method']} | {r['tau']:g} | {'yes' if r['awh'] else 'no'} | "
                 f"{r['fraction'] if shared else '-'} | "
                 f"{r['reconstructed']}/{r['seeds']} | {r['d_h']:.3f} | {r['d_stsp_gmm']:.3f} | {r['d_stsp']:.2f} | "
                 f"{r['lyapunov']:.3f} ({r['true_lyapunov']:.3f}) | {r['run']} |")
  return "\n".join(lines)


def main(argv):
  del argv
  try:
    if FLAGS.runs is None:
      raise ValueError("--runs: required (dsr.py run directories or glob patterns)")
    dirs = run_dirs(FLAGS.runs)
  except ValueError as e:
    print(f"dsr_table.py: error: {e}", file=sys.stderr)
    sys.exit(2)
  print(table([row(d, FLAGS.dh_max, FLAGS.gmm_max) for d in dirs], FLAGS.dh_max, FLAGS.gmm_max))


if __name__ == "__main__":
  app.run(main, flags_parser=flags_parser("dsr_table.py"))
