"""Training as pure functions of per-seed PRNG keys.

``make_train(config)`` returns a ``Trainer``: calling it on one key runs the whole training and is pure,
so ``jax.jit(jax.vmap(make_train(config)))(keys)`` trains many seeds at once. Its parts (``init``,
``chunk``, ``evaluate``) are what ``rnnstab.experiment`` compiles once and calls between host-side logs.
Each seed carries its own divergence status: a seed whose loss, gradient or parameters become non-finite
stops updating from that step on and records the step and reason; seeds never interact.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from rnnstab.analysis import measure
from rnnstab.cells.combinators import has_training_terms
from rnnstab.config import Config
from rnnstab.inits import INITS
from rnnstab.model import SequenceModel, build_cell
from rnnstab.optimizers import make_optimizer
from rnnstab.readout import fit_readout
from rnnstab.tasks import make_task

REASONS = ("ok", "non-finite loss", "non-finite gradient", "non-finite parameters")


class TrainState(NamedTuple):
  """One seed's training state (the seed axis leads every leaf when seeds are batched)."""

  params: Any
  opt_state: Any
  step: jax.Array          # int32: training steps done
  data_key: jax.Array      # batches: fold_in(data_key, step)
  eval_key: jax.Array      # evaluations: fold_in(eval_key, step)
  diverged_at: jax.Array   # int32: step of the first non-finite update, -1 while healthy
  reason: jax.Array        # int32 index into REASONS
  analysis_key: jax.Array  # multistability measurements: the same sequences and constant input every time


def _all_finite(tree) -> jax.Array:
  leaves = jax.tree_util.tree_leaves(tree)
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


@dataclasses.dataclass(frozen=True, eq=False)
class Trainer:
  """The pure pieces of a training run for one seed. Build it with ``make_train``."""

  config: Config
  model: SequenceModel
  task: Any
  optimizer: optax.GradientTransformation
  pretrain: Callable | None = None

  def initial_params(self, key):
    """One seed's params before any pre-training phase (what ``init`` starts from)."""
    return self.model.init(jax.random.split(key, 4)[0], self.task.input_size)

  def init(self, key) -> tuple[TrainState, dict]:
    """Initial state for one seed (including the init's pre-training phase, if any) and its info."""
    return self.init_from(key, self.initial_params(key))

  def init_from(self, key, params) -> tuple[TrainState, dict]:
    """``init`` from given params before pre-training (``initial_params(key)`` in ``init``)."""
    _, k_data, k_eval, k_pre = jax.random.split(key, 4)
    info = {}
    if self.pretrain is not None:
      params, info = self.pretrain(self.model, params, self.task, k_pre, self.config)
    if self.ridge_readout:
      c = self.config
      params = fit_readout(self.model, params, lambda k: self.task.sample(k, c.batch), jax.random.fold_in(k_pre, 1),
                           batches=c.ridge_batches, ridge=c.ridge)
    state = TrainState(params, self.optimizer.init(params), jnp.int32(0), k_data, k_eval,
                       jnp.int32(-1), jnp.int32(0), analysis_key(key))
    return state, info

  @property
  def readout_only(self) -> bool:
    """Reservoir mode (``--train=readout``): the recurrent part is never updated."""
    return self.config.train == "readout"

  @property
  def ridge_readout(self) -> bool:
    """The readout is fitted once, in closed form, when the seed is initialised."""
    return self.readout_only and self.config.readout_fit == "ridge"

  def analyse(self, params, key) -> dict:
    """Reachable multistability of the model's recurrent part: VAA, the number of distinct stable
    equilibria and the fractions of samples at unstable points or not converged (``rnnstab.analysis``)."""
    c = self.config
    inputs = self.task.sample(key, c.analysis_samples).inputs
    m = measure(self.model.cell, params["cell"], inputs, jax.random.fold_in(key, 1), steps=c.analysis_steps)
    return {"vaa": m.vaa, "stable_equilibria": m.stable_equilibria, "unstable": m.unstable,
            "not_converged": m.not_converged}

  def loss(self, params, batch, key=None) -> jax.Array:
    """Mean task loss over the batch; for cells with training noise or penalties of their own (GateL0RD),
    the noise drawn from ``key`` and the mean penalty added. In reservoir mode the gradient stops at the
    recurrent part (no backpropagation through time)."""
    if self.readout_only:
      params = {**params, "cell": jax.lax.stop_gradient(params["cell"])}
    last = self.task.scored == "last"
    targets, mask = (batch.targets[-1:], batch.mask[-1:]) if last else (batch.targets, batch.mask)
    if key is None or not has_training_terms(self.model.cell):
      preds = self.model.apply(params, batch.inputs, last_only=last)
      return jnp.mean(self.task.loss(preds, targets, mask))
    preds, penalty = self.model.apply_training(params, batch.inputs, key, last_only=last)
    return jnp.mean(self.task.loss(preds, targets, mask)) + jnp.mean(penalty)

  def train_step(self, state: TrainState) -> tuple[TrainState, jax.Array]:
    key = jax.random.fold_in(state.data_key, state.step)
    batch = self.task.sample(key, self.config.batch)
    loss, grads = jax.value_and_grad(self.loss)(state.params, batch, jax.random.fold_in(key, 1))
    updates, opt_state = self.optimizer.update(grads, state.opt_state, state.params)
    if self.readout_only:  # gradient transforms of the params alone (e.g. --reg) must not move the reservoir
      updates = {**updates, "cell": jax.tree_util.tree_map(jnp.zeros_like, updates["cell"])}
    params = optax.apply_updates(state.params, updates)
    reason = jnp.where(~jnp.isfinite(loss), 1, jnp.where(~_all_finite(grads), 2,
                                                         jnp.where(~_all_finite(params), 3, 0)))
    healthy = state.diverged_at < 0
    apply = healthy & (reason == 0) & (not self.ridge_readout)  # a ridge readout is final
    keep = lambda new, old: jax.tree_util.tree_map(lambda a, b: jnp.where(apply, a, b), new, old)
    newly = healthy & (reason > 0)
    state = TrainState(keep(params, state.params), keep(opt_state, state.opt_state), state.step + 1,
                       state.data_key, state.eval_key,
                       jnp.where(newly, state.step, state.diverged_at), jnp.where(newly, reason, state.reason),
                       state.analysis_key)
    return state, jnp.where(apply, loss, jnp.nan)

  def run(self, state: TrainState, n) -> tuple[TrainState, jax.Array]:
    """``n`` training steps (``n`` may be traced: one compiled program serves every chunk length);
    returns the new state and the mean training loss over the healthy steps."""

    def body(_, carry):
      state, total, count = carry
      state, loss = self.train_step(state)
      ok = jnp.isfinite(loss)
      return state, total + jnp.where(ok, loss, 0.0), count + ok.astype(jnp.int32)

    state, total, count = jax.lax.fori_loop(0, n, body, (state, jnp.float32(0), jnp.int32(0)))
    return state, jnp.where(count > 0, total / jnp.maximum(count, 1), jnp.nan)

  def evaluate(self, state: TrainState) -> dict:
    """Task metrics averaged over ``config.eval_batch`` fresh sequences (``task.sample_eval``: they may be
    longer than the training ones, as in dyck1's length generalisation)."""
    batch = self.task.sample_eval(jax.random.fold_in(state.eval_key, state.step), self.config.eval_batch)
    preds = self.model.apply(state.params, batch.inputs)
    return {k: jnp.mean(v) for k, v in self.task.metrics(preds, batch.targets, batch.mask).items()}

  def chunk(self, state: TrainState, n) -> tuple[TrainState, dict]:
    """``n`` steps then an evaluation: one host-side log line's worth of work."""
    state, train_loss = self.run(state, n)
    return state, {"train_loss": train_loss, **{f"eval_{k}": v for k, v in self.evaluate(state).items()}}

  def chunk_lengths(self) -> list[int]:
    c = self.config
    return [min(c.log_every, c.steps - s) for s in range(0, c.steps, c.log_every)]

  def __call__(self, key) -> tuple[TrainState, dict]:
    """The whole training of one seed as one pure function: (final state, metrics per chunk)."""
    state, _ = self.init(key)
    lengths = jnp.asarray(self.chunk_lengths(), jnp.int32)
    return jax.lax.scan(self.chunk, state, lengths)


def analysis_key(seed_key):
  """The key of a seed's multistability measurements (apart from its data, evaluation and init keys)."""
  return jax.random.fold_in(seed_key, 0x5EED)


def make_train(config: Config, leaf=None) -> Trainer:
  """The trainer for ``config``: ``make_train(config)(key)`` trains one seed, purely.

  Args:
    config: a validated ``Config``.
    leaf: optional cell object used in place of the registered ``config.cell`` (``build_cell``).

  Returns:
    A ``Trainer``; ``jax.jit(jax.vmap(trainer))(jax.random.split(key, S))`` trains S seeds at once.
  """
  task = make_task(config.task, config.seq_len)
  model = SequenceModel(build_cell(config, leaf), task.output_size, config.backend, config.unroll,
                        config.recompute)
  return Trainer(config, model, task, make_optimizer(config.optimizer, config.lr, config.clip, config.reg,
                                                      config.lr_half_life),
                 INITS[config.init].pretrain)


def over_seeds(fn: Callable, mode: str | int, num_seeds: int) -> Callable:
  """``fn`` (one seed's state first, other arguments shared) mapped over a leading seed axis.

  Args:
    fn: a function of one seed's pytree and shared arguments.
    mode: "vmap" (all seeds in one batched program), "map" (seeds one after another inside one program:
      each seed's working set stays in cache, which on CPU is faster than vmap), or an integer group size
      g (vmap over groups of g seeds, mapped over the groups).
    num_seeds: number of seeds (a group size must divide it).

  Returns:
    f(seeded_tree, *shared) -> outputs with a leading seed axis; the numbers are the same in every mode.
  """
  if mode == "vmap" or mode == num_seeds:
    return lambda tree, *shared: jax.vmap(lambda t: fn(t, *shared))(tree)
  group = 1 if mode == "map" else int(mode)
  if num_seeds % group:
    raise ValueError(f"--seed_parallel: group size {group} must divide --seeds={num_seeds}")
  if group == 1:
    return lambda tree, *shared: jax.lax.map(lambda t: fn(t, *shared), tree)
  return lambda tree, *shared: jax.lax.map(lambda t: fn(t, *shared), tree, batch_size=group)
