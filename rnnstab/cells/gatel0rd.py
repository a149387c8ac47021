"""GateL0RD: a latent state that changes only when a gate opens, with an L0 penalty on the openings."""
from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp

from rnnstab.cells.base import Cell, batch_shape, dot


def heaviside_st(x):
  """1[x > 0] forward with the straight-through gradient d/dx = 1, as the GateL0RD paper trains its L0 term."""
  return x + jax.lax.stop_gradient((x > 0).astype(x.dtype) - x)


@dataclasses.dataclass(frozen=True)
class GateL0RD(Cell):
  """Gated L0-regularised dynamics: the latent h keeps its value unless the gate Lambda opens.

      Lambda = max(0, tanh(x U_g + h W_g + b_g + eps))     eps ~ N(0, gate_noise^2) in training only
      h'     = Lambda * tanh(x U_r + h W_r + b_r) + (1 - Lambda) * h
      y'     = tanh(x U_p + h' W_p + b_p) * sigmoid(x U_o + h' W_o + b_o)
      penalty per step = l0_weight * ||Heaviside(Lambda)||_0   (straight-through gradient)

  State: {"h", "y"} (y, the output, does not feed back: its Jacobian columns are zero, so it adds no
  eigenvalue). Params: U_g (D, H), W_g (H, H), b_g (H,) for g in g (gate), r (recommendation), p and o
  (output), PyTorch's U(-1/sqrt(H), 1/sqrt(H)).

  The penalty and the noise exist only in training: ``unroll(..., key=k, penalties=True)`` draws the noise
  and returns the penalty averaged over time, which ``SequenceModel`` adds to the task loss; evaluation and
  the analyses run the deterministic cell. The penalty is summed over units (the paper's L0 norm of the
  gate vector) and averaged over steps and sequences, like the task loss. ``l0_weight`` (lambda) is tuned
  per task in the paper; 0.01 is a middle value.

  References:
    Gumbsch, Butz & Martius, "Sparsely changing latent states for prediction and planning in partially
    observable domains", NeurIPS 2021.
  """

  l0_weight: float = 0.01
  gate_noise: float = 0.1

  recurrent_params: ClassVar[tuple[str, ...]] = ("W_g", "W_r")
  recurrent_inits: ClassVar[tuple[str, ...]] = ("default", "orthogonal")
  gates: ClassVar[tuple[str, ...]] = ("g", "r", "p", "o")

  def __post_init__(self):
    super().__post_init__()
    for name in ("l0_weight", "gate_noise"):
      if getattr(self, name) < 0:
        raise ValueError(f"GateL0RD: {name} must be >= 0, got {getattr(self, name)!r}")

  def init(self, key, input_size):
    return self._pytorch_gates(key, input_size)

  def initial_state(self, params, batch):
    zeros = jnp.zeros(batch_shape(batch) + (self.hidden_size,), jnp.float32)
    return {"h": zeros, "y": zeros}

  def output(self, state):
    return state["y"]

  def noise(self, key, xps):
    """Projected inputs with the training noise of the gate, one draw per step, unit and sequence."""
    return {**xps, "noise": self.gate_noise * jax.random.normal(key, xps["g"].shape, jnp.float32)}

  def recur_penalised(self, params, state, xp):
    """``recur`` plus this step's L0 penalty, shape batch."""
    h = state["h"]
    gate = jnp.maximum(0.0, jnp.tanh(xp["g"] + dot(h, params["W_g"]) + xp.get("noise", 0.0)))
    h = gate * jnp.tanh(xp["r"] + dot(h, params["W_r"])) + (1.0 - gate) * h
    y = jnp.tanh(xp["p"] + dot(h, params["W_p"])) * jax.nn.sigmoid(xp["o"] + dot(h, params["W_o"]))
    return {"h": h, "y": y}, y, self.l0_weight * jnp.sum(heaviside_st(gate), axis=-1)

  def recur(self, params, state, xp):
    state, y, _ = self.recur_penalised(params, state, xp)
    return state, y
