"""The PLRNN's compiled CPU kernel (rnnstab.kernels.plrnn_cpu) against the XLA loop and autodiff of the scan.

The kernel is built when the package is installed (setup.py). Where it could not be built these tests
skip, saying why, unless RNNSTAB_REQUIRE_CPU_KERNEL is set, as CI's .ci/run does: there they fail.
"""
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnnstab.cells import PLRNN, stack
from rnnstab.cells.plrnn_loop import KERNEL_MAX_HIDDEN
from rnnstab.kernels import plrnn_cpu
from rnnstab.unroll import unroll
from test_plrnn_loop import CLIP, VARIANTS   # the XLA loop's variants: plain, AWh, mean-centred, clipped

T, D = 7, 2
# Batches of 6 (one padded vector), 70 (a 64-column block and a padded one) and 16 (no padding).
BATCHES = {"6": (3, 2), "70": (70,), "16": (16,)}


@pytest.fixture(autouse=True)
def kernel_built(monkeypatch):
  monkeypatch.delenv(plrnn_cpu.DISABLE, raising=False)
  reason = plrnn_cpu.unavailable()
  if reason is not None:
    if os.environ.get("RNNSTAB_REQUIRE_CPU_KERNEL"):
      pytest.fail(f"the CPU kernel is required (RNNSTAB_REQUIRE_CPU_KERNEL) but unavailable: {reason}")
    pytest.skip(reason)


def value_and_grads(cell, params, xs, state0, backend, outputs):
  def loss(p, x, s0):
    state, ys = unroll(cell, p, x, s0, backend=backend, outputs=outputs)
    return jnp.sum(jnp.sin(3 * ys)) + jnp.sum(jnp.cos(state)), (state, ys)
  return jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True))(params, xs, state0)


def close_in_scale(actual, expected, tol=1e-5):
  """Equal to float32 summation order: each array within tol of its own largest entry (a gradient summed
  over the batch and time in another order differs by rounding relative to its terms, not to a sum that
  cancels to near zero), and elementwise within tol relative."""
  def check(a, e):
    a, e = np.asarray(a), np.asarray(e)
    np.testing.assert_allclose(a, e, rtol=tol, atol=tol * max(1.0, float(np.max(np.abs(e)))))
  jax.tree_util.tree_map(check, actual, expected)


@pytest.mark.parametrize("batch", sorted(BATCHES))
@pytest.mark.parametrize("outputs", ["last", "all"])
@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_kernel_equals_autodiff_of_the_scan_and_the_xla_loop(name, outputs, batch, monkeypatch):
  """Outputs, final state and the gradients of every parameter, of the inputs and of the initial state."""
  cell = VARIANTS[name]
  params = cell.init(jax.random.key(0), D)
  xs = 2.0 * jax.random.normal(jax.random.key(1), (T, *BATCHES[batch], D))
  state0 = jax.random.normal(jax.random.key(2), (*BATCHES[batch], cell.hidden_size))
  kernel = value_and_grads(cell, params, xs, state0, "remat", outputs)
  scan = value_and_grads(cell, params, xs, state0, "scan", outputs)
  monkeypatch.setenv(plrnn_cpu.DISABLE, "0")
  xla_loop = value_and_grads(cell, params, xs, state0, "remat", outputs)
  for ref in (scan, xla_loop):
    close_in_scale(kernel[0], ref[0])   # the loss and the (state, outputs)
    close_in_scale(kernel[1], ref[1])   # the gradients
  if cell.clip_range:  # the clip binds somewhere, so its gradient mask is exercised
    assert np.any(np.abs(np.asarray(scan[0][1][1])) == CLIP)


def test_remat_backend_runs_the_kernel_up_to_its_width_unless_turned_off(monkeypatch):
  xs = jnp.ones((T, 3, D))
  def grad_jaxpr(hidden):
    cell = PLRNN(hidden_size=hidden)
    return str(jax.make_jaxpr(jax.grad(
        lambda p: jnp.sum(unroll(cell, p, xs, backend="remat")[1])))(cell.init(jax.random.key(0), D)))
  text = grad_jaxpr(KERNEL_MAX_HIDDEN)
  assert "rnnstab_plrnn_forward" in text and "rnnstab_plrnn_backward" in text
  assert "rnnstab_plrnn" not in grad_jaxpr(KERNEL_MAX_HIDDEN + 1)   # wider: XLA's matmuls are faster
  monkeypatch.setenv(plrnn_cpu.DISABLE, "0")
  assert plrnn_cpu.unavailable() == "turned off by RNNSTAB_CPU_KERNEL=0"
  assert "rnnstab_plrnn" not in grad_jaxpr(5)


def test_stacked_vmapped_and_mapped_over_seeds():
  """Seeds under vmap (one kernel call per seed) and under lax.map, through two stacked layers, equal
  one seed at a time."""
  cell = stack(PLRNN(hidden_size=6, clip_range=CLIP), 2)
  params = jax.vmap(lambda k: cell.init(k, D))(jax.random.split(jax.random.key(0), 3))
  xs = 2.0 * jax.random.normal(jax.random.key(1), (T, 4, D))

  def loss(p):
    state, ys = unroll(cell, p, xs, backend="remat", outputs="last")
    return jnp.sum(jnp.sin(3 * ys)) + sum(jnp.sum(jnp.cos(s)) for s in state)

  one = jax.jit(jax.value_and_grad(loss))
  each = [one(jax.tree_util.tree_map(lambda a: a[s], params)) for s in range(3)]
  stacked = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *each)
  close_in_scale(jax.jit(jax.vmap(jax.value_and_grad(loss)))(params), stacked)
  close_in_scale(jax.jit(lambda p: jax.lax.map(jax.value_and_grad(loss), p))(params), stacked)


def test_same_numbers_every_run():
  """Pure: the same inputs give bit-identical values and gradients (no state kept between calls)."""
  cell = VARIANTS["mean-centred-clipped"]
  params = cell.init(jax.random.key(0), D)
  xs = 2.0 * jax.random.normal(jax.random.key(1), (T, 70, D))
  state0 = jax.random.normal(jax.random.key(2), (70, cell.hidden_size))
  first = value_and_grads(cell, params, xs, state0, "remat", "all")
  again = value_and_grads(cell, params, xs, state0, "remat", "all")
  jax.tree_util.tree_map(np.testing.assert_array_equal, first, again)
