"""Single-step Jacobians of a deep RNN and their radii: what the Local Stability Condition constrains.

For a stack of L layers with states s^l_t (the full state: [h, c] for an LSTM) and outputs y^l_t, one step
has four kinds of Jacobian (per sample, at a state the network reaches on real inputs):

    time     d s^l_{t+1} / d s^l_t          (layer l's own recurrence, input held fixed)    L of them
    depth    d s^l_{t+1} / d s^{l-1}_{t+1}  (through y^{l-1} = output(s^{l-1}))            L - 1
    encoder  d s^0_{t+1} / d x_{t+1}                                                         1
    decoder  d readout(y^{L-1}_{t+1}) / d y^{L-1}_{t+1}   (when a readout is given)          1

A radius is the spectral radius (largest |eigenvalue|, the paper's default) or the largest singular value.
A non-square Jacobian is made square by keeping a random subset of its larger axis, as the paper does.

Everything here is LAPACK-free and differentiable (``rnnstab.analysis.radius``), so an LSC loss can be
trained on any number of devices:
- ``method="exact"`` forms each Jacobian (``jax.jacfwd``, D JVPs per sample) and takes its radius by
  Gelfand's formula (``gelfand_radius``, within 0.3% of an eigenvalue solver);
- ``method="power"`` never forms the Jacobian: power iteration on Jacobian-vector products (and
  vector-Jacobian products for singular values), for wide layers where D JVPs per sample cost too much;
- ``method="auto"`` (the default) takes "exact" for each Jacobian whose input has at most
  ``AUTO_EXACT_MAX`` entries and "power" above (e.g. STPN's per-sample synaptic state).

References:
  Herranz-Celotti & Rouat, "Stabilizing RNN gradients through pre-training", arXiv 2308.12075 (the LSC,
  its Jacobian kinds and the random square sub-matrix).
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from rnnstab.analysis.multistability import reach
from rnnstab.analysis.radius import NORMS, POWER_ITERATIONS, SQUARINGS, matrix_radius, power_radius, square_up
from rnnstab.cells.combinators import Stack

KINDS = ("time", "depth", "encoder", "decoder")
METHODS = ("auto", "exact", "power")
# Above this many state entries per sample, "auto" estimates a radius by power iteration: forming the
# Jacobian costs that many JVPs per sample and step.
AUTO_EXACT_MAX = 256


def check_options(norm: str, method: str) -> None:
  """One-line errors for a radius kind or estimator that does not exist."""
  if norm not in NORMS:
    raise ValueError(f"norm: unknown radius {norm!r}; valid choices: {', '.join(NORMS)}")
  if method not in METHODS:
    raise ValueError(f"method: unknown method {method!r}; valid choices: {', '.join(METHODS)}")


def _layers(cell, params, state):
  if isinstance(cell, Stack):
    return list(zip(cell.cells, params["layers"], state))
  return [(cell, params, state)]


def _one_sample_maps(cell, params, state, x, readout):
  """[(kind, layer, f, point)] for one sample: f maps the flat variable the Jacobian is taken in to the
  flat state (or readout) it lands in, at ``point``."""
  maps, u, new_states = [], x, []
  layers = _layers(cell, params, state)
  for l, (c, p, s) in enumerate(layers):
    flat_s, unravel_s = ravel_pytree(s)
    to_flat = lambda tree: ravel_pytree(tree)[0]
    maps.append(("time", l, (lambda c, p, u, unravel_s: lambda v: to_flat(c.step(p, unravel_s(v), u)[0]))(
        c, p, u, unravel_s), flat_s))
    if l == 0:
      maps.append(("encoder", 0, (lambda c, p, s: lambda v: to_flat(c.step(p, s, v)[0]))(c, p, s), u))
    else:
      below_cell, below_new = layers[l - 1][0], new_states[l - 1]
      flat_b, unravel_b = ravel_pytree(below_new)
      maps.append(("depth", l, (lambda c, p, s, bc, unravel_b: lambda v: to_flat(c.step(p, s, bc.output(unravel_b(v)))[0]))(
          c, p, s, below_cell, unravel_b), flat_b))
    new, y = c.step(p, s, u)
    new_states.append(new)
    u = y
  if readout is not None:
    # With respect to the last layer's output, which is all the readout sees: taken with respect to a
    # full state, an LSTM's c (or an ALIF's v, a) would only add zero columns, and a random square
    # sub-matrix of a 1-output readout would then often be a single zero.
    maps.append(("decoder", len(layers) - 1, readout, u))
  return maps


def sample_states(cell, params, inputs: jax.Array, key):
  """Per sample, the state reached at a uniformly drawn time t of its sequence and the input x_{t+1} that
  comes next: (state with batch (n,), x (n, D)), not differentiated. One random time per sample makes the
  mean over samples an unbiased estimate of the mean over samples and times at a fraction of the cost."""
  T, n = inputs.shape[:2]
  t = jax.random.randint(key, (n,), 0, T)
  # The radii are functions of the parameters at the states the network visits, not of how the states
  # got there: backpropagating through up to T steps of the network itself would bring back the very
  # exploding and vanishing gradients the LSC is meant to cure (ALIF's surrogate, slope 30 near
  # threshold, overflowed to NaN within 40 pre-training steps).
  state = jax.lax.stop_gradient(reach(cell, params, inputs, t))
  x = jnp.take_along_axis(inputs, t[None, :, None], axis=0)[0]
  return state, x


def lsc_radii(cell, params, inputs: jax.Array, key, *, norm: str = "spectral", method: str = "auto",
              readout: Callable | None = None, squarings: int = SQUARINGS,
              iterations: int = POWER_ITERATIONS) -> dict:
  """Per-sample radii of every single-step Jacobian of ``cell`` on states reached on ``inputs``.

  Args:
    cell: any rnnstab cell, ``Stack``, ``Double`` or adapted Flax cell (a non-Stack cell is one layer).
    params: its params.
    inputs: (T, n, D) task inputs, time-major; each sample is measured at one random time.
    key: PRNG key (sample times, square sub-matrices, power-iteration starts).
    norm: "spectral" (spectral radius, the paper's default) or "singular" (largest singular value).
    method: "exact" (form the Jacobians), "power" (JVP power iteration, for wide layers) or "auto" (exact
      up to ``AUTO_EXACT_MAX`` state entries per sample, power above).
    readout: optional y -> prediction map of the model on top, for the decoder Jacobian.
    squarings, iterations: accuracy of the exact and power estimators.

  Returns:
    {kind: (layers_of_that_kind, n)} for kind in time (L), depth (L - 1, absent when L = 1), encoder (1)
    and decoder (1, with a readout). Differentiable in params.

  References:
    Herranz-Celotti & Rouat, arXiv 2308.12075.
  """
  check_options(norm, method)
  k_time, k_rest = jax.random.split(key)
  state, x = sample_states(cell, params, inputs, k_time)

  def one(s, x, k):
    out = {}
    for i, (kind, _, f, point) in enumerate(_one_sample_maps(cell, params, s, x, readout)):
      ks, kp = jax.random.split(jax.random.fold_in(k, i))
      if method == "exact" or (method == "auto" and point.size <= AUTO_EXACT_MAX):
        r = matrix_radius(square_up(jax.jacfwd(f)(point), ks), norm, squarings)
      else:
        r = power_radius(_square_map(f, point, ks), _square_point(f, point, ks), kp, norm=norm,
                         iterations=iterations)
      out.setdefault(kind, []).append(r)
    return {kind: jnp.stack(v) for kind, v in out.items()}

  n = inputs.shape[1]
  radii = jax.vmap(one)(state, x, jax.random.split(k_rest, n))
  return {kind: v.T for kind, v in radii.items()}


def _shapes(f, point):
  return jax.eval_shape(f, point).shape[0], point.shape[0]


def _square_point(f, point, key):
  """The point of ``_square_map``: ``point`` itself, or its kept coordinates when inputs outnumber outputs."""
  a, b = _shapes(f, point)
  if b <= a:
    return point
  return point[jax.random.permutation(key, b)[:a]]


def _square_map(f, point, key):
  """``f`` restricted to a square Jacobian: the same random sub-matrix as ``square_up`` would keep."""
  a, b = _shapes(f, point)
  if a == b:
    return f
  keep = jax.random.permutation(key, max(a, b))[:min(a, b)]
  if a > b:
    return lambda v: f(v)[keep]
  return lambda v: f(point.at[keep].set(v))
