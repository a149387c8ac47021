"""A differentiable penalty of the params as an optax transform: what ``optax.add_decayed_weights`` is to
weight decay, ``add_penalty_gradient(penalty)`` is to any penalty (manifold attractors, orthogonality)."""
from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import optax


class PenaltyState(NamedTuple):
  """No state: a penalty is a function of the current params alone."""


def add_penalty_gradient(penalty: Callable, name: str = "penalty") -> optax.GradientTransformationExtraArgs:
  """An optax transform that adds ``grad(penalty)(params)`` to the updates.

  First in a chain (before clipping and the optimiser) it gives exactly the gradient of loss + penalty;
  after the optimiser's scaling it is decoupled, as AdamW's weight decay.

  Args:
    penalty: params -> scalar, differentiable.
    name: how errors name the transform.

  Returns:
    An optax ``GradientTransformationExtraArgs`` whose ``update`` needs ``params``.
  """

  def init_fn(params):
    del params
    return PenaltyState()

  def update_fn(updates, state, params=None, **extra_args):
    del extra_args
    if params is None:
      raise ValueError(f"{name}: update needs params (opt.update(grads, state, params))")
    grads = jax.grad(penalty)(params)
    return jax.tree_util.tree_map(lambda u, g: u + g.astype(u.dtype), updates, grads), state

  return optax.GradientTransformationExtraArgs(init_fn, update_fn)
