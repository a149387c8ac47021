"""Manifold-attractor regularisation (MAR) of piecewise-linear RNNs, as a penalty and as an optax transform.

The first M_reg = floor(fraction * M) units of a PLRNN z_t = A z_{t-1} + W relu(z_{t-1}) + h + C s_t are
pushed towards perfect integrators: A_ii -> 1, their incoming weights W_ij (j != i) -> 0 and h_i -> 0, so
that their Jacobian rows are the identity's. Together they form a (piecewise) line / plane attractor along
which gradients neither vanish nor explode, while the other units keep fast, possibly chaotic dynamics.

    L_reg = tau_A sum_{i < M_reg} (A_ii - 1)^2 + tau_W sum_{i < M_reg, j != i} W_ij^2 + tau_h sum_{i < M_reg} h_i^2

The paper writes the sums; the authors' code, which produced its figures with tau = 5, takes means
instead (the A and h terms over M_reg entries, the W term over the M_reg x M regularised rows, whose
diagonal is 0), a penalty 20 to 800 times weaker at M = 40. ``reduce="mean"`` (the default) is the code's
form, so the paper's tau values mean what they meant there; ``reduce="sum"`` is the equation as printed.

PLRNN parameters are found by structure wherever they sit in a params tree (a bare cell, a
``SequenceModel``'s {"cell": ...}, each layer of a stack): every dict holding "A" (M,), "W" (M, M) and
"h" (M,). In rnnstab's kernel layout W[j, i] is the paper's W_ij, so unit i's incoming weights are the
column W[:, i].

Example:
  >>> opt = optax.chain(add_manifold_attractor_reg(tau=5.0), optax.clip_by_global_norm(3.0), optax.adam(1e-3))
  >>> updates, opt_state = opt.update(grads, opt_state, params)     # params are required, as for AdamW

References:
  Schmidt, Koppe, Monfared, Beutelspacher & Durstewitz, "Identifying nonlinear dynamical systems with
  multiple time scales and long-range dependencies", ICLR 2021 (arXiv 1910.03471), section 3.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from rnnstab.objectives.penalty import add_penalty_gradient

FRACTION = 0.5   # per_reg of the paper: half of the units are regularised
TAU = 5.0        # the paper's benchmark figure uses one tau for A, W and h
REDUCTIONS = ("mean", "sum")


def regularised_units(hidden_size: int, fraction: float = FRACTION) -> int:
  """M_reg = floor(fraction * M), the number of leading units the regularisation (and AWh init) acts on."""
  if not 0.0 <= fraction <= 1.0:
    raise ValueError(f"fraction: must be in [0, 1] (the share of regularised units), got {fraction!r}")
  return int(fraction * hidden_size)


def _is_plrnn(node) -> bool:
  if not isinstance(node, dict) or not {"A", "W", "h"} <= node.keys():
    return False
  A, W, h = node["A"], node["W"], node["h"]
  return A.ndim == 1 and h.shape == A.shape and W.shape == A.shape * 2


def plrnn_blocks(params) -> list[dict]:
  """Every PLRNN parameter dict ({"A", "W", "h", ...}) in ``params``, in tree order."""
  found = []

  def visit(node):
    if _is_plrnn(node):
      found.append(node)
    elif isinstance(node, dict):
      for k in sorted(node):
        visit(node[k])
    elif isinstance(node, (list, tuple)):
      for v in node:
        visit(v)

  visit(params)
  return found


def _block_penalty(p: dict, tau_A: float, tau_W: float, tau_h: float, fraction: float, reduce: str) -> jax.Array:
  M = p["A"].shape[0]
  r = regularised_units(M, fraction)
  if r == 0:
    return jnp.zeros((), jnp.float32)
  A = p["A"][:r].astype(jnp.float32)
  W = p["W"][:, :r].astype(jnp.float32) * (1.0 - jnp.eye(M, r))   # incoming weights of units i < r, j != i
  h = p["h"][:r].astype(jnp.float32)
  per_unit, per_row = (r, r * M) if reduce == "mean" else (1, 1)
  return (tau_A * jnp.sum(jnp.square(A - 1.0)) / per_unit + tau_W * jnp.sum(jnp.square(W)) / per_row
          + tau_h * jnp.sum(jnp.square(h)) / per_unit)


def _check_reduce(reduce: str) -> None:
  if reduce not in REDUCTIONS:
    raise ValueError(f"reduce: must be one of {', '.join(REDUCTIONS)}, got {reduce!r}")


def mar_penalty(params, *, tau: float = TAU, tau_A: float | None = None, tau_W: float | None = None,
                tau_h: float | None = None, fraction: float = FRACTION, reduce: str = "mean") -> jax.Array:
  """The manifold-attractor penalty L_reg of every PLRNN in ``params`` (summed over layers).

  Args:
    params: any params tree holding PLRNN parameters (module docstring).
    tau: the weight of all three terms; ``tau_A``, ``tau_W``, ``tau_h`` override it one by one.
    fraction: share of each PLRNN's units that are regularised (the first floor(fraction * M)).
    reduce: "mean" (the authors' code, default) or "sum" (the paper's equation); module docstring.

  Returns:
    A float32 scalar, differentiable in params; add it to a task loss, or use
    ``add_manifold_attractor_reg`` to add its gradient inside an optax chain.

  Raises:
    ValueError: ``params`` holds no PLRNN parameters.

  References:
    Schmidt et al., ICLR 2021, eq. 4.
  """
  _check_reduce(reduce)
  blocks = plrnn_blocks(params)
  if not blocks:
    raise ValueError("mar_penalty: params hold no PLRNN parameters (a dict with A (M,), W (M, M), h (M,)); "
                     "manifold-attractor regularisation applies to --cell=plrnn")
  taus = tuple(tau if t is None else t for t in (tau_A, tau_W, tau_h))
  return sum(_block_penalty(p, *taus, fraction, reduce) for p in blocks)


def add_manifold_attractor_reg(tau: float = TAU, *, tau_A: float | None = None, tau_W: float | None = None,
                               tau_h: float | None = None, fraction: float = FRACTION, reduce: str = "mean"
                               ) -> optax.GradientTransformationExtraArgs:
  """Adds the gradient of ``mar_penalty`` to the updates, like ``optax.add_decayed_weights`` adds weight decay.

  Put it first in a chain (before clipping and the optimiser) to get exactly the gradient of
  task loss + L_reg, as the paper trains; put it after the optimiser's scaling for decoupled
  regularisation, as AdamW does with weight decay.

  Args:
    tau, tau_A, tau_W, tau_h, fraction, reduce: as for ``mar_penalty``.

  Returns:
    An optax ``GradientTransformationExtraArgs``; ``update`` needs ``params``.

  References:
    Schmidt et al., ICLR 2021.
  """
  kwargs = dict(tau=tau, tau_A=tau_A, tau_W=tau_W, tau_h=tau_h, fraction=fraction, reduce=reduce)
  regularised_units(1, fraction)   # a bad fraction or reduction fails here, not inside a trace
  _check_reduce(reduce)
  for name, t in (("tau", tau), ("tau_A", tau_A), ("tau_W", tau_W), ("tau_h", tau_h)):
    if t is not None and not t >= 0:
      raise ValueError(f"{name}: must be >= 0, got {t!r}")

  return add_penalty_gradient(lambda p: mar_penalty(p, **kwargs), "add_manifold_attractor_reg")


def awh(params: dict, fraction: float = FRACTION) -> dict:
  """The "AWh" initialisation of one PLRNN's params: its regularised units start as perfect integrators,
  A_ii = 1, incoming W_ij = 0 and h_i = 0 for i < floor(fraction * M); the other units keep their values.

  References:
    Schmidt et al., ICLR 2021 (its iPLRNN baseline is a PLRNN with this init on every unit, fraction 1,
    and no regularisation).
  """
  M = params["A"].shape[0]
  r = regularised_units(M, fraction)
  out = dict(params)
  out["A"] = params["A"].at[:r].set(1)
  out["W"] = params["W"].at[:, :r].set(0)
  out["h"] = params["h"].at[:r].set(0)
  return out

