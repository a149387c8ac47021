"""Warmup to reachable multistability: push every layer's VAA* towards a target before training.

Per layer l, from the states the network reaches on random-length prefixes of real inputs, layer l alone is
iterated under one constant random input u_l (the width of that layer's input) for K steps, and VAA* of its
final states (LSTM: h and c) is measured. The loss is mean_l (VAA*_l - target)^2. The gradient flows
through the iteration and through the prefixes that reached the starting states.

Example:
  >>> loss = warmup_loss(cell)                       # any rnnstab cell, stack, double or FlaxCell
  >>> (value, aux), grads = jax.value_and_grad(loss, has_aux=True)(params, inputs, key)
  >>> params, info = warm_up(cell, params, lambda k: task.sample(k, 32).inputs, key)

References:
  Lambrechts, De Geeter, Vecoven, Ernst & Drion, "Warming up recurrent neural networks to maximise
  reachable multistability greatly improves learning", Neural Networks 2023, arXiv 2106.01001 (Section 4).
"""
from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp
import optax

from rnnstab.analysis.multistability import batch_of, flat_state, reach
from rnnstab.analysis.vaa import vaa_star
from rnnstab.cells.combinators import Double, Stack, prepare, project, recur

# The paper's defaults.
TARGET = 0.95
EPS = 1e-4
STEPS = 100
LR = 1e-2
BATCH = 32
INCREMENT = 10          # the iteration-length cap grows by this much per warmup step ...
MAX_ITERATIONS = 200    # ... up to this


def warmed_layers(cell, params, state, input_size: int, partial: bool = False) -> list:
  """The layers the warmup acts on: [(cell_l, params_l, state_l, input_size_l)].

  A ``Stack`` gives one entry per layer, any other cell one entry. With ``partial``, every layer must be
  a ``Double`` and only its first half is taken.
  """
  if isinstance(cell, Stack):
    cells, ps, ss = cell.cells, params["layers"], state
  else:
    cells, ps, ss = (cell,), (params,), (state,)
  out, size = [], input_size
  for l, (c, p, s) in enumerate(zip(cells, ps, ss)):
    if partial:
      if not isinstance(c, Double):
        raise ValueError(f"partial warmup needs double layers (layer {l} is {type(c).__name__}); "
                         "build the cell with double() or pass --double")
      out.append((c.first, p["first"], s[0], size))
    else:
      out.append((c, p, s, size))
    size = c.output_size
  return out


def _iterate(cell, params, state, u, iterations, max_iterations: int):
  """``iterations`` (traced, <= max_iterations) autonomous steps under u, differentiable in params, state, u.

  The cost is proportional to ``iterations``, forward and backward, however large ``max_iterations`` is:
  the forward pass is a while loop that stores only the visited states (a ``max_iterations`` buffer), and
  the backward pass walks them in reverse, recomputing each step's vector-Jacobian product. A scan over
  ``max_iterations`` slots with a cond per slot cost as much again in stacked zero residuals for the
  slots it skipped. u's input projection is computed once, outside the loop.
  """
  params = prepare(cell, params)  # differentiable: gradients reach the raw params through it
  xp = project(cell, params, jnp.broadcast_to(u, batch_of(state) + u.shape))
  return _iterate_projected(cell, max_iterations, params, state, xp, jnp.minimum(iterations, max_iterations))


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _iterate_projected(cell, max_iterations, params, state, xp, n):
  return jax.lax.fori_loop(0, n, lambda _, s: recur(cell, params, s, xp)[0], state)


def _iterate_fwd(cell, max_iterations, params, state, xp, n):
  def body(i, carry):
    s, visited = carry
    visited = jax.tree_util.tree_map(lambda buf, x: buf.at[i].set(x), visited, s)
    return recur(cell, params, s, xp)[0], visited

  visited = jax.tree_util.tree_map(lambda x: jnp.zeros((max_iterations,) + x.shape, x.dtype), state)
  final, visited = jax.lax.fori_loop(0, n, body, (state, visited))
  return final, (params, xp, visited, n)


def _iterate_bwd(cell, max_iterations, residuals, g_final):
  params, xp, visited, n = residuals

  def body(j, carry):
    g_s, g_params, g_xp = carry
    s = jax.tree_util.tree_map(lambda buf: buf[n - 1 - j], visited)
    _, vjp = jax.vjp(lambda p, s, xp: recur(cell, p, s, xp)[0], params, s, xp)
    dp, ds, dxp = vjp(g_s)
    return (ds,) + jax.tree_util.tree_map(jnp.add, (g_params, g_xp), (dp, dxp))

  zeros = jax.tree_util.tree_map(jnp.zeros_like, (params, xp))
  g_state, g_params, g_xp = jax.lax.fori_loop(0, n, body, (g_final,) + zeros)
  return g_params, g_state, g_xp, None


_iterate_projected.defvjp(_iterate_fwd, _iterate_bwd)


def layer_vaa_star(cell, params, inputs, key, *, iterations=MAX_ITERATIONS, max_iterations: int = MAX_ITERATIONS,
                   eps: float = EPS, partial: bool = False) -> jax.Array:
  """VAA* of every layer, (L,), as the warmup loss measures it.

  Args:
    cell: any rnnstab cell (leaf, ``Stack``, ``Double``, ``FlaxCell``).
    params: its params.
    inputs: (T, n, D) input sequences; sample i starts from the state reached after a U{1..T} prefix.
    key: draws the prefix lengths and each layer's constant input u_l ~ N(0, I).
    iterations: autonomous steps (may be traced), at most ``max_iterations``.
    max_iterations: static length of the iteration loop.
    eps: VAA* tolerance.
    partial: measure the first half of every double layer only (partial warmup).

  Returns:
    VAA* per layer, float32 (L,).
  """
  T, n, D = inputs.shape
  k_len, k_u = jax.random.split(key)
  state = reach(cell, params, inputs, jax.random.randint(k_len, (n,), 1, T + 1))
  values = []
  for l, (c, p, s, size) in enumerate(warmed_layers(cell, params, state, D, partial)):
    u = jax.random.normal(jax.random.fold_in(k_u, l), (size,), jnp.float32)
    values.append(vaa_star(flat_state(_iterate(c, p, s, u, iterations, max_iterations)), eps))
  return jnp.stack(values)


def warmup_loss(cell, *, target: float = TARGET, eps: float = EPS, max_iterations: int = MAX_ITERATIONS,
                partial: bool = False) -> Callable:
  """The warmup objective as a pure loss of (params, inputs, key).

  Args:
    cell: any rnnstab cell, stack, double or ``FlaxCell`` (its params tree is the Flax one).
    target: VAA* each layer is pushed to (0.95 in the paper).
    eps: VAA* tolerance (1e-4).
    max_iterations: static bound on the autonomous iteration (200).
    partial: warm up (measure) only the first half of each double layer.

  Returns:
    ``loss(params, inputs, key, iterations=max_iterations) -> (mean_l (VAA*_l - target)^2, {"vaa_star": (L,)})``.

  References:
    Lambrechts et al. 2023, arXiv 2106.01001 (the warmup loss).
  """
  def loss(params, inputs, key, iterations=max_iterations):
    v = layer_vaa_star(cell, params, inputs, key, iterations=iterations, max_iterations=max_iterations,
                       eps=eps, partial=partial)
    return jnp.mean(jnp.square(v - target)), {"vaa_star": v}
  return loss


def iteration_schedule(key, step, increment: int = INCREMENT, max_iterations: int = MAX_ITERATIONS):
  """The paper's iteration length at warmup step k: uniform on [1, min(1 + increment * k, max_iterations)]."""
  cap = jnp.minimum(1 + increment * step, max_iterations)
  return jax.random.randint(key, (), 1, cap + 1)


def first_halves_mask(cell, params):
  """A params-shaped tree of bools: True on the first half of every ``Double``, False elsewhere."""
  def mark(c, p, inside):
    if isinstance(c, Stack):
      return {"layers": tuple(mark(ci, pi, inside) for ci, pi in zip(c.cells, p["layers"]))}
    if isinstance(c, Double):
      return {"first": mark(c.first, p["first"], inside if inside is not None else True),
              "second": mark(c.second, p["second"], False)}
    return jax.tree_util.tree_map(lambda _: bool(inside), p)
  return mark(cell, params, None)


def warm_up(cell, params, sample_inputs: Callable, key, *, steps: int = STEPS, lr: float = LR,
           target: float = TARGET, eps: float = EPS, increment: int = INCREMENT,
           max_iterations: int = MAX_ITERATIONS, partial: bool = False, schedule_key=None):
  """The warmup pre-training phase: ``steps`` Adam steps on the warmup loss, iteration lengths scheduled.

  Args:
    cell, params: the network to warm up (any cell; params of the cell only).
    sample_inputs: ``key -> (T, n, D)`` training inputs (a fresh batch of n = 32 in the paper).
    key: PRNG key for the batches, prefix lengths, constant inputs (and iteration lengths, unless
      ``schedule_key`` is given).
    steps, lr: Adam steps and learning rate (100, 1e-2).
    target, eps, increment, max_iterations: see ``warmup_loss`` and ``iteration_schedule``.
    partial: update only the first half of every double layer (partial warmup); the paper's intent. (The
      authors' code also lets gradients reach the second halves of lower layers through the reached
      states; here they stay exactly at their initialisation.)
    schedule_key: draws the iteration lengths instead of ``key``. Pass the same key to every vmapped seed
      and the seeds share one length schedule, which lets them skip the unused iterations together (about
      half the iteration work); leave None for lengths drawn independently per seed.

  Returns:
    (params, info) with info {"loss": (steps,), "vaa_star": (steps, L)} measured at each step before its
    update. Pure: vmap it over seeds.

  References:
    Lambrechts et al. 2023, arXiv 2106.01001.
  """
  loss = warmup_loss(cell, target=target, eps=eps, max_iterations=max_iterations, partial=partial)
  opt = optax.adam(lr)
  mask = first_halves_mask(cell, params) if partial else None

  def step(carry, k):
    params, opt_state = carry
    k_data, k_loss, k_len = jax.random.split(jax.random.fold_in(key, k), 3)
    if schedule_key is not None:
      k_len = jax.random.fold_in(schedule_key, k)
    iterations = iteration_schedule(k_len, k, increment, max_iterations)
    (value, aux), grads = jax.value_and_grad(loss, has_aux=True)(params, sample_inputs(k_data), k_loss, iterations)
    if mask is not None:
      grads = jax.tree_util.tree_map(lambda g, m: g if m else jnp.zeros_like(g), grads, mask)
    updates, opt_state = opt.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), (value, aux["vaa_star"])

  (params, _), (losses, vaas) = jax.lax.scan(step, (params, opt.init(params)), jnp.arange(steps))
  return params, {"loss": losses, "vaa_star": vaas}
