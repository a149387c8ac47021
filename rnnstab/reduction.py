"""Model order reduction of a reservoir by proper orthogonal decomposition (POD), with DEIM for its nonlinearity.

An echo state network h_t = (1 - a) h_{t-1} + a tanh(x_t U + h_{t-1} W + b) of N units, driven by typical
inputs, visits states close to a low-dimensional subspace. POD takes its r leading directions V (N, r)
from snapshots of the states, and evolves z = h V instead of h:

    POD:        z_t = (1 - a) z_{t-1} + a tanh(x_t U + z_{t-1} V^T W + b) V

which still evaluates the N nonlinearities every step (cost ~2 N r). The discrete empirical interpolation
method (DEIM) approximates the nonlinear term from m of its entries, chosen greedily on the POD basis
U_f (N, m) of its own snapshots, f ~ f[P] (U_f[P])^-T U_f^T, so only those m rows are computed:

    POD-DEIM:   z_t = (1 - a) z_{t-1} + a tanh(x_t U[:, P] + z_{t-1} (V^T W)[:, P] + b[P]) M,
                M = (U_f[P])^-T U_f^T V  (m, r)

at cost ~2 m r per step, independent of N. Linear readouts of z span those of h V V^T, so memory
capacity and ridge readouts are computed on z directly. The bases are computed once, on the host, in
float64.

References:
  Chaturantabut & Sorensen, "Nonlinear model reduction via discrete empirical interpolation", SIAM J. Sci.
  Comput. 2010 (DEIM). Jordanou, Antonelo, Camponogara & de Aguiar, "Investigation of proper orthogonal
  decomposition for echo state networks", Neurocomputing 2023 (POD and POD-DEIM of ESNs).
"""
from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from rnnstab.cells.base import Cell, dot, f32
from rnnstab.cells.reservoir import ESN
from rnnstab.unroll import unroll


@dataclasses.dataclass(frozen=True)
class ReducedESN(Cell):
  """An ESN reduced by ``pod_reduce``: state z of ``hidden_size`` = r, params from the full reservoir.

  Params (POD): {"U": (D, N), "Wr": (r, N) = V^T W, "b": (N,), "V": (N, r)}; (POD-DEIM): {"U": (D, m),
  "Wr": (r, m), "b": (m,), "M": (m, r)}, the columns of the interpolation indices. Not trainable and not
  initialised from a key: build it with ``pod_reduce``.

  References:
    Chaturantabut & Sorensen 2010; Jordanou et al. 2023 (module docstring).
  """

  leak: float = 1.0
  activation: str = "tanh"
  deim: bool = False

  recurrent_params: ClassVar[tuple[str, ...]] = ("Wr",)

  def init(self, key, input_size):
    raise ValueError("ReducedESN: its params come from a full reservoir; build it with rnnstab.reduction.pod_reduce")

  def project(self, params, x):
    return dot(x, params["U"]) + f32(params["b"])

  def recur(self, params, state, xp):
    g = xp + dot(state, params["Wr"])
    f = jnp.tanh(g) if self.activation == "tanh" else g
    z = (1.0 - self.leak) * state + self.leak * dot(f, params["M"] if self.deim else params["V"])
    return z, z


def pod_basis(snapshots: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
  """The ``rank`` leading left singular vectors (N, rank) of snapshots (n, N) given as rows, and all the
  singular values (their squares: the energy each direction captures)."""
  u, s, _ = np.linalg.svd(np.asarray(snapshots, np.float64).T, full_matrices=False)
  return u[:, :rank], s


def deim_indices(basis: np.ndarray) -> np.ndarray:
  """DEIM's greedy interpolation indices of a basis (N, m): each new index is where the next basis vector
  is worst interpolated from the indices so far (Chaturantabut & Sorensen 2010, Algorithm 1)."""
  basis = np.asarray(basis, np.float64)
  indices = [int(np.argmax(np.abs(basis[:, 0])))]
  for l in range(1, basis.shape[1]):
    c = np.linalg.solve(basis[indices, :l], basis[indices, l])
    residual = basis[:, l] - basis[:, :l] @ c
    indices.append(int(np.argmax(np.abs(residual))))
  return np.asarray(indices)


def reservoir_snapshots(cell: ESN, params, inputs) -> tuple[np.ndarray, np.ndarray]:
  """States h_t (n, N) and nonlinear terms f_t = phi(x_t U + h_{t-1} W + b) (n, N) of the full reservoir
  on ``inputs`` (T, B, D), every step of every sequence."""
  _, hs = unroll(cell, params, inputs)
  prev = jnp.concatenate([jnp.zeros_like(hs[:1]), hs[:-1]], axis=0)
  g = cell.project(params, inputs) + dot(prev, params["W"])
  f = jnp.tanh(g) if cell.activation == "tanh" else g
  N = cell.hidden_size
  return np.asarray(hs).reshape(-1, N), np.asarray(f).reshape(-1, N)


def pod_reduce(cell: ESN, params, inputs, rank: int, deim: int | None = None) -> tuple[ReducedESN, dict, dict]:
  """Reduces a reservoir to ``rank`` POD modes, and its nonlinearity to ``deim`` DEIM points if given.

  Args:
    cell: the full ``ESN`` (N units).
    params: its params.
    inputs: (T, B, D) typical input sequences; their states are the snapshots.
    rank: r, the POD modes kept (r <= N).
    deim: m, the DEIM interpolation points (r <= m <= N), or None for plain POD.

  Returns:
    (reduced cell, its params, info) with info {"energy": fraction of the snapshots' energy in the r modes,
    "indices": the DEIM indices (or None)}.

  References:
    Chaturantabut & Sorensen 2010; Jordanou et al. 2023 (module docstring).
  """
  N = cell.hidden_size
  if not 1 <= rank <= N:
    raise ValueError(f"pod_reduce: rank must be in 1..{N} (the reservoir's units), got {rank}")
  if deim is not None and not rank <= deim <= N:
    raise ValueError(f"pod_reduce: deim points must be in {rank}..{N} (at least the rank), got {deim}")
  states, nonlinear = reservoir_snapshots(cell, params, inputs)
  V, s = pod_basis(states, rank)
  energy = float(np.sum(s[:rank] ** 2) / np.sum(s ** 2))
  U, W, b = (np.asarray(params[k], np.float64) for k in ("U", "W", "b"))
  Wr = V.T @ W                                  # (r, N): z V^T W
  reduced = ReducedESN(hidden_size=rank, leak=cell.leak, activation=cell.activation, deim=deim is not None)
  if deim is None:
    new = {"U": U, "Wr": Wr, "b": b, "V": V}
    indices = None
  else:
    Uf, _ = pod_basis(nonlinear, deim)
    indices = deim_indices(Uf)
    M = np.linalg.solve(Uf[indices, :].T, Uf.T @ V)   # (m, r): f[P] M ~ f V
    new = {"U": U[:, indices], "Wr": Wr[:, indices], "b": b[indices], "M": M}
  new = {k: jnp.asarray(v, jnp.float32) for k, v in new.items()}
  return reduced, new, {"energy": energy, "indices": indices}
