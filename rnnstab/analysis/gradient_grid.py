"""The depth x time gradient grid: how large dL/d s^l_t is at every layer l and time t of a deep RNN.

The LSC argument is about this grid: the gradient at (l, t) sums over all monotone paths from the loss
to that point, C(dt + dl, dl) of them, each a product of time and depth Jacobians. Plotting the grid
shows directly whether long-time or deep paths explode or vanish.

References:
  Herranz-Celotti & Rouat, "Stabilizing RNN gradients through pre-training", arXiv 2308.12075 (Fig. 1).
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from rnnstab.cells.combinators import Stack


def _layers(cell, params):
  if isinstance(cell, Stack):
    return list(zip(cell.cells, params["layers"]))
  return [(cell, params)]


def state_gradients(cell, params, inputs: jax.Array, loss_fn: Callable, state0=None):
  """dL/d s^l_t for every layer and time, as the states' pytrees with a leading time axis.

  The network runs step by step (layer l at time t reads layer l-1 at time t); a zero perturbation is added
  to every state s^l_t as it is produced, and the gradient of the loss with respect to the perturbations
  is the gradient with respect to the states (through every later time step and every layer above).

  Args:
    cell: any rnnstab cell or ``Stack`` (also of adapted Flax cells).
    params: its params.
    inputs: (T, B, D), time-major.
    loss_fn: outputs of the last layer (T, B, O) -> scalar loss.
    state0: starting state (zeros by default).

  Returns:
    A list over layers of state pytrees with leaves (T, B, ...).
  """
  layers = _layers(cell, params)
  if state0 is None:
    state0 = cell.initial_state(params, inputs.shape[1:-1])
  states0 = list(state0) if isinstance(cell, Stack) else [state0]

  def run(deltas):
    def body(states, step):
      x, ds = step
      new, u = [], x
      for (c, p), s, d in zip(layers, states, ds):
        s, _ = c.step(p, s, u)
        s = jax.tree_util.tree_map(jnp.add, s, d)
        new.append(s)
        u = c.output(s)   # the layer above reads the perturbed state's output
      return new, u

    _, ys = jax.lax.scan(body, states0, (inputs, deltas))
    return loss_fn(ys)

  T = inputs.shape[0]
  zeros = [jax.tree_util.tree_map(lambda a: jnp.zeros((T,) + a.shape, a.dtype), s) for s in states0]
  return jax.grad(run)(zeros)


def gradient_grid(cell, params, inputs: jax.Array, loss_fn: Callable, state0=None) -> jax.Array:
  """||dL/d s^l_t|| over layers x time: the norm over the batch and the whole state (every leaf).

  Args:
    as for ``state_gradients``.

  Returns:
    (L, T) float32, row l = layer l (0 reads the input), column t = time step.
  """
  grads = state_gradients(cell, params, inputs, loss_fn, state0)
  rows = []
  for g in grads:
    sq = sum(jnp.sum(jnp.square(leaf).reshape(leaf.shape[0], -1), axis=1) for leaf in jax.tree_util.tree_leaves(g))
    rows.append(jnp.sqrt(sq))
  return jnp.stack(rows)
