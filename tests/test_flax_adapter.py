"""A Flax Linen RNNCellBase seen as an rnnstab cell: same numbers as nn.RNN, own params tree."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnnstab.cells import recurrent_weights, stack
from rnnstab.flax import FlaxCell
from rnnstab.unroll import unroll

T, B, D, H = 6, 3, 2, 5


class LeakyCell(nn.RNNCellBase):
  """A user's own cell: h' = (1 - a) h + a tanh(x U + h W)."""

  features: int
  leak: float = 0.3

  @nn.compact
  def __call__(self, carry, x):
    h = (1 - self.leak) * carry + self.leak * jnp.tanh(nn.Dense(self.features, name="i")(x) +
                                                        nn.Dense(self.features, use_bias=False, name="h")(carry))
    return h, h

  def initialize_carry(self, rng, input_shape):
    return jnp.zeros(input_shape[:-1] + (self.features,))

  @property
  def num_feature_axes(self):
    return 1


@pytest.mark.parametrize("module", [nn.GRUCell(features=H), nn.OptimizedLSTMCell(features=H),
                                    nn.LSTMCell(features=H), nn.SimpleCell(features=H), LeakyCell(features=H)],
                         ids=lambda m: type(m).__name__)
def test_adapter_matches_flax_rnn(module):
  cell = FlaxCell(module)
  params = cell.init(jax.random.key(0), D)
  xs = jax.random.normal(jax.random.key(1), (B, T, D))
  ref = nn.RNN(module).apply({"params": {"cell": params}}, xs)
  state, ys = unroll(cell, params, xs, time_major=False)
  np.testing.assert_allclose(ys, ref, rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(cell.output(state), ys[:, -1])
  # Gradients flow through the adapter exactly as through nn.RNN, with either time loop.
  g_ref = jax.grad(lambda p: jnp.sum(nn.RNN(module).apply({"params": {"cell": p}}, xs) ** 2))(params)
  for backend in ("scan", "remat"):
    g = jax.grad(lambda p: jnp.sum(unroll(cell, p, xs, time_major=False, backend=backend)[1] ** 2))(params)
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6), g, g_ref)


def test_recurrent_weights_of_flax_cells():
  gru = FlaxCell(nn.GRUCell(features=H))
  assert set(recurrent_weights(gru, gru.init(jax.random.key(0), D))) == {"hr/kernel", "hz/kernel", "hn/kernel"}
  lstm = FlaxCell(nn.OptimizedLSTMCell(features=H))
  assert set(recurrent_weights(lstm, lstm.init(jax.random.key(0), D))) == {f"h{g}/kernel" for g in "ifgo"}
  own = FlaxCell(LeakyCell(features=H))
  assert set(recurrent_weights(own, own.init(jax.random.key(0), D))) == {"h/kernel"}


def test_adapted_cells_stack_with_prefixed_paths():
  cell = stack(FlaxCell(nn.GRUCell(features=H)), 2)
  params = cell.init(jax.random.key(0), D)
  _, ys = unroll(cell, params, jnp.ones((T, B, D)))
  assert ys.shape == (T, B, H)
  assert "layers/1/hz/kernel" in recurrent_weights(cell, params)


@pytest.mark.parametrize("name,layers", [("brc", 1), ("lstm", 1), ("gru", 2)])
def test_rnnstab_cells_run_inside_flax_linen_and_nnx_rnn(name, layers):
  from flax import nnx
  from rnnstab.cells import CELLS
  from rnnstab.flax import LinenCell, NNXCell
  from rnnstab.objectives.lsc import lsc_loss, lsc_targets
  cell = CELLS[name](hidden_size=4)
  cell = stack(cell, layers) if layers > 1 else cell
  xs = jax.random.normal(jax.random.key(1), (2, 5, 3))   # Flax's batch-major layout
  rnn = nn.RNN(LinenCell(cell))
  variables = rnn.init(jax.random.key(0), xs)
  params = variables["params"]["cell"]["cell"]           # rnnstab's own tree
  np.testing.assert_allclose(rnn.apply(variables, xs), unroll(cell, params, xs, time_major=False)[1], atol=1e-6)
  module = nnx.RNN(NNXCell(cell, 3, rngs=nnx.Rngs(0)))
  nnx_params = module.cell.params.get_value()
  np.testing.assert_allclose(module(xs), unroll(cell, nnx_params, xs, time_major=False)[1], atol=1e-6)
  # The same trees go straight into an rnnstab objective, and gradients flow through nnx.RNN.
  loss = lsc_loss(cell, targets=lsc_targets("one", layers=layers, seq_len=5, kinds=("time",)))
  value, _ = loss(params, jnp.swapaxes(xs, 0, 1), jax.random.key(2))
  assert np.isfinite(value)
  grads = nnx.grad(lambda m: jnp.sum(m(xs) ** 2))(module)
  assert all(np.all(np.isfinite(g)) for g in jax.tree_util.tree_leaves(grads))


def test_an_rnnstab_objective_joins_a_flax_models_own_loss():
  # A Flax classifier's cross-entropy plus 0.1 x the LSC loss of its GRU, through one optax step.
  import optax
  from rnnstab.objectives import lsc_loss, lsc_targets, with_objective

  class Model(nn.Module):
    @nn.compact
    def __call__(self, xs):
      return nn.Dense(2)(nn.RNN(nn.GRUCell(features=6, name="gru"))(xs)[:, -1])

  model, xs, labels = Model(), jax.random.normal(jax.random.key(1), (4, 7, 3)), jnp.array([0, 1, 1, 0])
  params = model.init(jax.random.key(0), xs)["params"]
  task = lambda p, b: optax.softmax_cross_entropy_with_integer_labels(model.apply({"params": p}, b[0]), b[1]).mean()
  lsc = lsc_loss(FlaxCell(nn.GRUCell(features=6)), targets=lsc_targets("one", layers=1, seq_len=7, kinds=("time",)))
  loss = with_objective(task, lsc, 0.1, cell_params=lambda p: p["gru"], inputs=lambda b: jnp.swapaxes(b[0], 0, 1))
  (total, aux), grads = jax.value_and_grad(loss, has_aux=True)(params, (xs, labels), jax.random.key(2))
  np.testing.assert_allclose(total, aux["task"] + 0.1 * aux["objective"], rtol=1e-6)
  assert aux["objective_aux"]["radii"]["time"].shape == (1, 4)
  g_task = jax.grad(task)(params, (xs, labels))
  assert np.abs(grads["gru"]["hr"]["kernel"] - g_task["gru"]["hr"]["kernel"]).max() > 0   # the objective acts
  np.testing.assert_allclose(grads["Dense_0"]["kernel"], g_task["Dense_0"]["kernel"], rtol=1e-6)  # not on the head
  opt = optax.adam(1e-3)
  with jax.numpy_dtype_promotion("standard"):
    updates, _ = opt.update(grads, opt.init(params), params)
  assert jax.tree_util.tree_structure(updates) == jax.tree_util.tree_structure(params)
