"""The short-term plasticity neuron: every synapse carries a decaying, Hebbian state of its own."""
from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp

from rnnstab.cells.base import Cell, batch_shape, dot, f32, uniform_fan


@dataclasses.dataclass(frozen=True)
class STPN(Cell):
  """Short-Term Plasticity Neuron (STPN) layer.

      G_t = W + F_{t-1}                                   (per-sample effective weights)
      h_t = tanh([x_t; h_{t-1}] G_t + b)
      F_t = clip(lambda * F_{t-1} + gamma * ([x_t; h_{t-1}] outer h_t), -f_max, f_max)

  with lambda (decay) and gamma (plasticity) learned per synapse. Kernels split at the input/recurrent
  boundary: W = [U; W], lambda = [lambda_U; lambda_W], gamma = [gamma_U; gamma_W], F = [F_U; F_W].
  Params: U (D, H), W (H, H), b (H,) ~ U(-1/sqrt(H), 1/sqrt(H)); lambda_U (D, H), lambda_W (H, H) ~ U(0, 1);
  gamma_U, gamma_W ~ U(-1/sqrt(H), 1/sqrt(H)). State: {"h": (B, H), "F_U": (B, D, H), "F_W": (B, H, H)}, zero
  at the start of a sequence. Output: h. The clip bound ``f_max`` (default 1) and the inits of lambda and
  gamma are our choices where the paper's text leaves them open.

  References:
    Rodriguez, Guo & Moraitis, "Short-term plasticity neurons learning to learn and forget", ICML 2022.
  """

  f_max: float = 1.0

  recurrent_params: ClassVar[tuple[str, ...]] = ("W", "lambda_W", "gamma_W")

  def init(self, key, input_size):
    H, D, dt = self.hidden_size, input_size, self.param_dtype
    ku, kw, kb, klu, klw, kgu, kgw = jax.random.split(key, 7)
    return {"U": uniform_fan(ku, (D, H), H, dt), "W": uniform_fan(kw, (H, H), H, dt),
            "b": uniform_fan(kb, (H,), H, dt),
            "lambda_U": jax.random.uniform(klu, (D, H), dt), "lambda_W": jax.random.uniform(klw, (H, H), dt),
            "gamma_U": uniform_fan(kgu, (D, H), H, dt), "gamma_W": uniform_fan(kgw, (H, H), H, dt)}

  def initial_state(self, params, batch):
    b, (D, H) = batch_shape(batch), params["U"].shape
    return {"h": jnp.zeros(b + (H,), jnp.float32), "F_U": jnp.zeros(b + (D, H), jnp.float32),
            "F_W": jnp.zeros(b + (H, H), jnp.float32)}

  def output(self, state):
    return state["h"]

  def project(self, params, x):
    # The static weights' input term is hoisted; the plastic part needs x_t inside the loop.
    return {"x": f32(x), "z": dot(x, params["U"]) + f32(params["b"])}

  def recur(self, params, state, xp):
    x, h = xp["x"], state["h"]
    z = (xp["z"] + dot(h, params["W"]) + jnp.einsum("...d,...dh->...h", x, state["F_U"])
         + jnp.einsum("...k,...kh->...h", h, state["F_W"]))
    h_new = jnp.tanh(z)

    def plastic(F, pre, lam, gam):
      hebb = pre[..., :, None] * h_new[..., None, :]
      return jnp.clip(f32(lam) * F + f32(gam) * hebb, -self.f_max, self.f_max)

    state = {"h": h_new, "F_U": plastic(state["F_U"], x, params["lambda_U"], params["gamma_U"]),
             "F_W": plastic(state["F_W"], h, params["lambda_W"], params["gamma_W"])}
    return state, h_new
