"""Episodes played by a recurrent agent: what it sees, what it did, and the batch arrays both agents learn from.

At step t the agent's input is x_t = [one-hot a_{t-1}, r_{t-1}, o_t] (zeros for the action and reward at
t = 0), as in the warmup paper's DRQN: with only o_t the T-maze corridor would look the same at every step.
Episodes are fixed-length arrays of ``env.horizon`` steps with a validity mask, so batches of them are
plain arrays that vmap over seeds; after its end an episode's environment is still stepped (its inputs
stay realistic histories for the warmup) but nothing there is scored.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from rnnstab.cells.combinators import prepare
from rnnstab.tasks.base import Batch


class Episodes(NamedTuple):
  """B episodes of horizon H, time-major.

  inputs (H + 1, B, D): agent inputs x_0 .. x_H (x_H follows the last action; DRQN's bootstrap and PPO's
    last value read it); actions, rewards (H, B): a_t and r_t; valid (H, B): 1 where step t happened
    before the episode ended; done (H, B): 1 where step t ended it; aux: what the policy returned per
    step (PPO: log-probabilities and values); final (1, B, O): the network's output at x_H (PPO's
    bootstrap value), () when played without a network.
  """

  inputs: jax.Array
  actions: jax.Array
  rewards: jax.Array
  valid: jax.Array
  done: jax.Array
  aux: Any = ()
  final: Any = ()


def input_size(env) -> int:
  """Size of the agent's input: one-hot previous action, previous reward, observation."""
  return env.num_actions + 1 + env.observation_size


def agent_input(env, action, reward, obs):
  """x = [one-hot(action), reward, obs]; an action of -1 (before the first step) is all zeros."""
  return jnp.concatenate([jax.nn.one_hot(action, env.num_actions, dtype=jnp.float32),
                          reward[..., None].astype(jnp.float32), obs.astype(jnp.float32)], axis=-1)


def play(env, model, params, key, policy: Callable, batch: int, cases=None) -> Episodes:
  """Plays ``batch`` episodes of ``env`` with the recurrent ``model`` choosing actions step by step.

  Args:
    env: an environment (``rnnstab.rl.envs``).
    model: a ``SequenceModel`` whose outputs the policy reads; None plays without a network (the policy
      then gets zeros: random-policy histories).
    params: the model's params (ignored without a model).
    key: PRNG key of the resets, the environment's randomness and the policy.
    policy: ``(key, outputs (B, O)) -> (actions (B,) int32, aux)``.
    batch: number of episodes B.
    cases: optional (B,) evaluation cases: each episode starts from ``env.reset_case`` instead of a random
      reset.

  Returns:
    ``Episodes`` (time-major).
  """
  k_reset, k_run = jax.random.split(key)
  if cases is None:
    env_state, obs = jax.vmap(env.reset)(jax.random.split(k_reset, batch))
  else:
    env_state, obs = jax.vmap(env.reset_case)(cases)
  if model is not None:
    cell_params = prepare(model.cell, params["cell"])  # once per episode batch, outside the time loop
    carry0 = model.cell.initial_state(params["cell"], batch)
  else:
    carry0 = ()

  def act(carry, x):
    if model is None:
      return carry, jnp.zeros((batch, 1), jnp.float32)
    carry, y = model.cell.step(cell_params, carry, x)
    return carry, model.readout(params["readout"], y)

  def body(loop, k):
    env_state, obs, carry, prev_a, prev_r, ended = loop
    k_policy, k_env = jax.random.split(k)
    x = agent_input(env, prev_a, prev_r, obs)
    carry, out = act(carry, x)
    action, aux = policy(k_policy, out)
    env_state, obs, reward, done = jax.vmap(env.step)(jax.random.split(k_env, batch), env_state, action)
    valid = ~ended
    reward = jnp.where(valid, reward, 0.0)
    step = (x, action, reward, valid.astype(jnp.float32), (done & valid).astype(jnp.float32), aux)
    return (env_state, obs, carry, action, reward, ended | done), step

  start = (env_state, obs, carry0, jnp.full((batch,), -1, jnp.int32), jnp.zeros((batch,), jnp.float32),
           jnp.zeros((batch,), bool))
  (_, obs, carry, prev_a, prev_r, _), (xs, actions, rewards, valid, done, aux) = jax.lax.scan(
      body, start, jax.random.split(k_run, env.horizon))
  last = agent_input(env, prev_a, prev_r, obs)
  final = act(carry, last)[1][None] if model is not None else ()
  return Episodes(jnp.concatenate([xs, last[None]], axis=0), actions, rewards, valid, done, aux, final)


def random_policy(env) -> Callable:
  """The environment's exploration policy, ignoring the network's outputs."""
  def policy(key, outputs):
    return jax.vmap(env.explore)(jax.random.split(key, outputs.shape[0])), ()
  return policy


def greedy_policy(num_actions: int) -> Callable:
  """arg max over the first ``num_actions`` outputs (Q-values or policy logits)."""
  def policy(key, outputs):
    del key
    return jnp.argmax(outputs[..., :num_actions], axis=-1).astype(jnp.int32), ()
  return policy


def returns(episodes: Episodes, gamma: float = 1.0) -> jax.Array:
  """Each episode's (discounted) return, shape (B,)."""
  discount = gamma ** jnp.arange(episodes.rewards.shape[0], dtype=jnp.float32)
  return jnp.sum(episodes.rewards * discount[:, None], axis=0)


def lengths(episodes: Episodes) -> jax.Array:
  """Each episode's number of steps, shape (B,) int32."""
  return jnp.sum(episodes.valid, axis=0).astype(jnp.int32)


def evaluate_greedy(env, model, params) -> dict:
  """The greedy policy from every evaluation start of ``env``: mean undiscounted return and whether it is
  optimal on all of them (the warmup paper's criterion for the T-maze: both cues)."""
  episodes = play(env, model, params, jax.random.key(0), greedy_policy(env.num_actions), env.eval_cases,
                  cases=jnp.arange(env.eval_cases))
  r, n = returns(episodes), lengths(episodes)
  return {"greedy_return": jnp.mean(r), "optimal": env.optimal(r, n).astype(jnp.float32)}


class Histories(NamedTuple):
  """A task-like source of agent-input histories for the pre-training phases (``rnnstab.inits``), which
  call ``sample(key, n).inputs``: n episodes of the exploration policy, as the warmup paper warms up on
  the replay buffer filled by that policy."""

  env: Any

  @property
  def input_size(self) -> int:
    return input_size(self.env)

  def episodes(self, key, n: int) -> Episodes:
    """n whole episodes of the exploration policy."""
    return play(self.env, None, None, key, random_policy(self.env), n)

  def sample(self, key, n: int) -> Batch:
    """n exploration histories as a task batch: inputs x_0 .. x_{H-1}, mask = the steps before the end."""
    episodes = self.episodes(key, n)
    return Batch(episodes.inputs[:-1], jnp.zeros(episodes.inputs.shape[:2] + (1,), jnp.float32)[:-1],
                 episodes.valid)
