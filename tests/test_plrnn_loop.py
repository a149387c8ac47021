"""The PLRNN's hand-derived time loop (rnnstab.cells.plrnn_loop) against autodiff of the plain scan.

The XLA loop, with the compiled CPU kernel turned off; tests/test_plrnn_cpu_kernel.py tests the kernel.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnnstab.cells import PLRNN, stack
from rnnstab.cells.plrnn_loop import plrnn_time_loop
from rnnstab.unroll import unroll

T, D = 6, 2
CLIP = 0.6


@pytest.fixture(autouse=True)
def xla_loop(monkeypatch):
  """The XLA loop on every backend: the kernel is read off at trace time, and each test traces anew."""
  monkeypatch.setenv("RNNSTAB_CPU_KERNEL", "0")

VARIANTS = {
    "plain": PLRNN(hidden_size=33),
    "awh": PLRNN(hidden_size=8, recurrent_init="awh"),
    "mean-centred": PLRNN(hidden_size=7, mean_centre=True),
    "clipped": PLRNN(hidden_size=7, clip_range=CLIP),
    "mean-centred-clipped": PLRNN(hidden_size=7, mean_centre=True, clip_range=CLIP),
}


def close(a, b, tol=1e-5):
  jax.tree_util.tree_map(lambda x, y: np.testing.assert_allclose(x, y, rtol=tol, atol=tol), a, b)


def value_and_grads(cell, params, xs, state0, backend, outputs):
  def loss(p, x, s0):
    state, ys = unroll(cell, p, x, s0, backend=backend, outputs=outputs)
    return jnp.sum(jnp.sin(3 * ys)) + jnp.sum(jnp.cos(state)), (state, ys)
  return jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True))(params, xs, state0)


@pytest.mark.parametrize("outputs", ["last", "all"])
@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_time_loop_equals_autodiff_of_the_scan(name, outputs):
  """Outputs, final state and the gradients of every parameter, of the inputs and of the initial state,
  over two batch axes (3 x 2), as unroll's scan computes them."""
  cell = VARIANTS[name]
  params = cell.init(jax.random.key(0), D)
  xs = 2.0 * jax.random.normal(jax.random.key(1), (T, 3, 2, D))
  state0 = jax.random.normal(jax.random.key(2), (3, 2, cell.hidden_size))
  fast = value_and_grads(cell, params, xs, state0, "remat", outputs)
  ref = value_and_grads(cell, params, xs, state0, "scan", outputs)
  close(fast, ref)
  if cell.clip_range:  # the clip binds somewhere, so its gradient mask is exercised
    assert np.any(np.abs(np.asarray(ref[0][1][1])) == CLIP)


def test_remat_backend_runs_the_time_loop_for_float32_and_falls_back_otherwise():
  cell = PLRNN(hidden_size=5)
  xs = jnp.ones((T, 3, D))
  jaxpr = lambda c: str(jax.make_jaxpr(lambda p: unroll(c, p, xs, backend="remat"))(c.init(jax.random.key(0), D)))
  assert "custom_vjp_call" in jaxpr(cell)
  half = PLRNN(hidden_size=5, param_dtype=jnp.bfloat16)
  assert "custom_vjp_call" not in jaxpr(half)
  assert "custom_vjp_call" not in str(jax.make_jaxpr(lambda p: unroll(cell, p, xs, backend="scan"))(
      cell.init(jax.random.key(0), D)))


def test_stacked_and_vmapped_over_seeds():
  """The second layer's input gradient flows back into the first layer; seeds under vmap."""
  cell = stack(PLRNN(hidden_size=6, clip_range=CLIP), 2)
  params = jax.vmap(lambda k: cell.init(k, D))(jax.random.split(jax.random.key(0), 2))
  xs = 2.0 * jax.random.normal(jax.random.key(1), (T, 4, D))

  def run(backend):
    def loss(p):
      state, ys = unroll(cell, p, xs, backend=backend, outputs="last")
      return jnp.sum(jnp.sin(3 * ys)) + sum(jnp.sum(jnp.cos(s)) for s in state)
    return jax.jit(jax.vmap(jax.value_and_grad(loss)))(params)

  close(run("remat"), run("scan"))


def test_direct_call_shapes():
  cell = PLRNN(hidden_size=4)
  params = cell.prepare(cell.init(jax.random.key(0), D))
  xs = jnp.ones((T, 5, D))
  state0 = cell.initial_state(params, 5)
  final, ys = plrnn_time_loop(cell, params, xs, state0, last=False)
  assert final.shape == (5, 4) and ys.shape == (T, 5, 4)
  final_last, y_last = plrnn_time_loop(cell, params, xs, state0, last=True)
  assert y_last.shape == (1, 5, 4)
  close((final_last, y_last[0]), (final, ys[-1]))
