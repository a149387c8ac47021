"""Seeds spread over devices: the same numbers as one device, and the host exposing one device per core."""
import os
import subprocess
import sys
import textwrap

import pytest

from rnnstab.devices import seed_devices

STRICT_PROMOTION = False  # the subprocess trains with optax


def _python(code: str, **env) -> str:
  """Runs ``code`` in a fresh interpreter (device counts are fixed once JAX's backends start)."""
  clean = {k: v for k, v in os.environ.items() if k != "JAX_NUM_CPU_DEVICES"}
  # Keeps the suite's compile flags (tests/conftest.py) and adds the test's own.
  env["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + env.get("XLA_FLAGS", "")).strip()
  out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env={**clean, **env},
                       capture_output=True, text=True, timeout=600)
  assert out.returncode == 0, out.stderr[-3000:]
  return out.stdout


def test_seed_devices_is_the_most_devices_that_divide_the_seeds():
  assert seed_devices(6, list("abcd")) == list("abc")
  assert seed_devices(16, list("ab")) == list("ab")
  assert seed_devices(7, list("ab")) == list("a")
  assert seed_devices(1, list("abcdefgh")) == list("a")


def test_training_over_eight_devices_equals_one_device():
  """Init, training chunks and evaluation of 8 seeds on 8 simulated CPU devices, against the same seeds on
  one device, in every seed-parallel mode a device may use; and a warmup init the same way."""
  out = _python("""
      import dataclasses
      import jax, jax.numpy as jnp, numpy as np
      from rnnstab.config import Config
      from rnnstab.devices import over_devices
      from rnnstab.train import make_train
      assert len(jax.devices()) == 8
      config = Config(cell="gru", task="copy", seeds=8, hidden=6, layers=2, seq_len=5, batch=4, steps=4,
                      log_every=2, eval_batch=8, analysis_every=0, warmup_steps=3)
      keys = jax.random.split(jax.random.key(0), 8)

      def run(config, devices, mode):
        trainer = make_train(config)
        states = jax.jit(over_devices(lambda k: trainer.init(k)[0], mode, 8, devices))(keys)
        states, metrics = jax.jit(over_devices(trainer.chunk, mode, 8, devices))(states, jnp.int32(2))
        return states.params, metrics, jax.jit(over_devices(trainer.evaluate, mode, 8, devices))(states)

      def close(a, b, tol):
        jax.tree_util.tree_map(lambda x, y: np.testing.assert_allclose(x, y, rtol=tol, atol=tol), a, b)

      one = run(config, jax.devices()[:1], "vmap")
      # Modes within a device are tested against each other in test_train; here: vmap across devices
      # (and "map" across devices with the warmup below).
      got = run(config, jax.devices(), "vmap")
      close(got, one, 1e-5)
      assert len(jax.tree_util.tree_leaves(got[0])[0].sharding.device_set) == 8
      # VAA* near its tolerance magnifies the different rounding of batched and unbatched kernels, and
      # Adam's normalised steps carry it on: equal to 1e-3 after 3 warmup and 2 training steps.
      warm = dataclasses.replace(config, init="warmup")
      close(run(warm, jax.devices(), "map"), run(warm, jax.devices()[:1], "vmap"), 1e-3)

      # Programs that call LAPACK (here QR, as orthogonal inits do) stay on one device; others spread.
      from rnnstab.devices import compile_over_devices
      x = jax.random.normal(jax.random.key(1), (8, 4, 4))
      qr = compile_over_devices(lambda a: jnp.linalg.qr(a)[1], "vmap", 8, jax.devices(), x)
      sq = compile_over_devices(lambda a: a @ a, "vmap", 8, jax.devices(), x)
      assert (len(qr.devices), len(sq.devices)) == (1, 8)
      np.testing.assert_allclose(qr(x), jax.vmap(lambda a: jnp.linalg.qr(a)[1])(x), rtol=1e-6)
      np.testing.assert_allclose(sq(x), x @ x, rtol=1e-6)
      print("ok")
  """, XLA_FLAGS="--xla_force_host_platform_device_count=8")
  assert out.strip().endswith("ok")


@pytest.mark.parametrize("env, want", [({}, "2 2 True"), ({"JAX_NUM_CPU_DEVICES": "3"}, "0 3 False")],
                         ids=["one-per-core", "user-choice-kept"])
def test_use_every_core(env, want):
  """Sets the device count (and single-threaded Eigen, see BUILD.md) unless the user chose a count."""
  out = _python("""
      import os
      import jax
      from rnnstab.devices import use_every_core
      n = use_every_core(2)
      print(n, len(jax.devices()), "xla_cpu_multi_thread_eigen=false" in os.environ.get("XLA_FLAGS", ""))
  """, **env)
  assert out.split()[-3:] == want.split()
