"""Gated cells: GRU, LSTM and MGU, with fused gate kernels (one input and one recurrent matmul per step).

Gate blocks are concatenated along the last axis in the order given in each docstring, so a (D, k*H)
kernel ``U`` holds k gate kernels of shape (D, H); ``W`` is the (H, k*H) recurrent counterpart.
"""
from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp

from rnnstab.cells.base import Cell, batch_shape, dot, f32, uniform_fan


@dataclasses.dataclass(frozen=True)
class GRU(Cell):
  """Gated recurrent unit, in the PyTorch / Flax ``GRUCell`` form (reset gate applied after W_n h).

      r = sigmoid(x U_r + b_r + h W_r)
      z = sigmoid(x U_z + b_z + h W_z)
      n = tanh(x U_n + b_n + r * (h W_n + b_hn))
      h' = (1 - z) * n + z * h

  Params: U (D, 3H) and W (H, 3H) with gate blocks [r, z, n]; b (3H,); b_hn (H,).
  Default init: every weight and bias U(-1/sqrt(H), 1/sqrt(H)) (PyTorch ``nn.GRU``, the warmup paper's
  setting); ``recurrent_init="orthogonal"`` makes each gate block of W orthogonal.

  References:
    Cho et al., "Learning phrase representations using RNN encoder-decoder", EMNLP 2014.
  """

  recurrent_inits: ClassVar[tuple[str, ...]] = ("default", "orthogonal")

  def init(self, key, input_size):
    H, dt = self.hidden_size, self.param_dtype
    ku, kw, kb, kn = jax.random.split(key, 4)
    W = uniform_fan(kw, (H, 3 * H), H, dt) if self.recurrent_init == "default" else self._recurrent_kernel(kw, 3)
    return {"U": uniform_fan(ku, (input_size, 3 * H), H, dt), "W": W,
            "b": uniform_fan(kb, (3 * H,), H, dt), "b_hn": uniform_fan(kn, (H,), H, dt)}

  def recur(self, params, state, xp):
    H = self.hidden_size
    hw = dot(state, params["W"])
    r = jax.nn.sigmoid(xp[..., :H] + hw[..., :H])
    z = jax.nn.sigmoid(xp[..., H:2 * H] + hw[..., H:2 * H])
    n = jnp.tanh(xp[..., 2 * H:] + r * (hw[..., 2 * H:] + f32(params["b_hn"])))
    h = (1.0 - z) * n + z * state
    return h, h


@dataclasses.dataclass(frozen=True)
class LSTM(Cell):
  """Long short-term memory cell (no peepholes), as PyTorch ``nn.LSTM`` / Flax ``LSTMCell``.

      i, f, g, o = sigmoid(.), sigmoid(.), tanh(.), sigmoid(.)   of   x U + h W + b
      c' = f * c + i * g
      h' = o * tanh(c')

  Params: U (D, 4H), W (H, 4H), b (4H,), gate blocks [i, f, g, o]. State: {"h", "c"}. Output: h.
  Default init: U(-1/sqrt(H), 1/sqrt(H)) for every weight and bias (PyTorch), plus ``forget_bias``
  added to b_f (1.0 is the classic Gers et al. setting used as the rPLRNN paper's baseline).
  ``chrono_max=T`` sets b_f = log(U[1, T - 1]) and b_i = -b_f (chrono initialisation).

  References:
    Hochreiter & Schmidhuber, "Long short-term memory", Neural Computation 1997.
    Tallec & Ollivier, "Can recurrent neural networks warp time?", ICLR 2018 (chrono init).
  """

  forget_bias: float = 0.0
  chrono_max: int | None = None

  recurrent_inits: ClassVar[tuple[str, ...]] = ("default", "orthogonal")

  def __post_init__(self):
    super().__post_init__()
    if self.chrono_max is not None and (not isinstance(self.chrono_max, int) or self.chrono_max < 3):
      raise ValueError(f"LSTM: chrono_max must be an integer >= 3 (the longest dependency), got {self.chrono_max!r}")

  def init(self, key, input_size):
    H, dt = self.hidden_size, self.param_dtype
    ku, kw, kb, kc = jax.random.split(key, 4)
    W = uniform_fan(kw, (H, 4 * H), H, dt) if self.recurrent_init == "default" else self._recurrent_kernel(kw, 4)
    b = uniform_fan(kb, (4 * H,), H, dt)
    b = b.at[H:2 * H].add(self.forget_bias)
    if self.chrono_max is not None:
      b_f = jnp.log(jax.random.uniform(kc, (H,), jnp.float32, 1.0, self.chrono_max - 1.0)).astype(dt)
      b = b.at[H:2 * H].set(b_f).at[:H].set(-b_f)
    return {"U": uniform_fan(ku, (input_size, 4 * H), H, dt), "W": W, "b": b}

  def initial_state(self, params, batch):
    zeros = jnp.zeros(batch_shape(batch) + (self.hidden_size,), jnp.float32)
    return {"h": zeros, "c": zeros}

  def recur(self, params, state, xp):
    H = self.hidden_size
    gates = xp + dot(state["h"], params["W"])
    i = jax.nn.sigmoid(gates[..., :H])
    f = jax.nn.sigmoid(gates[..., H:2 * H])
    g = jnp.tanh(gates[..., 2 * H:3 * H])
    o = jax.nn.sigmoid(gates[..., 3 * H:])
    c = f * state["c"] + i * g
    h = o * jnp.tanh(c)
    return {"h": h, "c": c}, h


@dataclasses.dataclass(frozen=True)
class MGU(Cell):
  """Minimal gated unit: one forget gate that also gates the recurrent input of the candidate.

      f = sigmoid(x U_f + h W_f + b_f)
      n = tanh(x U_n + (f * h) W_n + b_n)
      h' = (1 - f) * h + f * n

  Params: U (D, 2H), W (H, 2H), b (2H,), blocks [f, n].
  Default init: U(-1/sqrt(H), 1/sqrt(H)) for every weight and bias, as for the PyTorch GRU.

  References:
    Zhou, Wu, Zhang & Zhou, "Minimal gated unit for recurrent neural networks", IJAC 2016.
  """

  recurrent_inits: ClassVar[tuple[str, ...]] = ("default", "orthogonal")

  def init(self, key, input_size):
    H, dt = self.hidden_size, self.param_dtype
    ku, kw, kb = jax.random.split(key, 3)
    W = uniform_fan(kw, (H, 2 * H), H, dt) if self.recurrent_init == "default" else self._recurrent_kernel(kw, 2)
    return {"U": uniform_fan(ku, (input_size, 2 * H), H, dt), "W": W, "b": uniform_fan(kb, (2 * H,), H, dt)}

  def recur(self, params, state, xp):
    H = self.hidden_size
    W = params["W"]
    f = jax.nn.sigmoid(xp[..., :H] + dot(state, W[:, :H]))
    n = jnp.tanh(xp[..., H:] + dot(f * state, W[:, H:]))
    h = (1.0 - f) * state + f * n
    return h, h
