"""``make_agent(config)``: the environment, the recurrent network and the agent an ``RLConfig`` describes."""
from __future__ import annotations

import jax
import jax.numpy as jnp

from rnnstab.inits import INITS
from rnnstab.model import SequenceModel, build_cell
from rnnstab.rl.drqn import DRQN
from rnnstab.rl.envs import make_env
from rnnstab.rl.ppo import PPO


def make_agent(config):
  """The agent of ``config``: ``agent.init(key)`` then ``agent.chunk(state, n)`` trains one seed, purely.

  Args:
    config: a validated ``RLConfig``.

  Returns:
    A ``DRQN`` (Q-network: one output per action) or a ``PPO`` (actor-critic: logits and a value), whose
    recurrent core is ``config.cell`` built like a supervised run's (depth, double layers, the init's
    static settings); ``--init=warmup`` / ``lsc`` pre-train it on exploration-policy histories.
  """
  env = make_env(config.env, config.length)
  outputs = env.num_actions + (1 if config.agent == "ppo" else 0)
  model = SequenceModel(build_cell(config), outputs, backend="scan")
  agent = {"drqn": DRQN, "ppo": PPO}[config.agent]
  return agent(config, env, model, INITS[config.init].pretrain)


def train(agent, key):
  """The whole training of one seed as one pure function of its key (PureJaxRL style):
  ``jax.jit(jax.vmap(lambda k: train(agent, k)))(keys)`` trains many seeds in one program.

  Returns:
    (final state, metrics of every evaluation chunk stacked on a leading axis).
  """
  state, _ = agent.init(key)
  iterations = [n // agent.episodes_per_iteration for n in agent.config.chunk_episodes()]
  return jax.lax.scan(agent.chunk, state, jnp.asarray(iterations, jnp.int32))
