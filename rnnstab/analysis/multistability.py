"""Reachable multistability: where a recurrent network's autonomous dynamics settle, and how many
distinct stable equilibria the states it can reach fall into.

The procedure of the warmup paper, for any cell (leaf, ``Stack``, ``Double`` or adapted Flax cell):

1. reach starting states by running the network on random-length prefixes of input sequences;
2. iterate the network under one constant input u (zero, or u ~ N(0, I) as in the paper), the same for
   every sample and step, until every sample has converged or a step budget is spent;
3. cluster the final states (all layers concatenated; LSTM: h and c) at tolerance eps, and classify each:
   a stable fixed point when it converged and the spectral radius of the state Jacobian there is < 1, an
   unstable fixed point when it converged with radius >= 1, otherwise not converged (limit cycle, chaos or
   too slow for the budget).

Everything is a pure function of params, inputs and a key, jittable and vmappable over seeds.

References:
  Lambrechts, De Geeter, Vecoven, Ernst & Drion, "Warming up recurrent neural networks to maximise
  reachable multistability greatly improves learning", Neural Networks 2023, arXiv 2106.01001.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from rnnstab.analysis.radius import power_radius
from rnnstab.analysis.vaa import pairwise_distances, vaa
from rnnstab.cells.combinators import prepare, project, recur

Array = jax.Array


def flat_state(state) -> Array:
  """Every leaf of a (batched) state flattened per sample and concatenated, float32: (*batch, D)."""
  batch = batch_of(state)
  return jnp.concatenate([jnp.asarray(l, jnp.float32).reshape(batch + (-1,))
                          for l in jax.tree_util.tree_leaves(state)], axis=-1)


def constant_input(key, input_size: int, kind: str = "gaussian") -> Array:
  """The constant input u the network is iterated under: N(0, I) ("gaussian", the paper's) or zeros."""
  if kind == "gaussian":
    return jax.random.normal(key, (input_size,), jnp.float32)
  if kind == "zero":
    return jnp.zeros((input_size,), jnp.float32)
  raise ValueError(f"constant input: unknown kind {kind!r}; valid choices: gaussian, zero")


def reach(cell, params, inputs: Array, lengths: Array, state0=None):
  """States reached after each sample's own prefix of its input sequence.

  Args:
    cell: any rnnstab cell.
    params: its params.
    inputs: (T, n, D) input sequences, time-major.
    lengths: (n,) prefix lengths in [0, T]; sample i is run on inputs[:lengths[i], i] (0: stays at state0).
    state0: starting state (zeros by default).

  Returns:
    The state pytree with batch shape (n,).
  """
  if state0 is None:
    state0 = cell.initial_state(params, inputs.shape[1:-1])
  params = prepare(cell, params)

  def body(state, txp):
    t, xp = txp
    new, _ = recur(cell, params, state, xp)
    keep = t < lengths
    # Leaves may carry more than a vector per sample (STPN's synaptic state F is (n, D, H)).
    return jax.tree_util.tree_map(lambda a, b: jnp.where(keep.reshape(keep.shape + (1,) * (a.ndim - 1)), a, b),
                                  new, state), None

  # The input projection of every step at once, as in unroll; only the recurrence is scanned.
  steps = jnp.arange(inputs.shape[0])
  state, _ = jax.lax.scan(body, state0, (steps, project(cell, params, inputs)))
  return state


def batch_of(state) -> tuple[int, ...]:
  """The batch shape of a state pytree: the leading axes of its lowest-rank leaf (the rest are per-sample;
  STPN's synaptic state, (n, D, H), has more of them than its h, (n, H))."""
  return min(jax.tree_util.tree_leaves(state), key=lambda x: x.ndim).shape[:-1]


def autonomous(cell, params, u: Array):
  """The map s -> F(s, u) under a constant input u, with u's input projection computed once."""
  params = prepare(cell, params)

  def F(state):
    xp = project(cell, params, jnp.broadcast_to(u, batch_of(state) + u.shape))
    return recur(cell, params, state, xp)[0]
  return F


def _residual(F, state) -> Array:
  """max |F(s) - s| per sample."""
  return jnp.max(jnp.abs(flat_state(F(state)) - flat_state(state)), axis=-1)


def settle(cell, params, state, u: Array, *, max_steps: int = 10_000, tol: float = 1e-5, check_every: int = 100):
  """Iterates under u until every sample moves less than ``tol`` in one step, or ``max_steps`` are done.

  Returns:
    (state, steps_done, residual) with residual = max |F(s) - s| per sample at the end.
  """
  chunk = max(1, min(check_every, max_steps))
  F = autonomous(cell, params, u)

  def cond(carry):
    _, done, res = carry
    return (done < max_steps) & jnp.any(res > tol)

  def body(carry):
    state, done, _ = carry
    n = jnp.minimum(chunk, max_steps - done)
    state = jax.lax.fori_loop(0, n, lambda _, s: F(s), state)
    return state, done + n, _residual(F, state)

  init = (state, jnp.int32(0), jnp.full(batch_of(state), jnp.inf, jnp.float32))
  return jax.lax.while_loop(cond, body, init)


def _flat_map(cell, params, s, u):
  """One sample's state flattened to a vector v, and the map v -> F(v, u) on such vectors."""
  flat, unravel = ravel_pytree(s)
  return flat, unravel, lambda v: ravel_pytree(cell.step(params, unravel(v), u)[0])[0]


def state_jacobians(cell, params, state, u: Array) -> Array:
  """d F(s, u) / d s on the flattened full state, one (D, D) matrix per sample: (n, D, D)."""
  def one(s):
    flat, _, F = _flat_map(cell, params, s, u)
    return jax.jacfwd(F)(flat)
  return jax.vmap(one)(state)


def spectral_radius(cell, params, state, u: Array, *, method: str = "exact", iterations: int = 300,
                    key=None) -> Array:
  """Spectral radius of the state Jacobian at each sample's state: (n,).

  Args:
    method: "exact" (all eigenvalues, one batched ``eigvals`` call; fine up to a few hundred state
      dimensions) or "power" (power iteration on Jacobian-vector products: the geometric mean growth of
      ||J^k v|| over the second half of ``iterations``, which handles complex dominant pairs; error
      O(1/iterations) in log radius; never forms J).
    iterations: power iterations.
    key: start vectors for "power".
  """
  if method == "exact":
    J = state_jacobians(cell, params, state, u)
    # One batched call: several separate eigvals calls in one program have hung XLA:CPU here.
    return jnp.max(jnp.abs(jnp.linalg.eigvals(J)), axis=-1)
  if method != "power":
    raise ValueError(f"spectral_radius: unknown method {method!r}; valid choices: exact, power")
  key = jax.random.key(0) if key is None else key

  def one(s, k):
    flat, _, F = _flat_map(cell, params, s, u)
    return power_radius(F, flat, k, iterations=iterations)

  n = jax.tree_util.tree_leaves(state)[0].shape[0]
  return jax.vmap(one)(state, jax.random.split(key, n))


def distinct(points: Array, eps: float, valid: Array) -> Array:
  """How many clusters of diameter-ish ``eps`` the valid points form: a valid point is a new cluster when
  no earlier valid point lies within ``eps`` of it (greedy, order of the samples)."""
  d = pairwise_distances(points)
  n = points.shape[0]
  earlier = jnp.tril(jnp.ones((n, n), bool), k=-1)
  covered = jnp.any((d < eps) & earlier & valid[None, :], axis=1)
  return jnp.sum(valid & ~covered).astype(jnp.int32)


def newton(cell, params, state, u: Array, steps: int = 5):
  """Refines approximate fixed points by Newton's method on G(s) = F(s, u) - s with exact Jacobians.

  Near-marginal points (spectral radius within 1e-3 of 1) take tens of thousands of plain iterations to
  settle to eps = 1e-4, while Newton lands on them in a few steps. Each sample is solved on its flattened
  full state; a singular system leaves that sample where it was.

  Returns:
    (refined state, max |F(s) - s| per sample at the refined state).
  """
  def one(s):
    flat, unravel, F = _flat_map(cell, params, s, u)

    def body(v, _):
      J = jax.jacfwd(F)(v)
      delta = jnp.linalg.solve(J - jnp.eye(v.shape[0], dtype=J.dtype), v - F(v))
      ok = jnp.all(jnp.isfinite(delta))
      return jnp.where(ok, v + delta, v), None

    v = jax.lax.scan(body, flat, None, length=steps)[0]
    return unravel(v), jnp.max(jnp.abs(F(v) - v))

  return jax.vmap(one)(state)


class Multistability(NamedTuple):
  """What ``measure`` reports for one network (add a leading seed axis under vmap).

  Attributes:
    vaa: variability amongst attractors of the final iterates, in [1/n, 1] (the paper's VAA).
    stable_equilibria: number of distinct stable fixed points reached.
    unstable: fraction of samples that reached a fixed point with spectral radius >= 1.
    not_converged: fraction of samples at no fixed point after the budget (and Newton): limit cycles,
      chaos, or dynamics too slow for the budget.
    steps: iteration steps done (the budget, or fewer when every sample converged first).
    radius: spectral radius of the state Jacobian at each sample's (refined) final state, (n,).
  """

  vaa: Array
  stable_equilibria: Array
  unstable: Array
  not_converged: Array
  steps: Array
  radius: Array


def measure(cell, params, inputs: Array, key, *, steps: int = 10_000, eps: float = 1e-4, tol: float = 1e-5,
            u: str = "gaussian", radius: str = "auto", newton_steps: int | None = None,
            check_every: int = 100) -> Multistability:
  """Reachable multistability of a network, as in the warmup paper, plus a count of its stable equilibria.

  Args:
    cell: any rnnstab cell (leaf, ``Stack``, ``Double``, ``FlaxCell``).
    params: its params.
    inputs: (T, n, D) input sequences (task inputs); each sample is run on a prefix of length
      U{1, ..., T} to reach its starting state (as the authors' code does).
    key: draws the prefix lengths, the constant input and the power-iteration vectors.
    steps: iteration budget under the constant input (10,000 in the paper).
    eps: clustering tolerance on the full state (1e-4 in the paper).
    tol: a point is a fixed point when max |F(s) - s| <= tol.
    u: "gaussian" (u ~ N(0, I), the paper's) or "zero".
    radius: "exact" (eigenvalues), "power" (power iteration on JVPs), or "auto" (exact up to 128 state
      dimensions).
    newton_steps: Newton refinement of the final iterates before classifying them (exact Jacobians);
      None: 5 steps up to 512 state dimensions, none above.
    check_every: steps between convergence checks (iteration stops early once every sample converged).

  Returns:
    A ``Multistability``: VAA from the raw final iterates (exactly the paper's measure); the equilibrium
    count from the refined points that are fixed points with spectral radius < 1, clustered at eps.

  References:
    Lambrechts et al., Neural Networks 2023, arXiv 2106.01001 (Section 3: VAA).
  """
  T, n, D = inputs.shape
  k_len, k_u, k_pow = jax.random.split(key, 3)
  lengths = jax.random.randint(k_len, (n,), 1, T + 1)
  u_vec = constant_input(k_u, D, u)
  state = reach(cell, params, inputs, lengths)
  state, done, res = settle(cell, params, state, u_vec, max_steps=steps, tol=tol, check_every=check_every)
  final = flat_state(state)
  dim = final.shape[-1]
  if newton_steps is None:
    newton_steps = 5 if dim <= 512 else 0
  if newton_steps:
    refined, res_refined = newton(cell, params, state, u_vec, newton_steps)
    better = res_refined < res
    state = jax.tree_util.tree_map(lambda a, b: jnp.where(better.reshape(better.shape + (1,) * (a.ndim - 1)), a, b),
                                   refined, state)
    res = jnp.where(better, res_refined, res)
  method = radius if radius != "auto" else ("exact" if dim <= 128 else "power")
  rho = spectral_radius(cell, params, state, u_vec, method=method, key=k_pow)
  converged = res <= tol
  stable = converged & (rho < 1.0)
  return Multistability(
      vaa=vaa(final, eps),
      stable_equilibria=distinct(flat_state(state), eps, stable),
      unstable=jnp.mean((converged & ~stable).astype(jnp.float32)),
      not_converged=jnp.mean((~converged).astype(jnp.float32)),
      steps=done,
      radius=rho)
