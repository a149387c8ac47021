"""The fused Pallas kernels against the lax.scan path (interpreted on CPU), and their lowering for TPU and GPU."""
import logging

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import export

from rnnstab.cells import CELLS, double, stack
from rnnstab.kernels import fused_unroll, kernel_fits
from rnnstab.unroll import unroll

# The cells issue 6 names, and the others the kernels serve through the same code.
KERNEL_CELLS = ["tanh", "relu", "plrnn", "gru", "lstm", "brc", "nbrc", "mgu", "alif", "lru"]


def _loss(cell, p, xs, backend):
  """A loss that reads every output and every part of the final state."""
  state, ys = unroll(cell, p, xs, backend=backend)
  return jnp.sum(jnp.sin(ys)) + sum(jnp.sum(jnp.cos(a)) for a in jax.tree_util.tree_leaves(state))


def _assert_same(cell, xs, backend="pallas", params=None):
  p = cell.init(jax.random.key(0), xs.shape[-1]) if params is None else params
  v1, g1 = jax.value_and_grad(lambda p, x: _loss(cell, p, x, "scan"), argnums=(0, 1))(p, xs)
  v2, g2 = jax.value_and_grad(lambda p, x: _loss(cell, p, x, backend), argnums=(0, 1))(p, xs)
  np.testing.assert_allclose(v2, v1, rtol=1e-5)
  for a, b in zip(jax.tree_util.tree_leaves(g1), jax.tree_util.tree_leaves(g2)):
    np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5 * float(jnp.max(jnp.abs(a))) + 1e-7)


def _uses_kernel(fn, *args) -> bool:
  return "pallas_call" in str(jax.make_jaxpr(fn)(*args))


@pytest.mark.parametrize("name", KERNEL_CELLS)
def test_fused_kernels_equal_the_scan_path(name):
  # Awkward sizes: 33 units, a batch of 3, 5 steps; values and gradients of params and inputs.
  _assert_same(CELLS[name](hidden_size=33), jax.random.normal(jax.random.key(1), (5, 3, 2)))


def test_batch_blocks_and_vmapped_seeds():
  cell = CELLS["gru"](hidden_size=7)
  xs = jax.random.normal(jax.random.key(1), (4, 3, 2))
  p = cell.init(jax.random.key(0), 2)
  s0 = cell.initial_state(p, 3)
  # One kernel instance per batch row (three grid blocks) gives the same numbers and gradients.
  f = lambda p, block: jnp.sum(jnp.sin(fused_unroll(cell, p, xs, s0, batch_block=block, interpret=True)[1]))
  g_all, g_rows = jax.grad(f)(p, None), jax.grad(f)(p, 1)
  for a, b in zip(jax.tree_util.tree_leaves(g_all), jax.tree_util.tree_leaves(g_rows)):
    np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-7)
  with pytest.raises(ValueError, match="batch_block: 2 does not divide the batch 3"):
    fused_unroll(cell, p, xs, s0, batch_block=2, interpret=True)
  # Seeds vmapped through the kernels (a grid axis) equal seeds vmapped through scan.
  seeds = jax.vmap(lambda k: cell.init(k, 2))(jax.random.split(jax.random.key(2), 3))
  grads = {b: jax.vmap(jax.grad(lambda p, b=b: _loss(cell, p, xs, b)))(seeds) for b in ("scan", "pallas")}
  for a, b in zip(jax.tree_util.tree_leaves(grads["scan"]), jax.tree_util.tree_leaves(grads["pallas"])):
    np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name,layers,backend", [("tanh", 4, "wavefront"), ("gru", 3, "wavefront"),
                                                 ("gru", 3, "pallas"), ("lstm", 2, "wavefront")])
def test_deep_stacks_as_one_kernel(name, layers, backend):
  cell = stack(CELLS[name](hidden_size=6), layers)
  xs = jax.random.normal(jax.random.key(1), (5, 2, 3))
  _assert_same(cell, xs, backend)
  # One forward and one backward kernel for the whole stack.
  p = cell.init(jax.random.key(0), 3)
  jaxpr = str(jax.make_jaxpr(jax.grad(lambda p: _loss(cell, p, xs, backend)))(p))
  assert jaxpr.count("pallas_call[") == 2


@pytest.mark.parametrize("cell,every", [(CELLS["lstm"](hidden_size=5), 2), (stack(CELLS["gru"](hidden_size=4), 2), 3)])
def test_recompute_from_checkpoints_equals_the_scan_path(cell, every):
  # One saved state in `every` (an LSTM's c included); the backward kernel recomputes the rest.
  p, xs = cell.init(jax.random.key(0), 3), jax.random.normal(jax.random.key(1), (6, 3, 3))
  loss = lambda p, x, **kw: _loss_of(unroll(cell, p, x, **kw))
  v1, g1 = jax.value_and_grad(lambda p, x: loss(p, x, backend="scan"), argnums=(0, 1))(p, xs)
  v2, g2 = jax.value_and_grad(lambda p, x: loss(p, x, backend="pallas", recompute=every), argnums=(0, 1))(p, xs)
  np.testing.assert_allclose(v2, v1, rtol=1e-5)
  for a, b in zip(jax.tree_util.tree_leaves(g1), jax.tree_util.tree_leaves(g2)):
    np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
  # Its residuals: T / every states, not T.
  jaxpr = str(jax.make_jaxpr(jax.grad(lambda p: loss(p, xs, backend="pallas", recompute=every)))(p))
  assert "recurrence_fwd_checkpointed" in jaxpr and "recurrence_bwd_checkpointed" in jaxpr
  with pytest.raises(ValueError, match="recompute: the segment length 4 must divide the sequence length 6"):
    unroll(cell, p, xs, backend="pallas", recompute=4)


def _loss_of(out):
  state, ys = out
  return jnp.sum(jnp.sin(ys)) + sum(jnp.sum(jnp.cos(a)) for a in jax.tree_util.tree_leaves(state))


def test_double_layer_through_the_kernels():
  _assert_same(double(CELLS["gru"](hidden_size=6)), jax.random.normal(jax.random.key(1), (4, 2, 3)))


def test_auto_is_scan_on_cpu_and_pallas_runs_the_interpreter():
  cell = CELLS["tanh"](hidden_size=4)
  p, xs = cell.init(jax.random.key(0), 2), jnp.ones((3, 2, 2))
  assert not _uses_kernel(lambda p: unroll(cell, p, xs, backend="auto"), p)
  assert _uses_kernel(lambda p: unroll(cell, p, xs, backend="pallas"), p)


def test_shapes_that_do_not_fit_fall_back_to_scan_with_a_logged_reason(monkeypatch, caplog):
  cell = CELLS["tanh"](hidden_size=33)
  p, xs = cell.init(jax.random.key(0), 2), jnp.ones((3, 4, 2))
  s0 = cell.initial_state(p, 4)
  assert "power-of-two" in kernel_fits(cell, p, xs, s0, "gpu")
  assert kernel_fits(CELLS["tanh"](hidden_size=32), CELLS["tanh"](hidden_size=32).init(jax.random.key(0), 2), xs,
                     jnp.zeros((4, 32)), "gpu") is None
  big = CELLS["lstm"](hidden_size=256)
  assert "exceed" in kernel_fits(big, jax.eval_shape(lambda: big.init(jax.random.key(0), 8)),
                                 jax.ShapeDtypeStruct((100, 32, 8), jnp.float32), {"h": jnp.zeros((32, 256)),
                                                                                    "c": jnp.zeros((32, 256))}, "gpu")
  assert "VMEM" in kernel_fits(big, jax.eval_shape(lambda: big.init(jax.random.key(0), 8)),
                               jax.ShapeDtypeStruct((4000, 32, 8), jnp.float32), {"h": jnp.zeros((32, 256)),
                                                                                   "c": jnp.zeros((32, 256))}, "tpu")
  # On a GPU, H = 33 runs on lax.scan, logged, never an error.
  monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
  with caplog.at_level(logging.WARNING, logger="rnnstab"):
    assert not _uses_kernel(lambda p: unroll(cell, p, xs, backend="pallas"), p)
  assert "falls back to lax.scan: Triton needs power-of-two" in caplog.text


TRITON = export.DisabledSafetyCheck.custom_call("__gpu$xla.gpu.triton")


def _lowers(cell, hidden, batch, platform, schedule="time", recompute=0):
  """Exports the forward and the gradient for ``platform`` without the chip; None if kernel_fits refuses."""
  params = jax.eval_shape(lambda: cell.init(jax.random.key(0), hidden))
  xs = jax.ShapeDtypeStruct((16, batch, hidden), jnp.float32)
  state0 = jax.eval_shape(lambda p: cell.initial_state(p, batch), params)
  if kernel_fits(cell, params, xs, state0, platform) is not None:
    return None
  f = lambda p, x: fused_unroll(cell, p, x, cell.initial_state(p, batch), schedule=schedule, recompute=recompute,
                                platform=platform)[1]
  for fn in (f, jax.grad(lambda p, x: jnp.sum(f(p, x)))):
    exported = export.export(jax.jit(fn), platforms=[platform], disabled_checks=[TRITON])(params, xs)
    assert "tpu_custom_call" in exported.mlir_module() or "triton" in exported.mlir_module()
  return True


@pytest.mark.parametrize("platform", ["tpu", "cuda"])
@pytest.mark.parametrize("name", ["tanh", "relu", "plrnn", "gru", "lstm", "brc", "nbrc"])
def test_kernels_lower_for_tpu_and_gpu(name, platform):
  # Every shape kernel_fits accepts lowers (forward and gradient); BUILD.md lists which are accepted.
  accepted = {(h, b): _lowers(CELLS[name](hidden_size=h), h, b, platform) for h in (64, 128, 256) for b in (8, 32)}
  if platform == "tpu":
    assert all(accepted.values())
  else:
    assert accepted[(64, 32)]   # every cell fits a Triton program at 64 units


@pytest.mark.parametrize("name", ["tanh", "gru"])
def test_wavefront_lowers_for_tpu_and_gpu(name):
  for platform in ("tpu", "cuda"):
    assert _lowers(stack(CELLS[name](hidden_size=32), 3), 32, 16, platform, schedule="wavefront")


@pytest.mark.parametrize("name", ["gru", "lstm"])
def test_recompute_kernels_lower_for_tpu_and_gpu(name):
  for platform in ("tpu", "cuda"):
    assert _lowers(CELLS[name](hidden_size=64), 64, 32, platform, recompute=4)


def test_benchmark_prints_scan_rows_on_cpu():
  import subprocess
  import sys
  from pathlib import Path
  script = Path(__file__).resolve().parents[1] / "benchmarks" / "kernels.py"
  proc = subprocess.run([sys.executable, str(script), "--hidden=8", "--batch=4", "--seeds=1,2", "--seq_len=5",
                         "--rounds=1"], capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr
  rows = [l.split() for l in proc.stdout.splitlines() if l.strip().startswith("8 ")]
  assert [(r[2], r[3]) for r in rows] == [("1", "scan"), ("2", "scan")]
  assert "Pallas is not timed on CPU" in proc.stdout


def test_training_through_the_kernels_equals_training_through_scan():
  # Two Adam steps of two seeds (run.py's trainer, --backend=pallas vs scan): the same params.
  from rnnstab.config import Config
  from rnnstab.train import make_train
  keys = jax.random.split(jax.random.key(0), 2)
  out = {}
  for backend in ("scan", "pallas"):
    trainer = make_train(Config(cell="gru", hidden=8, layers=2, seq_len=5, batch=4, seeds=2, backend=backend))
    with jax.numpy_dtype_promotion("standard"):  # optax's Adam mixes int32 counts with floats
      state = jax.vmap(lambda k: trainer.init(k)[0])(keys)
      out[backend] = jax.jit(jax.vmap(lambda s: trainer.run(s, 2)))(state)
  for a, b in zip(jax.tree_util.tree_leaves(out["scan"][0].params), jax.tree_util.tree_leaves(out["pallas"][0].params)):
    np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(out["pallas"][1], out["scan"][1], rtol=1e-5)
