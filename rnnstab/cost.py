"""What one time step of a cell costs: parameters, arithmetic and memory, forward and backward.

Counted from the cell's own program, so every cell (and a stack, a double layer, an adapted Flax cell) is
covered by the same code: the jaxpr of one step for one sample is walked primitive by primitive, and the
backward pass is the jaxpr of that step's VJP. Per time step and sample:

- multiply-accumulates (MACs) of the matrix products, and the signal-processing counts: real
  multiplications (the products' MACs plus elementwise mul / div / square), real additions (a K-term
  dot product needs K - 1 per output, plus elementwise add / sub / sums), evaluations of nonlinear
  functions (tanh, sigmoid, exp, ...) and comparisons / selections (max, relu, where);
- bit operations for given weight and activation bit widths (Baskin et al.'s BOPs for products: a MAC of
  a K-term dot product costs b_w b_a + b_w + b_a + log2 K; an elementwise multiplication b_a^2 and an
  addition b_a; nonlinear functions are table look-ups and not counted);
- memory: the recurrent state (what inference keeps between steps) and the activations backpropagation
  through time stores per step (the residuals of the step's VJP that grow with the batch).

Work on the parameters alone (NC-GRU's Cayley matrix, ``Cell.prepare``) happens once per sequence and is
reported apart from the per-step counts.

    python -m rnnstab.cost --cell=gru --hidden=128

References:
  Freire et al., "Computational complexity evaluation of neural network applications in signal
  processing", 2023 (real multiplications per step, bit operations); Baskin et al., "UNIQ: Uniform Noise
  Injection for Non-Uniform Quantization of Neural Networks", 2018 (BOPs).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rnnstab.cells.combinators import prepare

MULTIPLICATIONS = {"mul", "div", "integer_pow", "square", "rem"}
ADDITIONS = {"add", "sub", "add_any", "cumsum"}
REDUCTIONS = {"reduce_sum"}
NONLINEAR = {"tanh", "logistic", "exp", "exp2", "log", "log1p", "expm1", "sqrt", "rsqrt", "cbrt", "erf", "erfc",
             "erf_inv", "sin", "cos", "tan", "asin", "acos", "atan", "atan2", "sinh", "cosh", "asinh", "acosh", "atanh",
             "pow", "lgamma", "digamma"}
COMPARISONS = {"max", "min", "gt", "ge", "lt", "le", "eq", "ne", "select_n", "abs", "sign", "clamp", "reduce_max",
               "reduce_min", "argmax", "argmin", "round", "floor", "ceil", "and", "or", "not", "xor", "is_finite"}


@dataclasses.dataclass
class OpCounts:
  """Arithmetic of one program, per sample.

  Attributes:
    macs: multiply-accumulates of matrix products.
    multiplications: real multiplications (products' MACs and elementwise ones).
    additions: real additions (products' accumulations and elementwise ones).
    nonlinear: evaluations of nonlinear functions.
    comparisons: comparisons and selections.
    dot_terms: per matrix product, (MACs, K terms per output): what the bit-operation count needs.
    bounded: whether a loop with an early exit was counted at its largest trip count (an upper bound).
  """

  macs: int = 0
  multiplications: int = 0
  additions: int = 0
  nonlinear: int = 0
  comparisons: int = 0
  dot_terms: list = dataclasses.field(default_factory=list)
  bounded: bool = False

  def add(self, other: "OpCounts", times: int = 1) -> None:
    self.macs += times * other.macs
    self.multiplications += times * other.multiplications
    self.additions += times * other.additions
    self.nonlinear += times * other.nonlinear
    self.comparisons += times * other.comparisons
    self.dot_terms += [(times * m, k) for m, k in other.dot_terms]
    self.bounded |= other.bounded

  def minus(self, other: "OpCounts") -> "OpCounts":
    """These counts without ``other``'s (a program that contains ``other``: the VJP contains the step)."""
    terms = list(self.dot_terms)
    for t in other.dot_terms:
      if t in terms:
        terms.remove(t)
    return OpCounts(self.macs - other.macs, self.multiplications - other.multiplications,
                    self.additions - other.additions, self.nonlinear - other.nonlinear,
                    self.comparisons - other.comparisons, terms, self.bounded)

  def bit_operations(self, weight_bits: int, activation_bits: int) -> int:
    """BOPs: each MAC of a K-term product b_w b_a + b_w + b_a + log2 K; the other multiplications b_a^2,
    the other additions b_a."""
    bw, ba = weight_bits, activation_bits
    bops = sum(m * (bw * ba + bw + ba + math.log2(max(k, 1))) for m, k in self.dot_terms)
    accumulations = sum(m - m // max(k, 1) for m, k in self.dot_terms)  # K - 1 additions per output
    bops += (self.multiplications - self.macs) * ba * ba + (self.additions - accumulations) * ba
    return int(round(bops))

  def as_dict(self, weight_bits: int, activation_bits: int) -> dict:
    return {"macs": self.macs, "multiplications": self.multiplications, "additions": self.additions,
            "nonlinear": self.nonlinear, "comparisons": self.comparisons,
            "bit_operations": self.bit_operations(weight_bits, activation_bits), "upper_bound": self.bounded}


def _size(aval) -> int:
  return int(np.prod(aval.shape, dtype=np.int64)) if hasattr(aval, "shape") else 1


def _sub_jaxprs(eqn):
  """The jaxprs an equation calls, with how many times each runs (a scan's body: its length)."""
  times = eqn.params.get("length", 1) if eqn.primitive.name == "scan" else 1
  for name in ("jaxpr", "call_jaxpr", "fun_jaxpr"):
    sub = eqn.params.get(name)
    if sub is not None:
      yield getattr(sub, "jaxpr", sub), times
      return
  if "branches" in eqn.params:  # cond: the costliest branch
    yield max((b.jaxpr for b in eqn.params["branches"]), key=lambda j: count_ops(j).multiplications), 1


def _while_trips(eqn) -> int:
  """The largest trip count of a while loop whose condition includes ``counter < N`` with the counter
  starting at a constant (a fori_loop, possibly with an early exit, like NC-GRU's Newton-Schulz)."""
  cond, nc, nb = eqn.params["cond_jaxpr"].jaxpr, eqn.params["cond_nconsts"], eqn.params["body_nconsts"]
  literal = lambda v: hasattr(v, "val")  # a constant in the jaxpr
  for e in cond.eqns:
    if e.primitive.name == "lt" and literal(e.invars[1]) and e.invars[0] in cond.invars[nc:]:
      start = eqn.invars[nc + nb + cond.invars[nc:].index(e.invars[0])]  # the counter's initial value
      if literal(start):
        return max(int(e.invars[1].val) - int(start.val), 0)
  raise ValueError("count_ops: a while loop without a constant bound; its trip count is unknown before it runs")


def count_ops(jaxpr) -> OpCounts:
  """Counts the arithmetic of a jaxpr (``jax.make_jaxpr(f)(...).jaxpr``), descending into the jaxprs it
  calls (jit, custom derivatives, remat, scan bodies times their length, the costliest branch of a cond,
  and while loops with a constant bound at that bound: then ``bounded`` is set).

  Raises:
    ValueError: for a while loop without a constant bound.
  """
  counts = OpCounts()
  for eqn in jaxpr.eqns:
    name = eqn.primitive.name
    out = sum(_size(v.aval) for v in eqn.outvars)
    if name == "dot_general":
      (contract, _), _ = eqn.params["dimension_numbers"]
      lhs = eqn.invars[0].aval.shape
      k = int(np.prod([lhs[d] for d in contract], dtype=np.int64)) if contract else 1
      counts.macs += out * k
      counts.multiplications += out * k
      counts.additions += out * (k - 1)
      counts.dot_terms.append((out * k, k))
    elif name in MULTIPLICATIONS:
      counts.multiplications += out
    elif name in ADDITIONS:
      counts.additions += out
    elif name in REDUCTIONS:
      counts.additions += _size(eqn.invars[0].aval) - out
    elif name in NONLINEAR:
      counts.nonlinear += out
    elif name in COMPARISONS:
      counts.comparisons += out
    elif name == "while":
      trips = _while_trips(eqn)
      body = count_ops(eqn.params["body_jaxpr"].jaxpr)
      body.bounded = True
      counts.add(body, trips)
    for sub, times in _sub_jaxprs(eqn):
      counts.add(count_ops(sub), times)
  return counts


def _bytes(tree) -> int:
  return sum(int(np.prod(x.shape, dtype=np.int64)) * jnp.dtype(x.dtype).itemsize for x in jax.tree_util.tree_leaves(tree))


@dataclasses.dataclass
class Cost:
  """The cost of one time step of a cell, per sample (``cell_cost``)."""

  parameters: int
  forward: OpCounts
  backward: OpCounts
  state_bytes: int
  activation_bytes: int
  prepare: OpCounts
  weight_bits: int = 32
  activation_bits: int = 32

  def as_dict(self) -> dict:
    bits = (self.weight_bits, self.activation_bits)
    return {"parameters": self.parameters, "forward": self.forward.as_dict(*bits),
            "backward": self.backward.as_dict(*bits), "state_bytes": self.state_bytes,
            "activation_bytes": self.activation_bytes, "prepare_per_sequence": self.prepare.as_dict(*bits),
            "weight_bits": self.weight_bits, "activation_bits": self.activation_bits}


def cell_cost(cell, input_size: int, *, weight_bits: int = 32, activation_bits: int = 32, key=None) -> Cost:
  """Parameters, arithmetic and memory of one time step of ``cell``, per sample.

  Args:
    cell: any rnnstab cell (a leaf, ``Stack``, ``Double``, an adapted Flax cell).
    input_size: size of the cell's input x_t.
    weight_bits, activation_bits: widths for the bit-operation counts.
    key: PRNG key of the (shape-only) parameters; the counts do not depend on it.

  Returns:
    A ``Cost``: ``forward`` is the step (after ``prepare``), ``backward`` what the step's VJP (gradients to
    the params, the previous state and the input) adds to it, ``state_bytes`` the recurrent state, ``activation_bytes``
    what the VJP keeps per sample and step (the residuals that grow with the batch), ``prepare`` the
    once-per-sequence work on the parameters.

  References:
    Freire et al. 2023; Baskin et al. 2018 (module docstring).
  """
  key = jax.random.key(0) if key is None else key
  # Everything below is traced abstractly (shapes only): nothing is computed or compiled.
  params = jax.eval_shape(lambda k: cell.init(k, input_size), key)

  def step(p, state, x):
    return cell.step(p, state, x)

  def program(batch):
    prepared = jax.eval_shape(lambda p: prepare(cell, p), params)
    state = jax.eval_shape(lambda p: cell.initial_state(p, batch), params)
    return prepared, state, jax.ShapeDtypeStruct((batch, input_size), jnp.float32)

  prepared, state, x = program(1)
  forward = count_ops(jax.make_jaxpr(step)(prepared, state, x).jaxpr)
  out = jax.eval_shape(step, prepared, state, x)
  # The VJP's program runs the step and then its transpose: the backward pass is what it adds.
  total = count_ops(jax.make_jaxpr(lambda p, s, xb, ct: jax.vjp(step, p, s, xb)[1](ct))(prepared, state, x, out).jaxpr)
  backward = total.minus(forward)
  # Residuals that grow with the batch are activations; the others are (functions of) parameters.
  residuals = [_bytes(jax.eval_shape(lambda p, s, xb: jax.vjp(step, p, s, xb)[1], *program(b))) for b in (1, 2)]
  prep = count_ops(jax.make_jaxpr(lambda p: prepare(cell, p))(params).jaxpr) if hasattr(cell, "prepare") else OpCounts()
  return Cost(parameters=sum(int(np.prod(l.shape, dtype=np.int64)) for l in jax.tree_util.tree_leaves(params)),
              forward=forward, backward=backward, state_bytes=_bytes(state),
              activation_bytes=residuals[1] - residuals[0], prepare=prep,
              weight_bits=weight_bits, activation_bits=activation_bits)


def _fmt(n: float) -> str:
  for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
    if abs(n) >= scale:
      return f"{n / scale:.2f}{unit}"
  return f"{n:.0f}"


def format_table(rows: list[tuple[str, Cost]]) -> str:
  """A Markdown table of ``(name, Cost)`` rows."""
  head = ["cell", "params", "fwd MACs", "fwd mults", "fwd adds", "fwd nonlin", "fwd BOPs", "bwd MACs", "bwd mults",
          "bwd adds", "bwd BOPs", "state B", "BPTT B/step"]
  lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  for name, c in rows:
    f, b = c.forward, c.backward
    bits = (c.weight_bits, c.activation_bits)
    lines.append("| " + " | ".join([name, _fmt(c.parameters), _fmt(f.macs), _fmt(f.multiplications),
                                    _fmt(f.additions), _fmt(f.nonlinear), _fmt(f.bit_operations(*bits)),
                                    _fmt(b.macs), _fmt(b.multiplications), _fmt(b.additions),
                                    _fmt(b.bit_operations(*bits)), _fmt(c.state_bytes), _fmt(c.activation_bytes)]) + " |")
  return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
  """``python -m rnnstab.cost --cell=gru --hidden=128``: the cost table of one cell (or ``--cell=all``)."""
  import argparse
  import sys
  from rnnstab.cells import CELLS, stack

  parser = argparse.ArgumentParser(prog="python -m rnnstab.cost", description=__doc__.split("\n")[0])
  parser.add_argument("--cell", default="gru", help=f"cell name or 'all' ({', '.join(CELLS.names())})")
  parser.add_argument("--hidden", type=int, default=128, help="units per layer")
  parser.add_argument("--input", type=int, default=None, help="input size (default: --hidden)")
  parser.add_argument("--layers", type=int, default=1, help="depth of the stack")
  parser.add_argument("--weight_bits", type=int, default=32, help="weight bit width of the bit-operation count")
  parser.add_argument("--activation_bits", type=int, default=32, help="activation bit width of the BOPs")
  args = parser.parse_args(argv)
  names = CELLS.names() if args.cell == "all" else [args.cell]
  for flag in ("hidden", "layers", "weight_bits", "activation_bits"):
    if getattr(args, flag) < 1:
      print(f"cost: error: --{flag}: must be a positive integer, got {getattr(args, flag)}", file=sys.stderr)
      return 2
  if args.input is not None and args.input < 1:
    print(f"cost: error: --input: must be a positive integer, got {args.input}", file=sys.stderr)
    return 2
  if names[0] not in CELLS:
    print(f"cost: error: --cell: unknown cell {args.cell!r}; valid choices: all, {', '.join(CELLS.names())}",
          file=sys.stderr)
    return 2
  D = args.input or args.hidden
  rows = []
  for name in names:
    cell = CELLS[name](hidden_size=args.hidden)
    cell = stack(cell, args.layers) if args.layers > 1 else cell
    rows.append((name, cell_cost(cell, D, weight_bits=args.weight_bits, activation_bits=args.activation_bits)))
  print(f"one time step per sample: input {D}, {args.layers} layer(s) of {args.hidden}, weights {args.weight_bits} "
        f"bits, activations {args.activation_bits} bits; backward = the step's VJP; BPTT B/step = activations "
        f"stored per step for backpropagation through time")
  print(format_table(rows))
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
