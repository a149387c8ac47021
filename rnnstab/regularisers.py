"""Regularisers behind ``--reg``: ``name`` or ``name:key=value,key=value`` -> an optax transform.

Each regulariser is an optax ``GradientTransformationExtraArgs`` that adds its penalty's gradient to the
updates (``optax.add_decayed_weights`` style); ``rnnstab.optimizers.make_optimizer`` puts it first in the
chain, before gradient clipping and the optimiser, so training follows the gradient of loss + penalty.

    --reg=none                      no regulariser (the default)
    --reg=mar                       manifold-attractor regularisation, tau = 5 on half of the units
    --reg=mar:tau=0.1,fraction=0.25 its options: tau (all three terms), tau_A, tau_W, tau_h, fraction,
                                    reduce (mean, the authors' code, or sum, the paper's equation)
    --reg=orth:tau=0.1              soft orthogonality of every recurrent kernel (with --init=orthogonal: oRNN)
"""
from __future__ import annotations

import inspect

import optax

from rnnstab.objectives.manifold_attractor import add_manifold_attractor_reg
from rnnstab.objectives.orthogonality import add_orthogonality_reg
from rnnstab.registry import Registry

REGULARISERS = Registry("regulariser")
REGULARISERS.register("mar", add_manifold_attractor_reg,
                      "manifold-attractor regularisation of PLRNN units (Schmidt et al. 2021)")
REGULARISERS.register("orth", add_orthogonality_reg,
                      "soft orthogonality of recurrent kernels, tau ||W^T W - I||^2 (Vorontsov et al. 2017; oRNN)")


def parse_reg(spec: str) -> tuple[str, dict]:
  """``"mar:tau=5,fraction=0.5"`` -> ("mar", {"tau": 5.0, "fraction": 0.5}); ``"none"`` -> ("none", {}).

  Raises:
    ValueError: with one line naming --reg and the valid choices or options.
  """
  name, _, rest = spec.partition(":")
  if name == "none":
    if rest:
      raise ValueError(f"--reg: none takes no options, got {spec!r}")
    return name, {}
  if name not in REGULARISERS:
    raise ValueError(f"--reg: unknown regulariser {name!r}; valid choices: none, {', '.join(REGULARISERS.names())}")
  signature = inspect.signature(REGULARISERS[name]).parameters
  valid = list(signature)
  options = {}
  for item in filter(None, rest.split(",")):
    key, eq, value = item.partition("=")
    if key not in valid or not eq:
      raise ValueError(f"--reg: {name} has no option {item!r}; write {name}:key=value with key one of "
                       f"{', '.join(valid)}")
    if isinstance(signature[key].default, str):   # a named choice (mar's reduce), checked by the regulariser
      options[key] = value
      continue
    try:
      options[key] = float(value)
    except ValueError:
      raise ValueError(f"--reg: option {key} of {name} must be a number, got {value!r}") from None
  make_reg(name, options)  # range checks (negative tau, fraction outside [0, 1]) fail here
  return name, options


def make_reg(name: str, options: dict) -> optax.GradientTransformationExtraArgs | None:
  """The regulariser ``name`` with ``options`` (None for "none")."""
  if name == "none":
    return None
  try:
    return REGULARISERS[name](**options)
  except ValueError as e:
    raise ValueError(f"--reg: {e}") from None
