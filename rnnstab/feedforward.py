"""A deep MLP as pure functions, and the radii of its layer-to-layer Jacobians (the LSC for feed-forward nets).

For a layer a' = f(a W + b) the Jacobian is d a' / d a = diag(f'(z)) W^T. The LSC asks E[rho] = 1 for every
layer, and the classic variance-preserving inits meet it in expectation: Glorot (W ~ var 1/n at equal
fan-in and fan-out) with tanh in its linear regime, He (var 2/n) with ReLU (about half of f' is 1, and a
random n/2 x n/2 block of var 2/n has spectral radius about 1 by the circular law), and orthogonal W with
a linear or near-linear f.

References:
  Herranz-Celotti & Rouat, "Stabilizing RNN gradients through pre-training", arXiv 2308.12075 (Section on
  feed-forward networks).
  Glorot & Bengio, AISTATS 2010; He, Zhang, Ren & Sun, ICCV 2015; Saxe, McClelland & Ganguli, ICLR 2014.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from rnnstab.analysis.radius import matrix_radius
from rnnstab.orthogonal import orthogonal

ACTIVATIONS = {"tanh": jnp.tanh, "relu": jax.nn.relu, "linear": lambda z: z, "sin": jnp.sin}
INITS = ("glorot", "he", "orthogonal")


def mlp_init(key, sizes: tuple[int, ...], init: str = "glorot") -> list[dict]:
  """Weights of an MLP with layer widths ``sizes`` (input first): [{"W": (n_in, n_out), "b": zeros}].

  Args:
    key: PRNG key.
    sizes: widths, e.g. (128,) * 31 for depth 30 at width 128.
    init: "glorot" (normal, var 2 / (n_in + n_out)), "he" (normal, var 2 / n_in) or "orthogonal".
  """
  if init not in INITS:
    raise ValueError(f"init: unknown MLP init {init!r}; valid choices: {', '.join(INITS)}")
  layers = []
  for k, (n_in, n_out) in zip(jax.random.split(key, len(sizes) - 1), zip(sizes[:-1], sizes[1:])):
    if init == "orthogonal":
      W = orthogonal(k, n_in, n_out)
    else:
      var = 2.0 / (n_in + n_out) if init == "glorot" else 2.0 / n_in
      W = jax.random.normal(k, (n_in, n_out), jnp.float32) * math.sqrt(var)
    layers.append({"W": W, "b": jnp.zeros((n_out,), jnp.float32)})
  return layers


def mlp_apply(layers, x, activation: str = "relu"):
  """All layers' activations [a^1, ..., a^L] for inputs x (..., n_0)."""
  f = ACTIVATIONS[activation]
  out = []
  for layer in layers:
    x = f(x @ layer["W"] + layer["b"])
    out.append(x)
  return out


def mlp_radii(layers, x, activation: str = "relu", norm: str = "spectral") -> jax.Array:
  """Per layer and sample, the radius of d a^l / d a^(l-1) = diag(f'(z^l)) W_l^T: (L, n).

  Args:
    layers: ``mlp_init`` weights (square layers: equal widths).
    x: (n, n_0) inputs.
    activation: a name in ``ACTIVATIONS``.
    norm: "spectral" or "singular".
  """
  if activation not in ACTIVATIONS:
    raise ValueError(f"activation: unknown {activation!r}; valid choices: {', '.join(ACTIVATIONS)}")
  f = ACTIVATIONS[activation]
  radii, a = [], x
  for layer in layers:
    z = a @ layer["W"] + layer["b"]
    slope = jax.vmap(jax.vmap(jax.grad(f)))(z)
    radii.append(matrix_radius(slope[:, :, None] * layer["W"].T[None], norm))
    a = f(z)
  return jnp.stack(radii)
