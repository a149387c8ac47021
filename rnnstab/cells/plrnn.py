"""Piecewise-linear RNN (PLRNN), the latent model of the regularised-PLRNN paper.

    z_t = A z_{t-1} + W relu(z_{t-1}) + h + C s_t        A diagonal, W off-diagonal

References:
  Schmidt, Koppe, Monfared, Beutelspacher & Durstewitz, "Identifying nonlinear dynamical systems with
  multiple time scales and long-range dependencies", ICLR 2021 (arXiv 1910.03471).
  Durstewitz, "A state space approach for piecewise-linear recurrent neural networks", PLOS CB 2017.
"""
from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import jax
import jax.numpy as jnp

from rnnstab.cells.base import Cell, batch_shape, dot, f32
from rnnstab.cells.plrnn_loop import plrnn_time_loop
from rnnstab.objectives.manifold_attractor import awh


@dataclasses.dataclass(frozen=True)
class PLRNN(Cell):
  """PLRNN latent cell; the output is z itself (the readout that follows is linear).

  Params: A (H,) the diagonal of A; W (H, H) kernel layout, so W[j, i] is the paper's W_ij (effect of
  unit j on unit i); its diagonal is masked to zero in every step, so it stays zero under training;
  h (H,); C (D, H); z0 (H,) the learned initial state.
  Default init (following the authors' code): AW ~ N(0, 1/H) split into A = diag(AW) and W = the rest,
  scaled by 1/max(1, ||AW||_2) so the spectral radius is <= 1 (the authors shrink by a fixed factor
  until an eigenvalue test passes; the spectral-norm bound needs no non-symmetric eigensolver, which
  GPUs and TPUs lack); h ~ N(0, 1/H); C ~ N(0, 1/H) * sqrt(2) * exp(1.2 / max(H, 6) - 2.4);
  z0 ~ U[0, 1).
  ``recurrent_init="awh"``: then the first floor(reg_fraction * H) units start as perfect integrators,
  A_ii = 1, incoming W_ij = 0, h_i = 0 (the paper's AWh init; ``rnnstab.objectives.manifold_attractor``).
  ``recurrent_init="identity"``: every unit so, A = I, W = 0, h = 0 (z_t = z_{t-1} + C s_t at the start):
  the paper's iPLRNN baseline, the PLRNN's counterpart of the IRNN (the authors' benchmark runs of it
  set per_reg = 1 in their AWh init).
  ``mean_centre=True``: relu(z - mean_i z_i) in place of relu(z), the mean-centred PLRNN of the
  reconstruction papers' code, which keeps the thresholds near the state's centre.
  ``clip_range=c > 0``: each new state clipped to [-c, c], the reconstruction code's bound that keeps
  free runs of integrator-like units (A_ii near 1) finite.
  ``recurrent_init="talathi_vartak"``: AW = (I + R^T R / H) / lambda_max with R ~ N(0, 1), a symmetric
  positive-definite matrix of spectral radius 1 (A_ii around 0.4, small W): slow, stable, non-oscillating
  dynamics, the init of the reconstruction papers' PLRNNs (rnnstab.dsr).

  References: Schmidt et al., ICLR 2021; Durstewitz 2017; Brenner et al., "Tractable dendritic RNNs for
  reconstructing nonlinear dynamical systems", ICML 2022 (the mean-centred PLRNN); Talathi & Vartak,
  "Improving performance of recurrent neural network with ReLU nonlinearity", ICLR workshop 2016
  (arXiv 1511.03771).
  """

  reg_fraction: float = 0.5
  mean_centre: bool = False
  clip_range: float = 0.0

  recurrent_params: ClassVar[tuple[str, ...]] = ("A", "W")
  recurrent_inits: ClassVar[tuple[str, ...]] = ("default", "awh", "identity", "talathi_vartak")

  def init(self, key, input_size):
    H, dt = self.hidden_size, self.param_dtype
    kaw, kh, kc, kz = jax.random.split(key, 4)
    if self.recurrent_init == "talathi_vartak":
      r = jax.random.normal(kaw, (H, H), jnp.float32)
      aw = jnp.eye(H) + r.T @ r / H
      aw = aw / jnp.linalg.eigvalsh(aw)[-1]   # symmetric: its largest eigenvalue is its spectral radius
    else:
      aw = jax.random.normal(kaw, (H, H), jnp.float32) / math.sqrt(H)
      aw = aw / jnp.maximum(1.0, jnp.linalg.norm(aw, ord=2))
    c_scale = math.sqrt(2.0) * math.exp(1.2 / max(H, 6) - 2.4) / math.sqrt(H)
    params = {
        "A": jnp.diag(aw).astype(dt),
        "W": (aw * (1.0 - jnp.eye(H))).T.astype(dt),
        "h": (jax.random.normal(kh, (H,), jnp.float32) / math.sqrt(H)).astype(dt),
        "C": (jax.random.normal(kc, (input_size, H), jnp.float32) * c_scale).astype(dt),
        "z0": jax.random.uniform(kz, (H,), jnp.float32).astype(dt),
    }
    if self.recurrent_init in ("awh", "identity"):
      return awh(params, 1.0 if self.recurrent_init == "identity" else self.reg_fraction)
    return params

  def initial_state(self, params, batch):
    return jnp.broadcast_to(f32(params["z0"]), batch_shape(batch) + (self.hidden_size,))

  def project(self, params, x):
    return dot(x, params["C"]) + f32(params["h"])

  def prepare(self, params):
    """Params with W's diagonal masked to zero ("W_offdiag"), once per sequence instead of every step;
    idempotent."""
    return params if "W_offdiag" in params else {**params, "W_offdiag": self._offdiag(params)}

  def _offdiag(self, params):
    return params["W"] * (1 - jnp.eye(self.hidden_size, dtype=params["W"].dtype))

  def time_loop(self, params, xs, state0, last: bool, unroll: int = 1):
    """The whole time loop with a hand-derived backward pass (``rnnstab.cells.plrnn_loop``), which
    ``unroll(backend="remat")`` runs instead of rematerialised steps; None where it does not apply
    (parameters not float32).

    Args: as ``plrnn_time_loop``: prepared params, inputs (T, *batch, D), initial state, whether only
      the last output is wanted, the scan's unroll.
    Returns: (final state, outputs (T or 1, *batch, H)), or None.
    """
    if any(jnp.asarray(params[k]).dtype != jnp.float32 for k in ("A", "W_offdiag", "C", "h")):
      return None
    return plrnn_time_loop(self, params, xs, state0, last, unroll)

  def recur(self, params, state, xp):
    W = params["W_offdiag"] if "W_offdiag" in params else self._offdiag(params)
    act = state - jnp.mean(state, axis=-1, keepdims=True) if self.mean_centre else state
    z = f32(params["A"]) * state + dot(jax.nn.relu(act), W) + xp
    if self.clip_range > 0:
      z = jnp.clip(z, -self.clip_range, self.clip_range)
    return z, z
