"""Gated cells: GRU, LSTM and MGU, one input kernel U_g, recurrent kernel W_g and bias b_g per gate g."""
from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp

from rnnstab.cells.base import Cell, batch_shape, dot, f32, uniform_fan
from rnnstab.cells.lstm_loop import lstm_time_loop


@dataclasses.dataclass(frozen=True)
class GRU(Cell):
  """Gated recurrent unit, in the PyTorch / Flax ``GRUCell`` form (reset gate applied after W_n h).

      r = sigmoid(x U_r + b_r + h W_r)
      z = sigmoid(x U_z + b_z + h W_z)
      n = tanh(x U_n + b_n + r * (h W_n + b_hn))
      h' = (1 - z) * n + z * h

  Params: U_g (D, H), W_g (H, H), b_g (H,) for g in r, z, n; b_hn (H,).
  Default init: every weight and bias U(-1/sqrt(H), 1/sqrt(H)) (PyTorch ``nn.GRU``, the warmup paper's
  setting); ``recurrent_init="orthogonal"`` makes each W_g orthogonal.

  References:
    Cho et al., "Learning phrase representations using RNN encoder-decoder", EMNLP 2014.
  """

  recurrent_params: ClassVar[tuple[str, ...]] = ("W_r", "W_z", "W_n")
  recurrent_inits: ClassVar[tuple[str, ...]] = ("default", "orthogonal")
  gates: ClassVar[tuple[str, ...]] = ("r", "z", "n")

  def init(self, key, input_size):
    k, kn = jax.random.split(key)
    params = self._pytorch_gates(k, input_size)
    params["b_hn"] = uniform_fan(kn, (self.hidden_size,), self.hidden_size, self.param_dtype)
    return params

  def recur(self, params, state, xp):
    r = jax.nn.sigmoid(xp["r"] + dot(state, params["W_r"]))
    z = jax.nn.sigmoid(xp["z"] + dot(state, params["W_z"]))
    n = jnp.tanh(xp["n"] + r * (dot(state, params["W_n"]) + f32(params["b_hn"])))
    h = (1.0 - z) * n + z * state
    return h, h


@dataclasses.dataclass(frozen=True)
class LSTM(Cell):
  """Long short-term memory cell (no peepholes), as PyTorch ``nn.LSTM`` / Flax ``LSTMCell``.

      i, f, g, o = sigmoid, sigmoid, tanh, sigmoid   of   x U_* + h W_* + b_*
      c' = f * c + i * g
      h' = o * tanh(c')

  Params: U_g (D, H), W_g (H, H), b_g (H,) for g in i, f, g, o. State: {"h", "c"}. Output: h.
  Default init: U(-1/sqrt(H), 1/sqrt(H)) for every weight and bias (PyTorch), plus ``forget_bias``
  added to b_f (1.0 is the classic Gers et al. setting used as the rPLRNN paper's baseline).
  ``chrono_max=T`` sets b_f = log(U[1, T - 1]) and b_i = -b_f (chrono initialisation).

  References:
    Hochreiter & Schmidhuber, "Long short-term memory", Neural Computation 1997.
    Tallec & Ollivier, "Can recurrent neural networks warp time?", ICLR 2018 (chrono init).
  """

  forget_bias: float = 0.0
  chrono_max: int | None = None

  recurrent_params: ClassVar[tuple[str, ...]] = ("W_i", "W_f", "W_g", "W_o")
  recurrent_inits: ClassVar[tuple[str, ...]] = ("default", "orthogonal")
  gates: ClassVar[tuple[str, ...]] = ("i", "f", "g", "o")

  def __post_init__(self):
    super().__post_init__()
    if self.chrono_max is not None and (not isinstance(self.chrono_max, int) or self.chrono_max < 3):
      raise ValueError(f"LSTM: chrono_max must be an integer >= 3 (the longest dependency), got {self.chrono_max!r}")

  def init(self, key, input_size):
    k, kc = jax.random.split(key)
    params = self._pytorch_gates(k, input_size)
    params["b_f"] = params["b_f"] + jnp.asarray(self.forget_bias, self.param_dtype)
    if self.chrono_max is not None:
      b_f = jnp.log(jax.random.uniform(kc, (self.hidden_size,), jnp.float32, 1.0, self.chrono_max - 1.0))
      params["b_f"], params["b_i"] = b_f.astype(self.param_dtype), (-b_f).astype(self.param_dtype)
    return params

  def initial_state(self, params, batch):
    zeros = jnp.zeros(batch_shape(batch) + (self.hidden_size,), jnp.float32)
    return {"h": zeros, "c": zeros}

  def output(self, state):
    return state["h"]

  def time_loop(self, params, xs, state0, last: bool, unroll: int = 1):
    """The whole time loop with a hand-derived backward pass (``rnnstab.cells.lstm_loop``), which
    ``unroll(backend="remat")`` runs instead of rematerialised steps; None where it does not apply
    (parameters not float32).

    Args: as ``lstm_time_loop``: params, inputs (T, *batch, D), initial state, whether only the last
      output is wanted, the scan's unroll.
    Returns: (final state, outputs (T or 1, *batch, H)), or None.
    """
    if any(jnp.asarray(leaf).dtype != jnp.float32 for leaf in jax.tree_util.tree_leaves(params)):
      return None
    return lstm_time_loop(self, params, xs, state0, last, unroll)

  def recur(self, params, state, xp):
    h = state["h"]
    i = jax.nn.sigmoid(xp["i"] + dot(h, params["W_i"]))
    f = jax.nn.sigmoid(xp["f"] + dot(h, params["W_f"]))
    g = jnp.tanh(xp["g"] + dot(h, params["W_g"]))
    o = jax.nn.sigmoid(xp["o"] + dot(h, params["W_o"]))
    c = f * state["c"] + i * g
    h = o * jnp.tanh(c)
    return {"h": h, "c": c}, h


@dataclasses.dataclass(frozen=True)
class MGU(Cell):
  """Minimal gated unit: one forget gate that also gates the recurrent input of the candidate.

      f = sigmoid(x U_f + h W_f + b_f)
      n = tanh(x U_n + (f * h) W_n + b_n)
      h' = (1 - f) * h + f * n

  Params: U_g (D, H), W_g (H, H), b_g (H,) for g in f, n.
  Default init: U(-1/sqrt(H), 1/sqrt(H)) for every weight and bias, as for the PyTorch GRU.

  References:
    Zhou, Wu, Zhang & Zhou, "Minimal gated unit for recurrent neural networks", IJAC 2016.
  """

  recurrent_params: ClassVar[tuple[str, ...]] = ("W_f", "W_n")
  recurrent_inits: ClassVar[tuple[str, ...]] = ("default", "orthogonal")
  gates: ClassVar[tuple[str, ...]] = ("f", "n")

  def init(self, key, input_size):
    return self._pytorch_gates(key, input_size)

  def recur(self, params, state, xp):
    f = jax.nn.sigmoid(xp["f"] + dot(state, params["W_f"]))
    n = jnp.tanh(xp["n"] + dot(f * state, params["W_n"]))
    h = (1.0 - f) * state + f * n
    return h, h
