"""The cost report against hand-derived counts for the tanh RNN and the GRU, and its command line."""
import math
import subprocess
import sys

import jax
import pytest

from rnnstab.cells import CELLS, GRU, TanhRNN, stack
from rnnstab.cost import cell_cost, count_ops


@pytest.mark.parametrize("D,H", [(1, 8), (5, 12)])
def test_tanh_rnn_counts(D, H):
  """h' = tanh(x U + b + h W): H(D + H) MACs and multiplications; the products' H(D - 1) + H(H - 1)
  accumulations plus the bias and the sum of the two products: H(D + H) additions; H tanh."""
  c = cell_cost(TanhRNN(hidden_size=H), D, weight_bits=8, activation_bits=4)
  f = c.forward
  assert c.parameters == D * H + H * H + H
  assert (f.macs, f.multiplications, f.additions, f.nonlinear) == (H * (D + H),) * 3 + (H,)
  bops = D * H * (8 * 4 + 8 + 4 + math.log2(D)) + H * H * (8 * 4 + 8 + 4 + math.log2(H)) + 2 * H * 4
  assert f.bit_operations(8, 4) == round(bops)
  assert c.state_bytes == 4 * H
  # Backward: dL/dh_prev = (g * (1 - y^2)) W^T and the two weight gradients (outer products): 2x the MACs.
  assert c.backward.macs == 2 * H * (D + H)
  assert c.activation_bytes > 0 and not f.bounded


@pytest.mark.parametrize("D,H", [(1, 8), (3, 16)])
def test_gru_counts(D, H):
  """r, z = sigmoid(x U + b + h W); n = tanh(x U_n + b_n + r * (h W_n + b_hn)); h' = (1 - z) n + z h:
  3H(D + H) MACs; multiplications 3H(D + H) + 3H (r *, (1 - z) *, z *); additions 3DH (3 products with
  biases) + 3H(H - 1) (recurrent products) + 6H (r, z: 1 each; n: 2; h': 2); nonlinear 3H."""
  f = cell_cost(GRU(hidden_size=H), D).forward
  assert f.macs == 3 * H * (D + H)
  assert f.multiplications == 3 * H * (D + H) + 3 * H
  assert f.additions == 3 * D * H + 3 * H * (H - 1) + 6 * H
  assert f.nonlinear == 3 * H


def test_stack_adds_its_layers():
  one, two = cell_cost(GRU(hidden_size=8), 8), cell_cost(stack(GRU(hidden_size=8), 2), 8)
  assert two.forward.macs == 2 * one.forward.macs and two.parameters == 2 * one.parameters


def test_loops_are_counted_to_their_bound():
  """NC-GRU's per-sequence Newton-Schulz inverse stops early; its count is the bound's, flagged."""
  c = cell_cost(CELLS["ncgru"](hidden_size=4), 2)
  assert c.prepare.bounded and c.prepare.macs > 0 and not c.forward.bounded
  scanned = jax.make_jaxpr(lambda x: jax.lax.scan(lambda h, _: (h * x, None), x, None, length=7)[0])(1.0)
  assert count_ops(scanned.jaxpr).multiplications == 7


def test_cli_prints_the_table_and_rejects_bad_input():
  proc = subprocess.run([sys.executable, "-m", "rnnstab.cost", "--cell=gru", "--hidden=16"], capture_output=True,
                        text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr
  row = [l for l in proc.stdout.splitlines() if l.startswith("| gru")][0]
  assert row.split("|")[3].strip() == "1.54k"  # 3 * 16 * (16 + 16) MACs
  bad = subprocess.run([sys.executable, "-m", "rnnstab.cost", "--cell=grux"], capture_output=True, text=True, timeout=300)
  assert bad.returncode == 2 and bad.stderr.strip().startswith("cost: error: --cell: unknown cell 'grux'; valid choices: all,")
