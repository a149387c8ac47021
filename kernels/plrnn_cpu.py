"""The PLRNN's time loop as a compiled CPU kernel (kernels/plrnn_cpu.cc), called through XLA's FFI.

The kernel runs the same loop as ``rnnstab.cells.plrnn_loop`` (states (H, N), batch last; the same
hand-derived backward pass) with the step's element-wise work fused into its register-tiled products,
the saved stack written once and never zero-filled, and the weight gradients reduced once after the
loop: the passes XLA:CPU runs separately at the rPLRNN paper's size (H = 40, batch 500). It is built
when the package is installed (setup.py, a C++17 compiler and jaxlib's FFI headers); where it could not
be built, ``unavailable()`` says why and ``plrnn_time_loop`` runs its XLA loop instead.

References:
  Schmidt et al., "Identifying nonlinear dynamical systems with multiple time scales and long-range
  dependencies", ICLR 2021 (the PLRNN step and its mean-centred and clipped variants).
"""
from __future__ import annotations

import ctypes
import functools
import importlib.util
import os

import jax
import jax.numpy as jnp
import numpy as np

LIBRARY = "rnnstab.kernels._plrnn_cpu"
_FORWARD, _BACKWARD = "rnnstab_plrnn_forward", "rnnstab_plrnn_backward"
DISABLE = "RNNSTAB_CPU_KERNEL"


def unavailable() -> str | None:
  """None when the kernel is registered with XLA for the CPU; else why it is not used.

  ``RNNSTAB_CPU_KERNEL=0`` in the environment turns it off (read when a loop is traced), so that
  benchmarks can time the XLA loop beside it and a user can rule it out.
  """
  if os.environ.get(DISABLE, "1") == "0":
    return f"turned off by {DISABLE}=0"
  return _register()


@functools.cache
def _register() -> str | None:
  spec = importlib.util.find_spec(LIBRARY)
  if spec is None or not spec.origin:
    return (f"{LIBRARY} was not built (it needs a C++17 compiler when the package is installed: "
            "pip install -e . again)")
  try:
    lib = ctypes.cdll.LoadLibrary(spec.origin)
  except OSError as err:
    return f"{LIBRARY} could not be loaded: {err}"
  jax.ffi.register_ffi_target(_FORWARD, jax.ffi.pycapsule(lib.RnnstabPlrnnForward), platform="cpu")
  jax.ffi.register_ffi_target(_BACKWARD, jax.ffi.pycapsule(lib.RnnstabPlrnnBackward), platform="cpu")
  return None


def _require():
  reason = _register()
  if reason is not None:
    raise RuntimeError(f"rnnstab.kernels.plrnn_cpu: {reason}")


def _attrs(clip, mean_centre, last):
  return dict(clip=np.float32(clip), mean_centre=bool(mean_centre), last=bool(last))


LANES = 16  # the kernel pads the batch axis of what it saves to whole 64-byte vectors


def _padded(n):
  return -(-n // LANES) * LANES


def _forward(mean_centre, clip, last, A, W, C, h, z0, x):
  """(stack, final state (H, N)): the kernel's saved states, each step's slot H rows of the batch padded to
  a multiple of 16 and one vector more (kernels/plrnn_cpu.cc, ``slot_size``), and z_T."""
  _require()
  T, (H, N) = x.shape[0], z0.shape
  f32 = lambda *shape: jax.ShapeDtypeStruct(shape, jnp.float32)
  call = jax.ffi.ffi_call(_FORWARD, (f32(T, H * _padded(N) + LANES), f32(H, N)), vmap_method="sequential")
  return call(A, W, C, h, z0, x, **_attrs(clip, mean_centre, last))


def _states(stack, H, N):
  """Every step's new state (T, H, N) out of the saved stack (the outputs when ``last`` is False)."""
  return stack[:, :H * _padded(N)].reshape(stack.shape[0], H, _padded(N))[..., :N]


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1, 2))
def kernel_loop(mean_centre: bool, clip: float, last: bool, A, W, C, h, z0, x):
  """The loop of ``rnnstab.cells.plrnn_loop`` by the compiled kernel: same arguments and outputs.

  Args:
    mean_centre, clip: the cell's variant (clip 0: none).
    last: return the final state (H, N); else every step's new state (T, H, N).
    A (H,), W (H, H) in the kernel layout (in, out), C (D, H), h (H,): the cell's prepared parameters.
    z0: the initial state (H, N).
    x: the inputs (T, D, N).

  Returns:
    The final state or the stack of states, differentiable in every array argument.
  """
  stack, final = _forward(mean_centre, clip, last, A, W, C, h, z0, x)
  return final if last else _states(stack, *z0.shape)


def _kernel_loop_fwd(mean_centre, clip, last, A, W, C, h, z0, x):
  stack, final = _forward(mean_centre, clip, last, A, W, C, h, z0, x)
  return (final if last else _states(stack, *z0.shape)), (A, W, C, h, z0, x, stack, final)


def _kernel_loop_bwd(mean_centre, clip, last, res, g):
  A, W, C, h, z0, x, stack, final = res
  H, D = W.shape[0], C.shape[0]
  g_final, g_steps = (g, jnp.zeros((0,), jnp.float32)) if last else (jnp.zeros_like(final), g)
  f32 = lambda *shape: jax.ShapeDtypeStruct(shape, jnp.float32)
  call = jax.ffi.ffi_call(_BACKWARD, (f32(H), f32(H, H), f32(D, H), f32(H), f32(*z0.shape), f32(*x.shape)),
                          vmap_method="sequential")
  return call(A, W, C, h, z0, x, stack, final, g_final, g_steps, **_attrs(clip, mean_centre, last))


kernel_loop.defvjp(_kernel_loop_fwd, _kernel_loop_bwd)
