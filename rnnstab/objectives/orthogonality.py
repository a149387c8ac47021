"""Soft orthogonality of recurrent kernels: the penalty of the oRNN baseline (orthogonal init + penalty).

    L_orth = tau sum_W || W^T W - I ||_F^2      over every square recurrent kernel W

Recurrent kernels are found by structure: square 2-D leaves named "W" or "W_<gate>" (rnnstab's naming
convention, ``rnnstab.cells.base``), in a bare cell's, a stack's or a whole model's params.

References:
  Vorontsov, Trabelsi, Kadoury & Pal, "On orthogonality and learning recurrent networks with long term
  dependencies", ICML 2017 (the soft orthogonality constraint).
  Schmidt et al., ICLR 2021 (oRNN as a baseline of the regularised PLRNN).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from rnnstab.objectives.penalty import add_penalty_gradient

TAU = 0.1  # our default: the papers tune it per task


def recurrent_kernels(params) -> list[jax.Array]:
  """Every square recurrent kernel in ``params``: 2-D (H, H) leaves named "W" or "W_<gate>"."""
  found = []
  for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
    key = path[-1].key if path and hasattr(path[-1], "key") else None
    if isinstance(key, str) and (key == "W" or key.startswith("W_")) and leaf.ndim == 2 and leaf.shape[0] == leaf.shape[1]:
      found.append(leaf)
  return found


def orthogonality_penalty(params, tau: float = TAU) -> jax.Array:
  """tau times the sum over recurrent kernels W of ||W^T W - I||_F^2.

  Args:
    params: any params tree holding rnnstab recurrent kernels.
    tau: the penalty's weight.

  Returns:
    A float32 scalar, differentiable in params.

  Raises:
    ValueError: ``params`` holds no square recurrent kernel.

  References:
    Vorontsov et al., ICML 2017.
  """
  kernels = recurrent_kernels(params)
  if not kernels:
    raise ValueError("orthogonality_penalty: params hold no square recurrent kernel (W or W_<gate>)")
  total = 0.0
  for W in kernels:
    W = W.astype(jnp.float32)
    total = total + jnp.sum(jnp.square(W.T @ W - jnp.eye(W.shape[0], dtype=jnp.float32)))
  return tau * total


def add_orthogonality_reg(tau: float = TAU) -> optax.GradientTransformationExtraArgs:
  """Adds the gradient of ``orthogonality_penalty`` to the updates (optax, ``add_decayed_weights`` style).

  References:
    Vorontsov et al., ICML 2017.
  """
  if not tau >= 0:
    raise ValueError(f"tau: must be >= 0, got {tau!r}")
  return add_penalty_gradient(lambda p: orthogonality_penalty(p, tau), "add_orthogonality_reg")
