"""Builds the compiled CPU kernel (kernels/plrnn_cpu.cc -> rnnstab.kernels._plrnn_cpu); the rest of the
package is configured in pyproject.toml.

The kernel is a plain shared library of XLA FFI handlers, loaded with ctypes and registered with JAX
(rnnstab.kernels.plrnn_cpu), not a Python extension module. It compiles against the XLA FFI headers that
ship inside jaxlib, so jaxlib is a build requirement. It is optional: where it cannot be compiled (no C++17
compiler) the install goes on and the PLRNN runs its XLA loop, saying why (``unavailable()``).
"""
import importlib.util
import os

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


def _jaxlib_include() -> str:
  # The headers only: importing jaxlib (and so jax) in the build environment is not needed.
  spec = importlib.util.find_spec("jaxlib")
  if spec is None or not spec.submodule_search_locations:
    raise RuntimeError("building rnnstab's CPU kernel needs jaxlib (a build requirement in pyproject.toml)")
  return os.path.join(list(spec.submodule_search_locations)[0], "include")


class BuildWithJaxlibHeaders(build_ext):
  """build_ext with jaxlib's headers on the include path (as a system path: their warnings are not ours)."""

  def build_extensions(self):
    for ext in self.extensions:
      ext.extra_compile_args += ["-isystem", _jaxlib_include()]
    super().build_extensions()


# -march=native: the kernel is built on the machine that runs it (pip builds it at install time), and
# its 16-float vectors become AVX-512 registers where the CPU has them. RNNSTAB_KERNEL_CFLAGS overrides
# the architecture flags, e.g. for a wheel built for other machines.
ARCH = os.environ.get("RNNSTAB_KERNEL_CFLAGS", "-march=native").split()

setup(
    ext_modules=[Extension("rnnstab.kernels._plrnn_cpu", sources=["kernels/plrnn_cpu.cc"], language="c++",
                           extra_compile_args=["-O3", "-std=c++17", "-Wno-psabi", *ARCH], optional=True)],
    cmdclass={"build_ext": BuildWithJaxlibHeaders},
)
