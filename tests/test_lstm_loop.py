"""The LSTM's hand-derived time loop (rnnstab.cells.lstm_loop) against autodiff of the plain scan."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnnstab.cells import LSTM, stack
from rnnstab.cells.lstm_loop import lstm_time_loop
from rnnstab.unroll import unroll

T, D = 6, 2

VARIANTS = {
    "odd-size": LSTM(hidden_size=33),
    "forget-bias": LSTM(hidden_size=8, forget_bias=1.0),
    "chrono": LSTM(hidden_size=7, chrono_max=T),
}


def close(a, b, tol=1e-5):
  jax.tree_util.tree_map(lambda x, y: np.testing.assert_allclose(x, y, rtol=tol, atol=tol), a, b)


def value_and_grads(cell, params, xs, state0, backend, outputs):
  """The loss reads every output and both parts of the final state, so every cotangent path is exercised."""
  def loss(p, x, s0):
    state, ys = unroll(cell, p, x, s0, backend=backend, outputs=outputs)
    return jnp.sum(jnp.sin(3 * ys)) + jnp.sum(jnp.cos(state["h"])) + jnp.sum(state["c"] ** 2), (state, ys)
  return jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True))(params, xs, state0)


@pytest.mark.parametrize("outputs", ["last", "all"])
@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_time_loop_equals_autodiff_of_the_scan(name, outputs):
  """Outputs, final state and the gradients of every parameter, of the inputs and of the initial state
  (h and c), over two batch axes (3 x 2), as unroll's scan computes them."""
  cell = VARIANTS[name]
  params = cell.init(jax.random.key(0), D)
  xs = 2.0 * jax.random.normal(jax.random.key(1), (T, 3, 2, D))
  keys = jax.random.split(jax.random.key(2))
  state0 = {k: jax.random.normal(key, (3, 2, cell.hidden_size)) for k, key in zip(("h", "c"), keys)}
  fast = value_and_grads(cell, params, xs, state0, "remat", outputs)
  ref = value_and_grads(cell, params, xs, state0, "scan", outputs)
  close(fast, ref)
  assert all(np.any(np.asarray(g) != 0) for g in jax.tree_util.tree_leaves(ref[1]))  # no gradient vacuous


def test_remat_backend_runs_the_time_loop_for_float32_and_falls_back_otherwise():
  cell = LSTM(hidden_size=5)
  xs = jnp.ones((T, 3, D))
  jaxpr = lambda c: str(jax.make_jaxpr(lambda p: unroll(c, p, xs, backend="remat"))(c.init(jax.random.key(0), D)))
  assert "custom_vjp_call" in jaxpr(cell)
  assert "custom_vjp_call" not in jaxpr(LSTM(hidden_size=5, param_dtype=jnp.bfloat16))
  assert "custom_vjp_call" not in str(jax.make_jaxpr(lambda p: unroll(cell, p, xs, backend="scan"))(
      cell.init(jax.random.key(0), D)))


def test_stacked_and_vmapped_over_seeds():
  """The second layer's input gradient flows back into the first layer; seeds under vmap."""
  cell = stack(LSTM(hidden_size=6, forget_bias=1.0), 2)
  params = jax.vmap(lambda k: cell.init(k, D))(jax.random.split(jax.random.key(0), 2))
  xs = 2.0 * jax.random.normal(jax.random.key(1), (T, 4, D))

  def run(backend):
    def loss(p):
      state, ys = unroll(cell, p, xs, backend=backend, outputs="last")
      return jnp.sum(jnp.sin(3 * ys)) + sum(jnp.sum(jnp.cos(s["c"])) for s in state)
    return jax.jit(jax.vmap(jax.value_and_grad(loss)))(params)

  close(run("remat"), run("scan"))


def test_direct_call_shapes():
  cell = LSTM(hidden_size=4)
  params = cell.init(jax.random.key(0), D)
  xs = jnp.ones((T, 5, D))
  state0 = cell.initial_state(params, 5)
  final, ys = lstm_time_loop(cell, params, xs, state0, last=False)
  assert final["h"].shape == final["c"].shape == (5, 4) and ys.shape == (T, 5, 4)
  final_last, y_last = lstm_time_loop(cell, params, xs, state0, last=True)
  assert y_last.shape == (1, 5, 4)
  close((final_last, y_last[0]), (final, ys[-1]))
