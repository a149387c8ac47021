"""Deep recurrent Q-learning on replayed whole episodes, as one pure function of a key per seed.

The warmup paper's DRQN (Lambrechts et al. 2023, after Hausknecht & Stone 2015): a recurrent Q-network
reads the history [a_{t-1}, r_{t-1}, o_t] and outputs Q(h_t, .); episodes are played epsilon-greedily
with the environment's exploration policy, stored in a replay buffer filled by that policy before
training, and learnt from with the one-step target r_t + gamma max_a Q_target(h_{t+1}, a) (no bootstrap
past the episode's end), MSE, Adam. The target network is copied every ``target_every`` episodes.

One difference from the authors' code, for speed on vmapped seeds: a gradient step replays ``batch``
whole episodes and scores every transition in them (one unroll per episode), where theirs replays
``batch`` single transitions, each unrolled from its episode's start. Both fit the same targets on
the same replayed histories.
"""
from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from rnnstab.cells.combinators import has_training_terms
from rnnstab.model import SequenceModel
from rnnstab.rl.rollout import Episodes, Histories, evaluate_greedy, input_size, lengths, play, returns


class DRQNState(NamedTuple):
  """One seed's DRQN state (seeds lead every leaf when batched)."""

  params: Any
  target: Any
  opt_state: Any
  buffer: Episodes      # capacity C episodes on axis 1
  stored: jax.Array     # int32: episodes written so far (the buffer starts full of exploration episodes)
  episode: jax.Array    # int32: training episodes played
  key: jax.Array


def model_outputs(model: SequenceModel, params, inputs, key):
  """The network's outputs over whole histories and its cells' own penalties (GateL0RD's L0 term, with its
  training noise drawn from ``key``; zeros for other cells)."""
  if has_training_terms(model.cell):
    return model.apply_training(params, inputs, key)
  return model.apply(params, inputs), jnp.zeros(inputs.shape[1], jnp.float32)


def epsilon_greedy(env, epsilon: float):
  """Greedy on the Q-values, or with probability ``epsilon`` the environment's exploration policy."""
  def policy(key, q):
    k_coin, k_explore = jax.random.split(key)
    batch = q.shape[0]
    explore = jax.random.bernoulli(k_coin, epsilon, (batch,))
    random = jax.vmap(env.explore)(jax.random.split(k_explore, batch))
    return jnp.where(explore, random, jnp.argmax(q, axis=-1).astype(jnp.int32)), ()
  return policy


def td_loss(model: SequenceModel, params, target, episodes: Episodes, gamma: float, key) -> jax.Array:
  """Mean squared one-step TD error over the valid transitions of ``episodes``.

  Args:
    model: the Q-network (outputs = Q-values).
    params, target: online and target params.
    episodes: a batch of replayed episodes.
    gamma: discount factor.
    key: the cells' training noise (GateL0RD).

  Returns:
    The scalar loss (plus the cells' penalties).

  References:
    Hausknecht & Stone, "Deep Recurrent Q-Learning for Partially Observable MDPs", 2015;
    Lambrechts et al., Neural Networks 2023 (the T-maze DRQN).
  """
  q, penalty = model_outputs(model, params, episodes.inputs[:-1], key)
  q_next = jax.lax.stop_gradient(model.apply(target, episodes.inputs)[1:])
  bootstrap = jnp.max(q_next, axis=-1) * (1.0 - episodes.done)
  y = episodes.rewards + gamma * bootstrap
  q_taken = jnp.take_along_axis(q, episodes.actions[..., None], axis=-1)[..., 0]
  valid = episodes.valid
  return jnp.sum(valid * jnp.square(q_taken - y)) / jnp.maximum(jnp.sum(valid), 1.0) + jnp.mean(penalty)


@dataclasses.dataclass(frozen=True, eq=False)
class DRQN:
  """The DRQN of one seed as pure functions. Build it with ``rnnstab.rl.agents.make_agent``.

  Attributes:
    config: the ``RLConfig``.
    env: the environment.
    model: the Q-network (a cell and a linear readout to one Q-value per action).
    pretrain: the init's pre-training phase (``rnnstab.inits``), or None.
  """

  config: Any
  env: Any
  model: SequenceModel
  pretrain: Any = None

  episodes_per_iteration = 1

  @property
  def capacity(self) -> int:
    """Replay capacity in whole episodes: ``buffer`` transitions' worth, at least one batch."""
    return max(self.config.buffer // self.env.horizon, self.config.batch)

  @property
  def optimizer(self):
    return optax.adam(self.config.learning_rate)

  def initial_params(self, key):
    return self.model.init(key, input_size(self.env))

  def seed_params(self, key):
    """The params a seed's ``init`` starts from (before its pre-training phase)."""
    return self.initial_params(jax.random.split(key, 4)[0])  # the first of init's keys

  def init(self, key) -> tuple[DRQNState, dict]:
    """The seed's state before training: params (after the init's pre-training on exploration histories),
    target = params, a replay buffer full of exploration-policy episodes."""
    _, k_pre, k_fill, k_run = jax.random.split(key, 4)
    params, info = self.seed_params(key), {}
    if self.pretrain is not None:
      params, info = self.pretrain(self.model, params, Histories(self.env), k_pre, self.config)
    buffer = Histories(self.env).episodes(k_fill, self.capacity)
    return DRQNState(params, params, self.optimizer.init(params), buffer, jnp.int32(0), jnp.int32(0), k_run), info

  def _grad(self, params, target, batch, key):
    return jax.value_and_grad(lambda p: td_loss(self.model, p, target, batch, self.env.gamma, key))(params)

  def episode(self, state: DRQNState, _=None) -> tuple[DRQNState, dict]:
    """One training episode: the target copied when due, an epsilon-greedy episode stored, ``updates``
    gradient steps on replayed episodes."""
    c = self.config
    key = jax.random.fold_in(state.key, state.episode)
    k_play, k_updates = jax.random.split(key)
    target = jax.tree_util.tree_map(lambda p, t: jnp.where(state.episode % c.target_every == 0, p, t),
                                    state.params, state.target)
    played = play(self.env, self.model, state.params, k_play, epsilon_greedy(self.env, c.epsilon), 1)
    played = played._replace(final=())  # the buffer keeps what the TD targets need
    slot = state.stored % self.capacity
    buffer = jax.tree_util.tree_map(lambda b, e: jax.lax.dynamic_update_slice_in_dim(b, e.astype(b.dtype), slot, 1),
                                    state.buffer, played)

    def update(carry, k):
      params, opt_state = carry
      k_idx, k_noise = jax.random.split(k)
      idx = jax.random.randint(k_idx, (c.batch,), 0, self.capacity)
      batch = jax.tree_util.tree_map(lambda a: a[:, idx], buffer)
      loss, grads = self._grad(params, target, batch, k_noise)
      updates, opt_state = self.optimizer.update(grads, opt_state, params)
      return (optax.apply_updates(params, updates), opt_state), loss

    (params, opt_state), losses = jax.lax.scan(update, (state.params, state.opt_state),
                                               jax.random.split(k_updates, c.updates))
    state = DRQNState(params, target, opt_state, buffer, state.stored + 1, state.episode + 1, state.key)
    return state, {"train_return": returns(played)[0], "train_length": lengths(played)[0].astype(jnp.float32),
                   "td_loss": jnp.mean(losses)}

  def evaluate(self, state: DRQNState) -> dict:
    """The greedy policy's mean return over the evaluation starts and whether it is optimal on all."""
    return evaluate_greedy(self.env, self.model, state.params)

  def chunk(self, state: DRQNState, n) -> tuple[DRQNState, dict]:
    """``n`` training episodes (n may be traced) then a greedy evaluation: one log line's worth."""
    def body(_, carry):
      state, totals = carry
      state, m = self.episode(state)
      return state, jax.tree_util.tree_map(jnp.add, totals, m)

    zeros = {"train_return": jnp.float32(0), "train_length": jnp.float32(0), "td_loss": jnp.float32(0)}
    state, totals = jax.lax.fori_loop(0, n, body, (state, zeros))
    means = {k: v / jnp.maximum(n, 1).astype(jnp.float32) for k, v in totals.items()}
    return state, {**means, **{f"eval_{k}": v for k, v in self.evaluate(state).items()}}
