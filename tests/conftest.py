import os
import sys

# Compiled programs persist across tests, test processes (run.py subprocesses inherit the variables) and
# test runs: many tests compile the same tiny programs, and XLA:CPU compile time dominates this suite.
# A run reuses about 10% of its compiles; a second run on the same machine takes a third of the time.
# The cache keys include the jax version and flags, so an upgrade never reuses a stale program.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(os.path.expanduser("~"), ".cache", "rnnstab-tests", "jax"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.3")
# The suite's programs are tiny and run for milliseconds, so LLVM's optimisation passes cost more than
# they save: without them a cold suite compiles about a quarter faster (tests compare paths and NumPy
# references with tolerances, never with numbers recorded under other flags).
if "--xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0").strip()
# Runs write no report.html here (subprocesses inherit it): a page costs seconds of compiling per run, and
# tests/test_report.py checks the page itself with the variable unset.
os.environ["RNNSTAB_SKIP_REPORT"] = "1"

import jax  # noqa: E402  (after the cache settings, which jax reads when it is imported)
import pytest  # noqa: E402

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
