"""The LAPACK-free orthogonal sampler against jax.random.orthogonal (which calls LAPACK's QR)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnnstab.cells import GRU, Stack
from rnnstab.orthogonal import householder_q, orthogonal, orthogonal_init


@pytest.mark.parametrize("n, m", [(16, 16), (33, 33), (7, 3), (3, 7)])
def test_same_matrix_as_jax_random_orthogonal(n, m):
  key = jax.random.key(n * 100 + m)
  got = np.asarray(orthogonal(key, n, m))
  np.testing.assert_allclose(got, jax.random.orthogonal(key, n, m=m), atol=2e-6)
  small = got.T @ got if n >= m else got @ got.T
  np.testing.assert_allclose(small, np.eye(min(n, m)), atol=2e-6)


def test_householder_q_is_the_unique_qr_and_batches():
  a = np.array(jax.random.normal(jax.random.key(0), (3, 6, 4)))
  a[1, :, 2] = 0.0  # a zero column: reflection skipped, Q still orthonormal
  q = np.asarray(householder_q(jnp.asarray(a)))
  for qi, ai in zip(q, a):
    np.testing.assert_allclose(qi.T @ qi, np.eye(4), atol=2e-6)
    r = qi.T @ ai
    np.testing.assert_allclose(np.tril(r, -1), 0.0, atol=2e-6)   # Q^T A is upper triangular ...
    assert np.all(np.diagonal(r) >= -1e-6)                      # ... with a non-negative diagonal
    np.testing.assert_allclose(qi @ r, ai, atol=2e-6)
  with pytest.raises(ValueError, match="rows >= columns"):
    householder_q(jnp.zeros((2, 3)))


def test_orthogonal_inits_call_no_lapack():
  """So an orthogonal init of a deep stack is one program that spreads over devices and cannot hit the
  concurrent-LAPACK deadlock (BUILD.md)."""
  cell = Stack((GRU(8, recurrent_init="orthogonal"), GRU(8, recurrent_init="orthogonal")))
  text = jax.jit(jax.vmap(lambda k: cell.init(k, 3))).lower(jax.random.split(jax.random.key(0), 4)).as_text()
  assert "lapack" not in text
  init = orthogonal_init(scale=2.0)
  w = np.asarray(init(jax.random.key(1), (8, 8), jnp.float32))
  np.testing.assert_allclose(w.T @ w, 4.0 * np.eye(8), atol=1e-5)
  with pytest.raises(ValueError, match="2-D"):
    init(jax.random.key(1), (2, 2, 2))
