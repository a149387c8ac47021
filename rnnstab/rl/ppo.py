"""Recurrent PPO in the PureJaxRL style: the whole training of a seed is one pure function of its key.

Each update plays ``envs`` whole episodes with the stochastic policy, computes generalised advantages
(GAE) from the value head, and takes ``epochs`` passes of ``minibatches`` minibatches of whole episodes
(the recurrent state is recomputed from each episode's start, so no hidden state goes stale) on the
clipped surrogate, the clipped value loss and an entropy bonus, with a global gradient-norm clip.
The network is one recurrent core with a linear readout to [policy logits, value].
"""
from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from rnnstab.model import SequenceModel
from rnnstab.rl.drqn import model_outputs
from rnnstab.rl.rollout import Episodes, Histories, evaluate_greedy, input_size, lengths, play, returns


class PPOState(NamedTuple):
  """One seed's PPO state (seeds lead every leaf when batched)."""

  params: Any
  opt_state: Any
  episode: jax.Array   # int32: training episodes played
  key: jax.Array


def sample_policy(num_actions: int):
  """Samples from softmax(logits); aux: (log-probability of the action, value estimate)."""
  def policy(key, outputs):
    logits, value = outputs[..., :num_actions], outputs[..., num_actions]
    action = jax.random.categorical(key, logits).astype(jnp.int32)
    logp = jnp.take_along_axis(jax.nn.log_softmax(logits), action[:, None], axis=-1)[:, 0]
    return action, (logp, value)
  return policy


def gae(rewards, values, last_value, done, valid, gamma: float, lam: float):
  """Generalised advantage estimates and returns, (H, B) each.

  delta_t = r_t + gamma V_{t+1} (1 - done_t) - V_t, A_t = delta_t + gamma lam (1 - done_t) A_{t+1}; V_H is
  the value of the state after the last step (an episode cut by the horizon bootstraps from it); steps
  after an episode's end are zeroed.

  References:
    Schulman et al., "High-Dimensional Continuous Control Using Generalized Advantage Estimation", 2016.
  """
  next_values = jnp.concatenate([values[1:], last_value[None]], axis=0)

  def back(advantage, t):
    r, v, nv, d, ok = t
    delta = r + gamma * nv * (1.0 - d) - v
    advantage = (delta + gamma * lam * (1.0 - d) * advantage) * ok
    return advantage, advantage

  _, advantages = jax.lax.scan(back, jnp.zeros_like(last_value), (rewards, values, next_values, done, valid),
                               reverse=True)
  return advantages, advantages + values


def ppo_loss(model: SequenceModel, params, episodes: Episodes, advantages, targets, config, num_actions: int, key):
  """The clipped PPO objective on a minibatch of whole episodes (masked to their valid steps).

  Returns:
    (loss, {"policy_loss", "value_loss", "entropy"}).

  References:
    Schulman et al., "Proximal Policy Optimization Algorithms", 2017; Lu et al., PureJaxRL, 2022.
  """
  out, penalty = model_outputs(model, params, episodes.inputs[:-1], key)
  logits, values = out[..., :num_actions], out[..., num_actions]
  old_logp, old_values = episodes.aux
  logp_all = jax.nn.log_softmax(logits)
  logp = jnp.take_along_axis(logp_all, episodes.actions[..., None], axis=-1)[..., 0]
  valid = episodes.valid
  mean = lambda x: jnp.sum(x * valid) / jnp.maximum(jnp.sum(valid), 1.0)
  adv_mean = mean(advantages)
  adv_std = jnp.sqrt(mean(jnp.square(advantages - adv_mean)))
  adv = (advantages - adv_mean) / (adv_std + 1e-8)
  ratio = jnp.exp(logp - old_logp)
  clipped = jnp.clip(ratio, 1.0 - config.clip_eps, 1.0 + config.clip_eps)
  policy_loss = -mean(jnp.minimum(ratio * adv, clipped * adv))
  values_clipped = old_values + jnp.clip(values - old_values, -config.clip_eps, config.clip_eps)
  value_loss = 0.5 * mean(jnp.maximum(jnp.square(values - targets), jnp.square(values_clipped - targets)))
  entropy = mean(-jnp.sum(jnp.exp(logp_all) * logp_all, axis=-1))
  loss = policy_loss + config.vf_coef * value_loss - config.ent_coef * entropy + jnp.mean(penalty)
  return loss, {"policy_loss": policy_loss, "value_loss": value_loss, "entropy": entropy}


@dataclasses.dataclass(frozen=True, eq=False)
class PPO:
  """Recurrent PPO of one seed as pure functions. Build it with ``rnnstab.rl.agents.make_agent``.

  Attributes:
    config: the ``RLConfig``.
    env: the environment.
    model: the actor-critic (a cell and a linear readout to num_actions logits and one value).
    pretrain: the init's pre-training phase (``rnnstab.inits``), or None.
  """

  config: Any
  env: Any
  model: SequenceModel
  pretrain: Any = None

  @property
  def episodes_per_iteration(self) -> int:
    return self.config.envs

  @property
  def optimizer(self):
    return optax.chain(optax.clip_by_global_norm(self.config.max_grad_norm), optax.adam(self.config.learning_rate, eps=1e-5))

  def initial_params(self, key):
    return self.model.init(key, input_size(self.env))

  def seed_params(self, key):
    """The params a seed's ``init`` starts from (before its pre-training phase)."""
    return self.initial_params(jax.random.split(key, 3)[0])  # the first of init's keys

  def init(self, key) -> tuple[PPOState, dict]:
    _, k_pre, k_run = jax.random.split(key, 3)
    params, info = self.seed_params(key), {}
    if self.pretrain is not None:
      params, info = self.pretrain(self.model, params, Histories(self.env), k_pre, self.config)
    return PPOState(params, self.optimizer.init(params), jnp.int32(0), k_run), info

  def update(self, state: PPOState) -> tuple[PPOState, dict]:
    """One PPO update: ``envs`` episodes played, advantages, ``epochs`` x ``minibatches`` gradient steps."""
    c, A = self.config, self.env.num_actions
    key = jax.random.fold_in(state.key, state.episode)
    k_play, k_epochs = jax.random.split(key)
    episodes = play(self.env, self.model, state.params, k_play, sample_policy(A), c.envs)
    _, values = episodes.aux
    last = episodes.final[0, :, A]
    advantages, targets = gae(episodes.rewards, values, last, episodes.done, episodes.valid, self.env.gamma,
                              c.gae_lambda)
    size = c.envs // c.minibatches

    def epoch(carry, k):
      k_perm, k_noise = jax.random.split(k)
      order = jax.random.permutation(k_perm, c.envs).reshape(c.minibatches, size)

      def minibatch(carry, idx_k):
        params, opt_state = carry
        idx, kk = idx_k
        pick = lambda a: a[:, idx]
        batch = jax.tree_util.tree_map(pick, episodes)
        (loss, parts), grads = jax.value_and_grad(ppo_loss, argnums=1, has_aux=True)(
            self.model, params, batch, pick(advantages), pick(targets), c, A, kk)
        updates, opt_state = self.optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), {"loss": loss, **parts}

      return jax.lax.scan(minibatch, carry, (order, jax.random.split(k_noise, c.minibatches)))

    (params, opt_state), parts = jax.lax.scan(epoch, (state.params, state.opt_state),
                                              jax.random.split(k_epochs, c.epochs))
    metrics = {"train_return": jnp.mean(returns(episodes)), "train_length": jnp.mean(lengths(episodes)).astype(jnp.float32),
               **{k: jnp.mean(v) for k, v in parts.items()}}
    return PPOState(params, opt_state, state.episode + c.envs, state.key), metrics

  def evaluate(self, state: PPOState) -> dict:
    """The greedy (arg max logits) policy's mean return over the evaluation starts and its optimality."""
    return evaluate_greedy(self.env, self.model, state.params)

  def chunk(self, state: PPOState, n) -> tuple[PPOState, dict]:
    """``n`` updates (n may be traced) then a greedy evaluation."""
    names = ("train_return", "train_length", "loss", "policy_loss", "value_loss", "entropy")

    def body(_, carry):
      state, totals = carry
      state, m = self.update(state)
      return state, {k: totals[k] + m[k] for k in names}

    state, totals = jax.lax.fori_loop(0, n, body, (state, {k: jnp.float32(0) for k in names}))
    means = {k: v / jnp.maximum(n, 1).astype(jnp.float32) for k, v in totals.items()}
    return state, {**means, **{f"eval_{k}": v for k, v in self.evaluate(state).items()}}
