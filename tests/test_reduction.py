"""POD and POD-DEIM reductions of an ESN: exact at full rank, DEIM interpolation exact on its basis, the
study script's smoke run."""
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnnstab.cells import ESN
from rnnstab.reduction import deim_indices, pod_reduce
from rnnstab.unroll import unroll

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "reservoir.py"


@pytest.fixture(scope="module")
def reservoir():
  cell = ESN(hidden_size=12, leak=0.7)
  params = cell.init(jax.random.key(0), 2)
  inputs = jax.random.uniform(jax.random.key(1), (60, 3, 2), minval=-1, maxval=1)
  return cell, params, inputs


def test_full_rank_pod_and_deim_reproduce_the_reservoir(reservoir):
  cell, params, inputs = reservoir
  _, hs = unroll(cell, params, inputs)
  for deim in (None, 12):
    reduced, rp, info = pod_reduce(cell, params, inputs, 12, deim)
    _, zs = unroll(reduced, rp, inputs)
    # z = h V with V orthogonal at full rank: the same norms every step.
    np.testing.assert_allclose(jnp.linalg.norm(zs, axis=-1), jnp.linalg.norm(hs, axis=-1), rtol=2e-4, atol=2e-5)
    assert info["energy"] == pytest.approx(1.0)


def test_reduced_states_span_the_full_ones_at_full_rank(reservoir):
  cell, params, inputs = reservoir
  _, hs = unroll(cell, params, inputs)
  reduced, rp, _ = pod_reduce(cell, params, inputs, 12, 12)
  _, zs = unroll(reduced, rp, inputs)
  Z, H = np.asarray(zs).reshape(-1, 12), np.asarray(hs).reshape(-1, 12)
  W, *_ = np.linalg.lstsq(Z, H, rcond=None)  # h is a linear function of z
  np.testing.assert_allclose(Z @ W, H, atol=5e-4)


def test_deim_interpolates_its_basis_exactly():
  rng = np.random.default_rng(0)
  basis = np.linalg.qr(rng.normal(size=(30, 5)))[0]
  idx = deim_indices(basis)
  assert len(set(idx.tolist())) == 5
  f = basis @ rng.normal(size=5)                        # a vector in the span
  approx = basis @ np.linalg.solve(basis[idx], f[idx])  # from its 5 sampled entries
  np.testing.assert_allclose(approx, f, atol=1e-10)


def test_bad_sizes_name_the_range(reservoir):
  cell, params, inputs = reservoir
  with pytest.raises(ValueError, match="rank must be in 1..12"):
    pod_reduce(cell, params, inputs, 13)
  with pytest.raises(ValueError, match="deim points must be in 4..12"):
    pod_reduce(cell, params, inputs, 4, 2)


def test_study_smoke():
  proc = subprocess.run([sys.executable, str(SCRIPT), "--sizes=16", "--ranks=4", "--deim=2", "--seeds=1",
                         "--timing_steps=200"], capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr
  models = [l.split("|")[2].strip() for l in proc.stdout.splitlines() if l.startswith("| 16 |")]
  assert models[-3:] == ["full", "POD r=4", "POD-DEIM r=4, m=8"]
