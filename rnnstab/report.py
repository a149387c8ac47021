"""One self-contained HTML page per run: what a researcher looks at, with no network access and no external
scripts (figures are PNGs inlined as data URIs, the style is inline).

Sections: the learning curves per seed; VAA and the number of stable equilibria over training (when the run
measured them); the depth x time gradient grid ||dL/d s^l_t|| at the start and the end of training; the
eigenvalues of the single-step state Jacobians at states the network reaches on task inputs, at
initialisation, after the pre-training phase and after training; attractor projections (where the states
go under a constant input, on their two principal components); the summary per seed; the config; the cost
of a step (``rnnstab.cost``). A small inline script marks, on the page itself, whether every figure
decoded (``data-figures`` on <body>), which the headless-browser test reads.
"""
from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from rnnstab.analysis.gradient_grid import gradient_grid
from rnnstab.analysis.multistability import constant_input, flat_state, reach, settle
from rnnstab.cells.combinators import prepare

# RNNSTAB_SKIP_REPORT=1: runs write no report.html. The test suite sets it (tests/conftest.py): a page costs
# a few seconds of compiling, which dozens of tiny test runs do not need; tests/test_report.py checks it.
SKIP_VARIABLE = "RNNSTAB_SKIP_REPORT"


def wanted(config) -> bool:
  """Whether a run of ``config`` writes report.html: its ``report`` setting, unless RNNSTAB_SKIP_REPORT=1."""
  return bool(getattr(config, "report", True)) and os.environ.get(SKIP_VARIABLE, "0") != "1"

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 2em; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: .9em; color: #555; }
table { border-collapse: collapse; font-size: .85em; margin: .5em 0; }
td, th { border: 1px solid #ddd; padding: 2px 8px; text-align: right; } th { background: #f5f5f5; }
td:first-child, th:first-child { text-align: left; }
.note { color: #777; font-style: italic; }
"""

# Marks the page with how many figures decoded and which did not: the browser test reads it.
CHECK = """
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.querySelectorAll("figure img"));
  var broken = images.filter(function (img) { return !(img.complete && img.naturalWidth > 0); });
  document.body.setAttribute("data-figures", images.length + " figures, " + broken.length + " broken");
  document.body.setAttribute("data-broken", broken.map(function (img) { return img.alt; }).join(","));
});
"""


def _png(fig) -> bytes:
  import matplotlib.pyplot as plt
  buf = io.BytesIO()
  fig.savefig(buf, format="png", dpi=100)
  plt.close(fig)
  return buf.getvalue()


def _pyplot():
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  return plt


def gradient_grid_figure(cell, stages: dict, inputs, loss_of: Callable) -> bytes:
  """log10 ||dL/d s^l_t|| (layers x time) for each stage's params, side by side on one colour scale."""
  plt = _pyplot()
  grid_of = jax.jit(lambda p: gradient_grid(cell, p["cell"], inputs, loss_of(p)))  # one compile for every stage
  grids = {name: np.log10(np.maximum(np.asarray(grid_of(params), np.float64), 1e-38))
           for name, params in stages.items()}
  # A diverged network's gradients are inf or NaN: the colour scale is that of the finite ones.
  finite = np.concatenate([g[np.isfinite(g)] for g in grids.values()])
  lo, hi = (finite.min(), finite.max()) if finite.size else (-1.0, 1.0)
  layers = next(iter(grids.values())).shape[0]
  fig, axes = plt.subplots(len(grids), 1, figsize=(9, 0.6 + len(grids) * (1.0 + 0.35 * layers)), squeeze=False,
                           constrained_layout=True)
  for ax, (name, g) in zip(axes[:, 0], grids.items()):
    im = ax.imshow(g, aspect="auto", origin="lower", cmap="viridis", interpolation="nearest", vmin=lo, vmax=hi)
    ax.set_title(name, fontsize=9)
    ax.set_ylabel("layer l")
  axes[-1, 0].set_xlabel("time step t")
  fig.colorbar(im, ax=axes[:, 0].tolist(), label="log10 ||dL/d s^l_t||")
  return _png(fig)


def state_jacobians_on_inputs(cell, inputs, key, samples: int = 8) -> Callable:
  """A jitted ``params -> (samples, S, S)``: d s_{t+1} / d s_t (the whole state, every layer) at the states
  reached after random prefixes of ``samples`` task sequences, under each one's next input."""
  T = inputs.shape[0]
  n = min(samples, inputs.shape[1])
  lengths = jax.random.randint(key, (n,), 0, T)
  u = inputs[lengths, jnp.arange(n)]

  def jacobians(params):
    state = reach(cell, params, inputs[:, :n], lengths)
    p = prepare(cell, params)

    def one(s, x):
      flat, unravel = ravel_pytree(s)
      return jax.jacfwd(lambda v: ravel_pytree(cell.step(p, unravel(v), x)[0])[0])(flat)
    return jax.vmap(one)(state, u)
  return jax.jit(jacobians)


def spectra_figure(cell, stages: dict, inputs, key) -> bytes:
  """Eigenvalues of the single-step state Jacobians for each stage (computed on the host, in float64: no
  LAPACK inside a jitted program), with the unit circle."""
  plt = _pyplot()
  jacobians = state_jacobians_on_inputs(cell, inputs, key)
  fig, axes = plt.subplots(1, len(stages), figsize=(4 * len(stages), 4), squeeze=False)
  circle = np.exp(1j * np.linspace(0, 2 * np.pi, 200))
  for ax, (name, params) in zip(axes[0], stages.items()):
    jac = np.asarray(jacobians(params["cell"]), np.float64)
    # A diverged network (a ReLU RNN past radius 1) reaches inf/NaN states: LAPACK rejects their Jacobians.
    finite = np.isfinite(jac).all(axis=(1, 2))
    ax.plot(circle.real, circle.imag, color="gray", lw=0.8, ls="--")
    if finite.any():
      ev = np.linalg.eigvals(jac[finite]).reshape(-1)
      ax.scatter(ev.real, ev.imag, s=6, alpha=0.5, color="tab:blue")
      title = f"{name}\nlargest |lambda| {np.max(np.abs(ev)):.3f}" + _diverged(finite)
    else:
      title = f"{name}\nevery sampled state diverged"
    ax.set_title(title, fontsize=9)
    ax.set_aspect("equal")
    ax.set_xlabel("Re")
  axes[0, 0].set_ylabel("Im")
  fig.tight_layout()
  return _png(fig)


def attractor_figure(cell, stages: dict, inputs, key, steps: int = 2000) -> bytes:
  """Where the states go under one constant input u ~ N(0, I) (the warmup paper's probe): the reached
  starting states (grey) and the points they settle to (blue), on the final points' two principal
  components."""
  plt = _pyplot()
  fig, axes = plt.subplots(1, len(stages), figsize=(4 * len(stages), 4), squeeze=False)
  k_len, k_u = jax.random.split(key)
  n = inputs.shape[1]
  lengths = jax.random.randint(k_len, (n,), 1, inputs.shape[0] + 1)
  u = constant_input(k_u, inputs.shape[-1])
  @jax.jit  # one compile for every stage
  def run(p):
    start = reach(cell, p["cell"], inputs, lengths)
    end, _, _ = settle(cell, p["cell"], start, u, max_steps=steps)
    return flat_state(start), flat_state(end)

  for ax, (name, params) in zip(axes[0], stages.items()):
    start, end = (np.asarray(a, np.float64) for a in run(params))
    finite = np.isfinite(start).all(1) & np.isfinite(end).all(1)
    if not finite.any():
      ax.set_title(f"{name}\nevery state diverged under u", fontsize=9)
      continue
    start, end = start[finite], end[finite]
    centre = end.mean(0)
    _, _, vt = np.linalg.svd(np.concatenate([end, start]) - centre, full_matrices=False)
    basis = vt[:2].T if vt.shape[0] >= 2 else np.eye(end.shape[1], 2)
    s2, e2 = (start - centre) @ basis, (end - centre) @ basis
    for a, b in zip(s2, e2):
      ax.plot([a[0], b[0]], [a[1], b[1]], color="lightgray", lw=0.5)
    ax.scatter(s2[:, 0], s2[:, 1], s=8, color="gray", label="reached on task inputs")
    ax.scatter(e2[:, 0], e2[:, 1], s=18, color="tab:blue", label=f"after {steps} steps under u")
    distinct = len({tuple(np.round(p, 3)) for p in end})
    ax.set_title(f"{name}\n{distinct} distinct end points of {n}" + _diverged(finite), fontsize=9)
    ax.set_xlabel("PC 1")
  axes[0, 0].set_ylabel("PC 2")
  axes[0, 0].legend(fontsize=7)
  fig.tight_layout()
  return _png(fig)


def _diverged(finite: np.ndarray) -> str:
  """A title's note of how many samples diverged (inf or NaN), empty when none did."""
  bad = int(finite.size - finite.sum())
  return f" ({bad} of {finite.size} diverged, left out)" if bad else ""


def _img(png: bytes, alt: str, caption: str) -> str:
  data = base64.b64encode(png).decode("ascii")
  return (f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'
          f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _table(header: list[str], rows: list[list]) -> str:
  head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
  body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
  return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fmt(v) -> str:
  if isinstance(v, float):
    return f"{v:.4g}"
  return "-" if v is None else str(v)


def _cost_table(cost: dict) -> str:
  keys = ["macs", "multiplications", "additions", "nonlinear", "comparisons", "bit_operations"]
  rows = [[phase] + [_fmt(cost[phase][k]) for k in keys] for phase in ("forward", "backward")]
  extra = (f"<p>parameters {cost['parameters']}, recurrent state {cost['state_bytes']} bytes per sample, "
           f"activations stored for BPTT {cost['activation_bytes']} bytes per sample and step "
           f"(bit operations at {cost['weight_bits']}-bit weights and {cost['activation_bits']}-bit activations).</p>")
  return _table(["per step and sample"] + keys, rows) + extra


def write_report(run_dir: str | os.PathLike, *, title: str, summary: dict, config: dict, cell=None, stages=None,
                 inputs=None, loss_of: Callable | None = None, key=None) -> Path:
  """Writes ``run_dir/report.html``.

  Args:
    run_dir: the run directory (its learning_curve.png and multistability.png are inlined when present).
    title: the page's heading.
    summary: the run's summary (per-seed final metrics and the cost of a step are tabulated).
    config: the run's settings.
    cell: the recurrent part; with ``stages`` and ``inputs``, the gradient grid, Jacobian spectra and
      attractor figures are drawn for seed 0.
    stages: {"at initialisation": params, "after pre-training": params, "after training": params} (model
      params with "cell" and "readout"; an absent pre-training stage is left out).
    inputs: (T, n, D) task inputs the analyses run on.
    loss_of: params -> (outputs of the last layer -> scalar loss), for the gradient grid; None leaves it out.
    key: PRNG key of the analyses.

  Returns:
    The path of the page.
  """
  run_dir = Path(run_dir)
  key = jax.random.key(0) if key is None else key
  parts = [f"<h1>{html.escape(title)}</h1>",
           f"<p>{html.escape(str(run_dir.name))} &middot; {len(summary.get('seeds', []))} seeds</p>"]
  parts.append("<h2>Learning curves</h2>")
  curve = run_dir / "learning_curve.png"
  parts.append(_img(curve.read_bytes(), "learning curves", "The evaluation metric per seed (thin) and the mean "
                    "(bold).") if curve.is_file() else '<p class="note">No learning curve was drawn.</p>')
  parts.append("<h2>Multistability over training</h2>")
  multi = run_dir / "multistability.png"
  parts.append(_img(multi.read_bytes(), "multistability", "VAA and the number of stable equilibria reached, per "
                    "seed, against training; hollow markers: before the pre-training phase.")
               if multi.is_file() else '<p class="note">Not measured in this run (analysis_every = 0).</p>')
  if cell is not None and stages and inputs is not None:
    names = ", ".join(stages)
    k_spec, k_att = jax.random.split(key)
    parts.append("<h2>Gradient grid (seed 0)</h2>")
    if loss_of is not None:
      parts.append(_img(gradient_grid_figure(cell, stages, inputs, loss_of), "gradient grid",
                        f"log10 ||dL/d s^l_t|| over layers x time on one batch of task inputs ({names})."))
    else:
      parts.append('<p class="note">This run has no sequence loss to differentiate.</p>')
    parts.append("<h2>Jacobian spectra (seed 0)</h2>")
    parts.append(_img(spectra_figure(cell, stages, inputs, k_spec), "jacobian spectra",
                      "Eigenvalues of the single-step state Jacobian d s_t+1 / d s_t at states reached on task "
                      f"inputs ({names}); dashed: the unit circle."))
    parts.append("<h2>Attractors (seed 0)</h2>")
    parts.append(_img(attractor_figure(cell, stages, inputs, k_att), "attractors",
                      "States reached on task prefixes (grey) and where one constant input takes them (blue), on "
                      "their two principal components."))
  parts.append("<h2>Summary per seed</h2>")
  seeds = summary.get("seeds", [])
  metrics = sorted({k for s in seeds for k in s.get("final", {})})
  parts.append(_table(["seed", "status"] + metrics,
                      [[s["seed"], s.get("status", "")] + [_fmt(s["final"].get(m)) for m in metrics] for s in seeds]))
  if "cost" in summary:
    parts.append("<h2>Cost of a step</h2>" + _cost_table(summary["cost"]))
  parts.append("<h2>Configuration</h2>")
  parts.append(_table(["setting", "value"], [[k, _fmt(v)] for k, v in config.items()]))
  page = ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
          f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
          + "\n".join(parts) + f"<script>{CHECK}</script></body></html>")
  path = run_dir / "report.html"
  tmp = path.with_name(path.name + ".tmp")
  tmp.write_text(page, encoding="utf-8")
  os.replace(tmp, path)
  return path
