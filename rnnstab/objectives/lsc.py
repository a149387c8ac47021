"""Local Stability Condition (LSC): pre-train every single-step Jacobian's radius towards a target.

For a deep RNN the gradient at (layer l, time t) sums over the monotone paths of the depth x time grid:
C(dt + dl, dt) paths, each a product of dt time and dl depth Jacobians. With radii rho_t and rho_d a grid
term scales like C(dt + dl, dt) rho_t^dt rho_d^dl. rho = 1 everywhere (the classic condition) lets it grow
polynomially in T; rho_t + rho_d = 1 turns it into a binomial probability, bounded by 1. The loss is
mean over Jacobian kinds (and layers) of mean over samples of (rho - target)^2.

Target rules (``lsc_targets``):
  "one"         rho = 1 in time and depth (the classic condition; the default: on long-memory tasks the
                measured evidence favours it, see docs/lsc.md);
  "half"        rho_t = rho_d = 0.5 in a deep stack (the paper's rho_t + rho_d = 1), 1 for one layer;
  "unbalanced"  rho_d = L / (L + T), rho_t = T / (L + T) (also sums to 1, keeps the time radius near 1).
The encoder (d s^0 / d x) takes the depth target, the decoder target is 1; a one-layer network uses 1
for time and encoder under every rule, as the paper prescribes for shallow networks.

Example:
  >>> loss = lsc_loss(cell, targets=lsc_targets("one", layers=5, seq_len=100))
  >>> (value, aux), grads = jax.value_and_grad(loss, has_aux=True)(params, inputs, key)
  >>> params, info = lsc_pretrain(cell, params, lambda k: task.sample(k, 32).inputs, key, targets=...)

References:
  Herranz-Celotti & Rouat, "Stabilizing RNN gradients through pre-training", arXiv 2308.12075.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import optax

from rnnstab.analysis.jacobians import KINDS as ALL_KINDS, check_options, lsc_radii

RULES = ("one", "half", "unbalanced")
# Trained by default. The encoder is measured but not trained: with a scalar input (copy, adding) its
# square sub-matrix is one random entry of d s / d x, and pushing that to 1 asks every unit to follow a
# scalar input one-to-one; it saturates the units and did not converge in 500 steps (docs/lsc.md).
KINDS = ("time", "depth", "decoder")
# The authors' stopping rule: every radius within TOLERANCE of its target for PATIENCE consecutive steps.
TOLERANCE = 0.08
PATIENCE = 20
MAX_STEPS = 500
LR = 1e-2      # AdaBelief, the authors' pre-training optimiser
BATCH = 32


def lsc_targets(rule: str = "one", *, layers: int, seq_len: int, kinds=KINDS) -> dict:
  """Target radius per Jacobian kind for a rule.

  Args:
    rule: "one", "half" or "unbalanced" (module docstring).
    layers: depth L of the stack.
    seq_len: T, the sequence length (the unbalanced rule).
    kinds: the Jacobian kinds to train (any of time, depth, encoder, decoder).

  Returns:
    {kind: target} for the asked kinds: time rho_t, depth and encoder rho_d, decoder 1.
  """
  if rule not in RULES:
    raise ValueError(f"--lsc_targets: unknown rule {rule!r}; valid choices: {', '.join(RULES)}")
  unknown = [k for k in kinds if k not in ALL_KINDS]
  if unknown or not kinds:
    raise ValueError(f"--lsc_kinds: unknown or empty kinds {list(kinds)!r}; valid choices: {', '.join(ALL_KINDS)}")
  if rule == "one" or layers == 1:
    time, depth = 1.0, 1.0
  elif rule == "half":
    time, depth = 0.5, 0.5
  else:
    time, depth = seq_len / (layers + seq_len), layers / (layers + seq_len)
  every = {"time": time, "depth": depth, "encoder": depth, "decoder": 1.0}
  return {k: every[k] for k in kinds}


def lsc_loss(cell, *, targets: dict, norm: str = "spectral", method: str = "auto",
             readout: Callable | None = None):
  """The LSC pre-training loss as a pure function ``loss(params, inputs, key) -> (scalar, aux)``.

  Args:
    cell: any rnnstab cell, stack, double or adapted Flax cell (then ``params`` is its Flax params tree).
    targets: {kind: target radius} for the kinds to train (``lsc_targets``); kinds absent from the network
      (depth in one layer, decoder without a readout) are skipped.
    norm: "spectral" or "singular" (``rnnstab.analysis.jacobians``).
    method: "auto" (exact for small states, power for large ones), "exact" or "power".
    readout: optional function of (params, y) -> prediction, giving the decoder Jacobian; its params are
      ``params["readout"]`` and the cell's ``params["cell"]`` when it is given.

  Returns:
    loss(params, inputs (T, n, D), key) -> (mean over kinds and layers of mean_n (rho - target)^2,
    {"radii": {kind: (layers, n)}}).

  References:
    Herranz-Celotti & Rouat, arXiv 2308.12075.
  """
  check_options(norm, method)  # at construction, before anything is traced

  def loss(params, inputs, key):
    if readout is None:
      radii = lsc_radii(cell, params, inputs, key, norm=norm, method=method)
    else:
      radii = lsc_radii(cell, params["cell"], inputs, key, norm=norm, method=method,
                        readout=lambda y: readout(params["readout"], y))
    terms = [jnp.mean(jnp.square(r - targets[kind]), axis=-1) for kind, r in radii.items() if kind in targets]
    return jnp.mean(jnp.concatenate(terms)), {"radii": radii}

  return loss


def lsc_pretrain(cell, params, sample_inputs: Callable, key, *, targets: dict, readout: Callable | None = None,
                 norm: str = "spectral", method: str = "auto", lr: float = LR, max_steps: int = MAX_STEPS,
                 tolerance: float = TOLERANCE, patience: int = PATIENCE):
  """Pre-trains ``params`` until every mean radius is within ``tolerance`` of its target for ``patience``
  consecutive steps, or ``max_steps`` (the authors' rule), with AdaBelief on the LSC loss.

  Args:
    cell, targets, readout, norm, method: as for ``lsc_loss`` (with a readout, params is
      {"cell": ..., "readout": ...}).
    params: the starting params.
    sample_inputs: key -> (T, n, D) task inputs, a fresh batch each step.
    key: PRNG key.
    lr: AdaBelief learning rate.
    max_steps, tolerance, patience: the stopping rule.

  Returns:
    (params, info) with info {"steps": steps taken, "converged": bool, "loss": (max_steps,) NaN after the
    stop, "radii_before"/"radii_after": {kind: (layers,)} mean radii}. Pure: vmap it over seeds (a vmapped
    seed that has stopped keeps its params while the others go on).

  References:
    Herranz-Celotti & Rouat, arXiv 2308.12075.
  """
  loss = lsc_loss(cell, targets=targets, norm=norm, method=method, readout=readout)
  opt = optax.adabelief(lr)
  grad = jax.value_and_grad(loss, has_aux=True)

  def within(radii):
    return jnp.all(jnp.stack([jnp.all(jnp.abs(jnp.mean(r, -1) - targets[k]) < tolerance)
                              for k, r in radii.items() if k in targets]))

  def mean_radii(radii):
    return {k: jnp.mean(r, -1) for k, r in radii.items()}

  def cond(carry):
    _, _, step, streak, _, _ = carry
    return (step < max_steps) & (streak < patience)

  def body(carry):
    params, opt_state, step, streak, losses, _ = carry
    k_data, k_loss = jax.random.split(jax.random.fold_in(key, step))
    (value, aux), grads = grad(params, sample_inputs(k_data), k_loss)
    streak = jnp.where(within(aux["radii"]), streak + 1, 0)
    # The radii that meet the target are those measured before this step's update: stop without it.
    done = streak >= patience
    updates, new_opt = opt.update(grads, opt_state, params)
    new_params = optax.apply_updates(params, updates)
    keep = lambda new, old: jax.tree_util.tree_map(lambda a, b: jnp.where(done, b, a), new, old)
    return (keep(new_params, params), keep(new_opt, opt_state), step + 1, streak, losses.at[step].set(value),
            mean_radii(aux["radii"]))

  k0 = jax.random.fold_in(key, max_steps + 1)
  _, aux0 = loss(params, sample_inputs(jax.random.fold_in(k0, 0)), jax.random.fold_in(k0, 1))
  before = mean_radii(aux0["radii"])
  init = (params, opt.init(params), jnp.int32(0), jnp.int32(0), jnp.full((max_steps,), jnp.nan, jnp.float32),
          before)
  params, _, steps, streak, losses, last = jax.lax.while_loop(cond, body, init)
  return params, {"steps": steps, "converged": streak >= patience, "loss": losses,
                  "radii_before": before, "radii_after": last}
