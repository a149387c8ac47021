"""unroll against a Python loop of cell.step, for leaf cells, stacks and doubles; values and gradients."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnnstab.cells import CELLS, GRU, LSTM, BRC, Double, Stack, double, recurrent_weights, stack
from rnnstab.unroll import unroll

T, B, D = 7, 3, 2


def loop(cell, params, xs):
  state = cell.initial_state(params, xs.shape[1])
  ys = []
  for x in xs:
    state, y = cell.step(params, state, x)
    ys.append(y)
  return state, jnp.stack(ys)


def assert_tree_close(a, b, tol=1e-5):
  jax.tree_util.tree_map(lambda x, y: np.testing.assert_allclose(x, y, rtol=tol, atol=tol), a, b)


CASES = {
    **{name: CELLS[name](hidden_size=5) for name in CELLS.names()},
    "stack3-gru": stack(GRU(hidden_size=4), 3),
    "stack-mixed": Stack((LSTM(hidden_size=4), BRC(hidden_size=6))),
    "double-lstm": double(LSTM(hidden_size=6)),
    "stack-of-doubles": stack(double(GRU(hidden_size=4)), 2),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_unroll_equals_step_loop(name):
  cell = CASES[name]
  params = cell.init(jax.random.key(0), D)
  xs = jax.random.normal(jax.random.key(1), (T, B, D))
  state, ys = jax.jit(lambda p, x: unroll(cell, p, x))(params, xs)
  ref_state, ref_ys = loop(cell, params, xs)
  assert ys.shape == (T, B, cell.output_size)
  assert_tree_close(ys, ref_ys)
  assert_tree_close(state, ref_state)


@pytest.mark.parametrize("name", ["gru", "stack3-gru", "double-lstm"])
def test_gradients_equal_step_loop(name):
  cell = CASES[name]
  params = cell.init(jax.random.key(0), D)
  xs = jax.random.normal(jax.random.key(1), (T, B, D))
  g = jax.grad(lambda p: jnp.sum(jnp.sin(unroll(cell, p, xs)[1])))(params)
  g_ref = jax.grad(lambda p: jnp.sum(jnp.sin(loop(cell, p, xs)[1])))(params)
  assert_tree_close(g, g_ref, 1e-4)


@pytest.mark.parametrize("name", sorted(CASES))
def test_remat_backend_equals_scan_values_and_gradients(name):
  """The rematerialised scan (projection inside the step, states-only residuals) is the same function:
  outputs, final state and every parameter's gradient, over two batch axes and vmapped seeds."""
  cell = CASES[name]
  keys = jax.random.split(jax.random.key(0), 2)
  params = jax.vmap(lambda k: cell.init(k, D))(keys)
  xs = jax.random.normal(jax.random.key(1), (T, 2, B, D))

  def run(backend):
    def loss(p):
      state, ys = unroll(cell, p, xs, backend=backend)
      return jnp.sum(jnp.sin(ys)) + sum(jnp.sum(jnp.cos(s)) for s in jax.tree_util.tree_leaves(state))
    return jax.jit(jax.vmap(jax.value_and_grad(loss)))(params)

  (v, g), (v_ref, g_ref) = run("remat"), run("scan")
  assert_tree_close(v, v_ref)
  assert_tree_close(g, g_ref, 1e-4)


# The LRU's output reads its input (D x), so "last" cannot be the final state's output; a stack keeps the
# lower layers' every output; GateL0RD has noise and penalties of its own.
LAST_CASES = ["plrnn", "lru", "lstm", "stack-mixed", "double-lstm"]


@pytest.mark.parametrize("steps", [T, 1])
@pytest.mark.parametrize("backend", ["scan", "remat"])
@pytest.mark.parametrize("name", LAST_CASES)
def test_last_output_alone_equals_the_last_of_all_outputs(name, backend, steps):
  """``outputs="last"`` (the last step taken outside the time loop) is the last step of "all": the output,
  the final state and every parameter's gradient, under vmapped seeds; also for a one-step sequence,
  whose loop is empty."""
  cell = CASES[name]
  params = jax.vmap(lambda k: cell.init(k, D))(jax.random.split(jax.random.key(0), 2))
  xs = jax.random.normal(jax.random.key(1), (steps, B, D))

  def run(outputs):
    def loss(p):
      state, ys = unroll(cell, p, xs, backend=backend, outputs=outputs)
      return jnp.sum(jnp.sin(ys[-1:])) + sum(jnp.sum(jnp.cos(s)) for s in jax.tree_util.tree_leaves(state)), ys[-1:]
    return jax.jit(jax.vmap(jax.value_and_grad(loss, has_aux=True)))(params)

  ((v, last), g), ((v_ref, last_ref), g_ref) = run("last"), run("all")
  assert last.shape == (2, 1, B, cell.output_size)
  assert_tree_close((v, last), (v_ref, last_ref), 1e-6)
  assert_tree_close(g, g_ref, 1e-5)


def test_last_output_alone_with_cell_noise_batch_major_and_a_bad_choice():
  cell = CELLS["gatel0rd"](hidden_size=5)
  params = cell.init(jax.random.key(0), D)
  xs = jax.random.normal(jax.random.key(1), (B, T, D))
  key = jax.random.key(2)
  state, ys, penalty = unroll(cell, params, xs, key=key, penalties=True, time_major=False, outputs="last")
  ref_state, ref_ys, ref_penalty = unroll(cell, params, xs, key=key, penalties=True, time_major=False)
  assert_tree_close((state, ys, penalty), (ref_state, ref_ys[:, -1:], ref_penalty), 1e-6)
  with pytest.raises(ValueError, match="unknown outputs 'first'; valid choices: all, last"):
    unroll(cell, params, xs, outputs="first")


def test_remat_backend_runs_cell_noise_through_the_plain_scan():
  cell = CELLS["gatel0rd"](hidden_size=5)
  params = cell.init(jax.random.key(0), D)
  xs = jax.random.normal(jax.random.key(1), (T, B, D))
  key = jax.random.key(2)
  a = unroll(cell, params, xs, backend="remat", key=key, penalties=True)
  b = unroll(cell, params, xs, backend="scan", key=key, penalties=True)
  assert_tree_close(a, b, 1e-6)


def test_unroll_factor_and_batch_major_give_the_same_numbers():
  cell = GRU(hidden_size=5)
  params = cell.init(jax.random.key(0), D)
  xs = jax.random.normal(jax.random.key(1), (T, B, D))
  _, ys = unroll(cell, params, xs)
  _, ys4 = unroll(cell, params, xs, unroll=4)
  _, ys_bm = unroll(cell, params, jnp.swapaxes(xs, 0, 1), time_major=False)
  np.testing.assert_allclose(ys4, ys, rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(jnp.swapaxes(ys_bm, 0, 1), ys, rtol=1e-6, atol=1e-6)


def test_initial_state_is_used():
  cell = BRC(hidden_size=4)
  params = cell.init(jax.random.key(0), D)
  xs = jnp.zeros((1, B, D))
  s0 = jnp.full((B, 4), 0.5)
  state, _ = unroll(cell, params, xs, s0)
  np.testing.assert_allclose(state, cell.step(params, s0, xs[0])[0], rtol=1e-6)


def test_unknown_backend_is_a_clear_error():
  cell = GRU(hidden_size=3)
  with pytest.raises(ValueError, match="unknown backend 'cuda'; valid choices: auto, scan, remat, pallas, wavefront"):
    unroll(cell, cell.init(jax.random.key(0), 1), jnp.zeros((2, 1, 1)), backend="cuda")


def test_double_splits_width_and_concatenates():
  cell = double(GRU(hidden_size=8))
  assert isinstance(cell, Double) and cell.first.hidden_size == 4 and cell.output_size == 8
  params = cell.init(jax.random.key(0), D)
  xs = jax.random.normal(jax.random.key(1), (T, B, D))
  _, ys = unroll(cell, params, xs)
  _, y1 = unroll(cell.first, params["first"], xs)
  _, y2 = unroll(cell.second, params["second"], xs)
  np.testing.assert_allclose(ys, jnp.concatenate([y1, y2], -1), rtol=1e-6)
  assert set(recurrent_weights(cell, params)) == {f"{half}/W_{g}" for half in ("first", "second") for g in "rzn"}
  with pytest.raises(ValueError, match="must be even"):
    double(GRU(hidden_size=5))


def test_stack_feeds_each_layer_the_one_below():
  cell = stack(LSTM(hidden_size=4), 2)
  params = cell.init(jax.random.key(0), D)
  assert params["layers"][1]["U_i"].shape == (4, 4)
  xs = jax.random.normal(jax.random.key(1), (T, B, D))
  _, y0 = unroll(cell.cells[0], params["layers"][0], xs)
  _, y1 = unroll(cell.cells[1], params["layers"][1], y0)
  np.testing.assert_allclose(unroll(cell, params, xs)[1], y1, rtol=1e-6)
  assert set(recurrent_weights(cell, params)) == {f"layers/{l}/W_{g}" for l in (0, 1) for g in "ifgo"}
