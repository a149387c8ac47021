"""Seeds spread over the local devices, and one device per core on CPU so that every core trains seeds.

XLA runs a CPU program on one thread, apart from large single ops, so a 16-seed program on a 2-core
machine leaves one core idle. Exposing each core as a CPU device (``jax_num_cpu_devices``) and placing
an equal share of the seeds on each device runs the shares concurrently: 16-seed GRU warmup steps ran
2.3x faster on 2 cores. Seeds never communicate, so every device runs the single-device program on its
own seeds (``shard_map`` over a mesh axis "seeds"); a seed's numbers depend on the device count only
through rounding (batched and unbatched kernels round differently).

Example:
  >>> use_every_core()                      # first thing in a script, before any JAX computation
  >>> f = jax.jit(over_devices(train_one_seed, "map", num_seeds=16))
  >>> states = f(jax.random.split(key, 16))  # 8 seeds on each of 2 cores
"""
from __future__ import annotations

import os
from typing import Callable, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec, SingleDeviceSharding

from rnnstab.train import over_seeds

SEED_AXIS = "seeds"

# XLA:CPU options for the programs compiled here. Region-based alias analysis lets copy insertion see that
# a time loop's carried state is not read after the step that replaces it: without it XLA:CPU copies
# each loop-carried state once per time step. Measured on one core, alternating compiled programs: 5% of
# a PLRNN training step at batch 500 (benchmarks/plrnn.py's setting), 3-4% of GRU and tanh steps
# (lax.scan, H = 64, batch 64).
CPU_COMPILER_OPTIONS = {"xla_cpu_copy_insertion_use_region_analysis": True}


def usable_cores() -> int:
  """Cores this process may run on (its CPU affinity where the OS tells, else the machine's count)."""
  try:
    return len(os.sched_getaffinity(0))
  except AttributeError:  # not on Linux
    return os.cpu_count() or 1


def use_every_core(count: int | None = None) -> int:
  """Makes the host platform expose ``count`` CPU devices (default: one per usable core).

  Call it before the first JAX computation (``experiments/run.py`` does). Leaves the setting alone when
  the user chose one (``JAX_NUM_CPU_DEVICES`` or ``--xla_force_host_platform_device_count`` in
  ``XLA_FLAGS``) or when JAX's backends are already running. With more than one device it also turns
  off XLA:CPU's multi-threaded Eigen (unless ``XLA_FLAGS`` mentions it).

  Returns:
    The number of CPU devices set, or 0 when the setting was left alone.
  """
  if "JAX_NUM_CPU_DEVICES" in os.environ or "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""):
    return 0
  count = count or usable_cores()
  try:
    jax.config.update("jax_num_cpu_devices", count)
  except RuntimeError:  # backends already initialised: keep what they have
    return 0
  flags = os.environ.get("XLA_FLAGS", "")
  if count > 1 and "xla_cpu_multi_thread_eigen" not in flags:
    # Each device is one core, so intra-op threads buy nothing; and with two devices a dot or LAPACK
    # call that waits on the shared intra-op pool from inside it has deadlocked XLA:CPU (BUILD.md).
    # XLA reads XLA_FLAGS when the CPU backend starts, which is after this call.
    os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_multi_thread_eigen=false").strip()
  return count


def seed_devices(num_seeds: int, devices: Sequence | None = None) -> list:
  """The devices the seeds are spread over: the most of ``devices`` (default: the default backend's
  devices, those of every process in a multi-host run) whose count divides ``num_seeds``, so that every
  device holds the same number of seeds."""
  devices = list(jax.devices() if devices is None else devices)
  d = max(k for k in range(1, len(devices) + 1) if num_seeds % k == 0)
  return devices[:d]


def over_devices(fn: Callable, mode: str | int, num_seeds: int, devices: Sequence | None = None) -> Callable:
  """``over_seeds(fn, mode, ...)`` with the seeds split evenly over ``devices``.

  Args:
    fn: a function of one seed's pytree and shared arguments (as for ``over_seeds``).
    mode: how each device runs its own seeds ("vmap", "map" or a group size; see ``over_seeds``).
    num_seeds: total number of seeds.
    devices: the devices to use (default ``seed_devices(num_seeds)``); one device is plain ``over_seeds``.

  Returns:
    f(seeded_tree, *shared) -> outputs with a leading seed axis, sharded over the devices on axis "seeds";
    shared arguments are replicated.
  """
  devices = seed_devices(num_seeds) if devices is None else list(devices)
  if num_seeds % len(devices):
    raise ValueError(f"over_devices: {len(devices)} devices do not divide {num_seeds} seeds")
  per_device = over_seeds(fn, mode, num_seeds // len(devices))
  if len(devices) == 1:
    return per_device
  mesh = Mesh(devices, (SEED_AXIS,))

  def sharded(tree, *shared):
    specs = (PartitionSpec(SEED_AXIS),) + (PartitionSpec(),) * len(shared)
    # Seeds never communicate; the replication checker would otherwise ask every loop carry built from
    # shared constants (zeros, initial states) to be marked per-device.
    return jax.shard_map(per_device, mesh=mesh, in_specs=specs, out_specs=PartitionSpec(SEED_AXIS),
                         check_vma=False)(tree, *shared)

  return sharded


def seed_sharding(devices: Sequence):
  """The layout ``over_devices`` expects of an array with a leading seed axis: split over ``devices`` on
  that axis, or all on the one device."""
  if len(devices) == 1:
    return SingleDeviceSharding(devices[0])
  return NamedSharding(Mesh(list(devices), (SEED_AXIS,)), PartitionSpec(SEED_AXIS))


def place(tree, devices: Sequence):
  """``tree`` (leading seed axis) laid out by ``seed_sharding(devices)``; a no-op for arrays laid out so.

  Over the devices of several processes (a multi-host run), every process must hold the same values of
  ``tree`` (they are computed from the same seed); each then keeps only its own devices' seeds."""
  sharding = seed_sharding(devices)
  if sharding.is_fully_addressable:
    return jax.device_put(tree, sharding)

  def put(x):
    if isinstance(x, jax.Array) and x.sharding.is_equivalent_to(sharding, x.ndim):
      return x
    if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
      return jax.random.wrap_key_data(put(jax.random.key_data(x)), impl=jax.random.key_impl(x))
    host = np.asarray(x)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])

  return jax.tree_util.tree_map(put, tree)


def compile_over_devices(fn: Callable, mode: str | int, num_seeds: int, devices: Sequence, tree, *shared,
                         donate: bool = False):
  """``jit(over_devices(fn, ...))`` compiled for ``tree`` and ``shared``, on ``devices`` unless the program
  calls LAPACK, which then runs on the first device alone.

  jaxlib 0.10's CPU LAPACK kernels split a batch over XLA's intra-op pool and wait for the pieces from
  inside a pool thread; with one device per core, two devices in such a kernel at once hold every pool
  thread and deadlock (BUILD.md, "Known issue: nested waits"). Exact spectral radii (eig) and Newton
  steps (solve) are such programs; they are short, so one device costs little. (Orthogonal inits are not:
  ``rnnstab.orthogonal`` computes them without LAPACK.)

  Returns:
    ``call(tree, *shared)``, which places ``tree`` on the devices the program uses (``call.devices``).
  """
  def build(devices):
    jitted = jax.jit(over_devices(fn, mode, num_seeds, devices), donate_argnums=(0,) if donate else ())
    return jitted.lower(place(tree, devices), *shared)

  devices = list(devices)
  lowered = build(devices)
  if len(devices) > 1 and jax.process_count() == 1 and "lapack_" in lowered.as_text():
    devices = devices[:1]
    lowered = build(devices)
  compiled = lowered.compile(CPU_COMPILER_OPTIONS if devices[0].platform == "cpu" else None)

  def call(tree, *shared):
    return compiled(place(tree, devices), *shared)

  call.devices = devices
  return call
