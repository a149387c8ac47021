"""The Linear Recurrent Unit: a diagonal complex linear recurrence with a ring initialisation."""
from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import jax
import jax.numpy as jnp

from rnnstab.cells.base import Cell, batch_shape, dot, f32


@dataclasses.dataclass(frozen=True)
class LRU(Cell):
  """Linear Recurrent Unit with a state of ``hidden_size`` complex numbers, kept as float32 (re, im).

      lambda = exp(-exp(nu_log) + i exp(theta_log))      per state unit, |lambda| < 1 always
      x' = lambda * x + exp(gamma_log) * (u B)            gamma = sqrt(1 - |lambda|^2) at init
      y' = Re(x' C) + u D

  State: {"re", "im", "y"}; the output y is kept in the state so that ``output(state)`` needs no params
  (it adds only zero eigenvalues to the time Jacobian, whose radius is max |lambda|).
  Params: nu_log, theta_log, gamma_log (H,); B_re, B_im (D, H) ~ N(0, 1/(2D)); C_re, C_im (H, H) ~ N(0, 1/H);
  D (D, H): the paper's element-wise skip D ~ N(0, 1) on its diagonal when D = H, else N(0, 1/D).
  Ring init: |lambda| uniform on the ring r_min <= |lambda| <= r_max (by area), phase uniform in
  [0, max_phase]. Defaults r_min = 0.9, r_max = 0.999, max_phase = 2 pi (the paper's long-range setting).

  References:
    Orvieto, Smith, Gu, Fernando, Gulcehre, Pascanu & De, "Resurrecting recurrent neural networks for
    long sequences", ICML 2023.
  """

  r_min: float = 0.9
  r_max: float = 0.999
  max_phase: float = 2 * math.pi

  recurrent_params: ClassVar[tuple[str, ...]] = ("nu_log", "theta_log")

  def __post_init__(self):
    super().__post_init__()
    if not 0 <= self.r_min < self.r_max <= 1:
      raise ValueError(f"LRU: needs 0 <= r_min < r_max <= 1, got r_min={self.r_min}, r_max={self.r_max}")

  def init(self, key, input_size):
    H, dt = self.hidden_size, self.param_dtype
    k1, k2, kb1, kb2, kc1, kc2, kd = jax.random.split(key, 7)
    u1 = jax.random.uniform(k1, (H,), jnp.float32)
    u2 = jax.random.uniform(k2, (H,), jnp.float32)
    nu_log = jnp.log(-0.5 * jnp.log(u1 * (self.r_max ** 2 - self.r_min ** 2) + self.r_min ** 2))
    theta_log = jnp.log(self.max_phase * u2)
    modulus = jnp.exp(-jnp.exp(nu_log))
    b = lambda k: jax.random.normal(k, (input_size, H), jnp.float32) / math.sqrt(2 * input_size)
    c = lambda k: jax.random.normal(k, (H, H), jnp.float32) / math.sqrt(H)
    if input_size == H:
      skip = jnp.diag(jax.random.normal(kd, (H,), jnp.float32))
    else:
      skip = jax.random.normal(kd, (input_size, H), jnp.float32) / math.sqrt(input_size)
    params = {"nu_log": nu_log, "theta_log": theta_log, "gamma_log": jnp.log(jnp.sqrt(1.0 - modulus ** 2)),
              "B_re": b(kb1), "B_im": b(kb2), "C_re": c(kc1), "C_im": c(kc2), "D": skip}
    return {k: v.astype(dt) for k, v in params.items()}

  def initial_state(self, params, batch):
    zeros = jnp.zeros(batch_shape(batch) + (self.hidden_size,), jnp.float32)
    return {"re": zeros, "im": zeros, "y": zeros}

  def output(self, state):
    return state["y"]

  def project(self, params, x):
    gamma = jnp.exp(f32(params["gamma_log"]))
    return {"re": gamma * dot(x, params["B_re"]), "im": gamma * dot(x, params["B_im"]), "skip": dot(x, params["D"])}

  def recur(self, params, state, xp):
    modulus = jnp.exp(-jnp.exp(f32(params["nu_log"])))
    phase = jnp.exp(f32(params["theta_log"]))
    lam_re, lam_im = modulus * jnp.cos(phase), modulus * jnp.sin(phase)
    re = lam_re * state["re"] - lam_im * state["im"] + xp["re"]
    im = lam_re * state["im"] + lam_im * state["re"] + xp["im"]
    y = dot(re, params["C_re"]) - dot(im, params["C_im"]) + xp["skip"]
    return {"re": re, "im": im, "y": y}, y
