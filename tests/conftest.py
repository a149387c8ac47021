import os
import sys

import jax
import pytest

sys.path.insert(0, os.path.dirname(__file__))


@pytest.fixture(autouse=True)
def strict_dtype_promotion(request):
  """Our own numerics run under strict dtype promotion, which turns silent upcasts into errors.

  Modules that drive third-party code which is not strict-clean (optax's Adam mixes int32 counts with
  floats) set ``STRICT_PROMOTION = False``.
  """
  if getattr(request.module, "STRICT_PROMOTION", True):
    with jax.numpy_dtype_promotion("strict"):
      yield
  else:
    yield
