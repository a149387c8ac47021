"""An existing Flax sequence classifier gets LSC pre-training and a multistability report from rnnstab.

The model is plain Flax (``nn.RNN(nn.GRUCell)`` and a ``Dense`` head) trained with optax; rnnstab sees its
recurrent cell through ``FlaxCell`` and works on the Flax params tree in place. The task is generated here:
classify the sign of the first input of a noisy sequence, which needs memory over all T steps.

    python examples/flax_classifier.py       # T = 20: test accuracy 1.000 after 400 steps
    python examples/flax_classifier.py --seq_len=100 --steps=2000
"""
from __future__ import annotations

import argparse

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from rnnstab.analysis.multistability import measure
from rnnstab.flax import FlaxCell
from rnnstab.objectives.lsc import lsc_pretrain, lsc_targets


class Classifier(nn.Module):
  """A user's model: GRU over the sequence, linear head on the last step."""

  hidden: int = 32
  classes: int = 2

  @nn.compact
  def __call__(self, xs):                                      # (B, T, 1)
    ys = nn.RNN(nn.GRUCell(features=self.hidden, name="gru"))(xs)
    return nn.Dense(self.classes, name="head")(ys[:, -1])


def batch(key, size: int, seq_len: int):
  """Inputs (B, T, 1): a +-1 first step, then Gaussian noise; label 1 when the first step is +1."""
  k_sign, k_noise = jax.random.split(key)
  sign = jax.random.bernoulli(k_sign, 0.5, (size,))
  noise = 0.5 * jax.random.normal(k_noise, (size, seq_len, 1))
  xs = noise.at[:, 0, 0].set(jnp.where(sign, 1.0, -1.0))
  return xs, sign.astype(jnp.int32)


def main():
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--seq_len", type=int, default=20)
  ap.add_argument("--hidden", type=int, default=32)
  ap.add_argument("--steps", type=int, default=400)
  ap.add_argument("--analysis_steps", type=int, default=2000, help="autonomous iterations of the report")
  args = ap.parse_args()
  model, T = Classifier(hidden=args.hidden), args.seq_len
  key = jax.random.key(0)
  variables = model.init(key, jnp.zeros((1, T, 1)))

  # --- rnnstab, in a few lines: the Flax GRU cell and its params, unchanged ---
  cell = FlaxCell(nn.GRUCell(features=args.hidden))
  time_major = lambda k: jnp.swapaxes(batch(k, 32, T)[0], 0, 1)           # rnnstab is time-major
  report = lambda p, k: measure(cell, p, time_major(k), k, steps=args.analysis_steps)
  before = report(variables["params"]["gru"], jax.random.key(1))
  rnn_params, info = lsc_pretrain(cell, variables["params"]["gru"], time_major, jax.random.key(2),
                                  targets=lsc_targets("one", layers=1, seq_len=T, kinds=("time",)))
  params = {**variables["params"], "gru": rnn_params}
  after = report(rnn_params, jax.random.key(1))
  print(f"LSC pre-training: time radius {float(info['radii_before']['time'][0]):.2f} -> "
        f"{float(info['radii_after']['time'][0]):.2f} in {int(info['steps'])} steps")
  for name, r in (("before", before), ("after", after)):
    print(f"multistability {name}: VAA {float(r.vaa):.2f}, stable equilibria {int(r.stable_equilibria)}, "
          f"not converged {float(r.not_converged):.2f}")

  # --- the user's own training loop, untouched ---
  opt = optax.adam(3e-3)
  opt_state = opt.init(params)

  def loss(params, xs, labels):
    logits = model.apply({"params": params}, xs)
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

  @jax.jit
  def train_step(params, opt_state, key):
    xs, labels = batch(key, 32, T)
    value, grads = jax.value_and_grad(loss)(params, xs, labels)
    updates, opt_state = opt.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, value

  for step in range(args.steps):
    params, opt_state, value = train_step(params, opt_state, jax.random.fold_in(key, step))
  xs, labels = batch(jax.random.key(99), 512, T)
  accuracy = jnp.mean(jnp.argmax(model.apply({"params": params}, xs), -1) == labels)
  print(f"trained {args.steps} steps: loss {float(value):.3f}, test accuracy {float(accuracy):.3f}")


if __name__ == "__main__":
  main()
