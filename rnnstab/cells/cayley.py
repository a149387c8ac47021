"""NC-GRU: a GRU whose candidate recurrence is an orthogonal matrix, the scaled Cayley transform of a
skew-symmetric one, with the inverse summed as a Neumann series."""
from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import jax
import jax.numpy as jnp

from rnnstab.cells.base import Cell, dot, f32

# Newton-Schulz stops when every entry of I - M X is below this, or after MAX_ITERATIONS (enough for
# ||M||_1 ||M||_inf up to ~10^5: each iteration squares the residual).
TOLERANCE = 1e-6
MAX_ITERATIONS = 40


@jax.custom_vjp
def neumann_inverse(m):
  """M^-1 of a square non-singular M, by matmuls only.

  The Newton-Schulz iteration X <- X (2I - M X), started at X_0 = M^T / (||M||_1 ||M||_inf), sums the
  Neumann series M^-1 = sum_k (I - X_0 M)^k X_0 and doubles the number of its terms at each iteration, so
  it converges quadratically for any non-singular M. Matmuls only: no LAPACK call, the same program on
  CPU, GPU and TPU and under any sharding. The gradient is the exact one of the inverse,
  d(M^-1) = -M^-1 dM M^-1, so the loop is not differentiated through.

  Args:
    m: (H, H) float32 matrix.

  Returns:
    (H, H) approximate inverse, every entry of I - M X below ``TOLERANCE`` unless ``MAX_ITERATIONS`` ran out.
  """
  eye = jnp.eye(m.shape[-1], dtype=m.dtype)
  x0 = m.T / (jnp.max(jnp.sum(jnp.abs(m), axis=0)) * jnp.max(jnp.sum(jnp.abs(m), axis=1)))

  def residual(x):
    return jnp.max(jnp.abs(eye - m @ x))

  def cond(carry):
    i, _, res = carry
    return (i < MAX_ITERATIONS) & (res > TOLERANCE)

  def body(carry):
    i, x, _ = carry
    x = x @ (2.0 * eye - m @ x)
    return i + 1, x, residual(x)

  _, x, _ = jax.lax.while_loop(cond, body, (0, x0, residual(x0)))
  return x


def _inverse_fwd(m):
  x = neumann_inverse(m)
  return x, x


def _inverse_bwd(x, g):
  return (-x.T @ g @ x.T,)


neumann_inverse.defvjp(_inverse_fwd, _inverse_bwd)


def scaled_cayley(a_raw, d):
  """W = (I + A)^-1 (I - A) D with A = (K - K^T) / 2 skew-symmetric and D = diag(d), d in {-1, +1}.

  Orthogonal for any K; D lets it reach eigenvalues at -1, which the Cayley transform alone cannot.

  References:
    Helfrich, Willmott & Ye, "Orthogonal recurrent neural networks with scaled Cayley transform", ICML 2018.
  """
  a = 0.5 * (a_raw - a_raw.T)
  eye = jnp.eye(a.shape[0], dtype=a.dtype)
  return neumann_inverse(eye + a) @ (eye - a) * d[None, :]


def mod_relu(z, b):
  """modReLU on real numbers: sign(z) max(|z| + b, 0) (Arjovsky et al. 2016)."""
  return jnp.sign(z) * jax.nn.relu(jnp.abs(z) + b)


@dataclasses.dataclass(frozen=True)
class NCGRU(Cell):
  """Neumann-Cayley orthogonal GRU: the candidate's recurrent matrix is orthogonal by construction.

      r = sigmoid(x U_r + b_r + h W_r)
      z = sigmoid(x U_z + b_z + h W_z)
      n = modReLU(x U_n + b_n + (r * h) W, b_m)        W = (I + A)^-1 (I - A) D, A skew-symmetric
      h' = z * h + (1 - z) * n

  Params: U_g (D, H), b_g (H,) for g in r, z, n; W_r, W_z (H, H); A (H, H) (its skew part is used);
  b_m (H,), the modReLU bias. D is fixed: the first ``round(negative_fraction * H)`` entries are -1.
  Init: PyTorch's U(-1/sqrt(H), 1/sqrt(H)) for the gates; A block-diagonal with 2x2 blocks [[0, s], [-s, 0]],
  s = sqrt((1 - cos t) / (1 + cos t)), t ~ U(0, pi/2), so W starts as rotations by t (Helfrich et al.'s
  init); b_m ~ U(-0.01, 0.01).

  The Cayley matrix depends on the parameters alone, so ``prepare`` forms it once per sequence, outside
  the time loop (``unroll`` and the analyses call it; ``step`` on raw params forms it each step). Its
  inverse is a Neumann series summed by Newton-Schulz (``neumann_inverse``). The paper instead carries
  the inverse from one optimiser step to the next with a first-order Neumann update, which would make it
  optimiser state; recomputing it costs a few dozen H x H matmuls per sequence and keeps the cell pure.

  References:
    Mucllari, Zadorozhnyy, Pospisil, Nguyen & Ye, "Orthogonal gated recurrent unit with Neumann-Cayley
    transformation", Neural Computation 2024 (arXiv 2208.06496).
  """

  negative_fraction: float = 0.5

  recurrent_params: ClassVar[tuple[str, ...]] = ("W_r", "W_z", "A")
  gates: ClassVar[tuple[str, ...]] = ("r", "z", "n")

  def __post_init__(self):
    super().__post_init__()
    if not 0.0 <= self.negative_fraction <= 1.0:
      raise ValueError(f"NCGRU: negative_fraction must be in [0, 1], got {self.negative_fraction!r}")

  @property
  def d(self):
    negatives = round(self.negative_fraction * self.hidden_size)
    return jnp.where(jnp.arange(self.hidden_size) < negatives, -1.0, 1.0).astype(jnp.float32)

  def init(self, key, input_size):
    H, dt = self.hidden_size, self.param_dtype
    kg, ka, km = jax.random.split(key, 3)
    params = self._pytorch_gates(kg, input_size)
    del params["W_n"]  # the candidate's recurrence is the Cayley matrix
    t = jax.random.uniform(ka, (H // 2,), jnp.float32, 0.0, math.pi / 2)
    s = jnp.sqrt((1.0 - jnp.cos(t)) / (1.0 + jnp.cos(t)))
    a = jnp.zeros((H, H), jnp.float32)
    idx = 2 * jnp.arange(H // 2)
    a = a.at[idx, idx + 1].set(s).at[idx + 1, idx].set(-s)
    params["A"] = a.astype(dt)
    params["b_m"] = jax.random.uniform(km, (H,), dt, -0.01, 0.01)
    return params

  def cayley(self, params):
    """The orthogonal recurrent matrix W of the candidate, (H, H) float32."""
    return scaled_cayley(f32(params["A"]), self.d)

  def recurrent_weights(self, params):
    """The recurrent parameters and the candidate's effective (orthogonal) matrix, "W_cayley"."""
    return {**{k: params[k] for k in self.recurrent_params}, "W_cayley": self.cayley(params)}

  def prepare(self, params):
    """Params with the Cayley matrix formed ("W_cayley"), for every step of a sequence; idempotent."""
    return params if "W_cayley" in params else {**params, "W_cayley": self.cayley(params)}

  def recur(self, params, state, xp):
    W = params["W_cayley"] if "W_cayley" in params else self.cayley(params)
    r = jax.nn.sigmoid(xp["r"] + dot(state, params["W_r"]))
    z = jax.nn.sigmoid(xp["z"] + dot(state, params["W_z"]))
    n = mod_relu(xp["n"] + dot(r * state, W), f32(params["b_m"]))
    h = z * state + (1.0 - z) * n
    return h, h
