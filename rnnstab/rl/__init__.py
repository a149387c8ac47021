"""Memory-based reinforcement learning with recurrent agents: environments, DRQN and recurrent PPO.

    >>> from rnnstab.rl import RLConfig, make_agent
    >>> agent = make_agent(RLConfig(env="tmaze", length=5, cell="nbrc", init="warmup"))
    >>> state, info = agent.init(jax.random.key(0))          # pre-training on exploration histories
    >>> state, metrics = agent.chunk(state, 20)               # 20 episodes, then a greedy evaluation

``rnnstab.rl.experiment.run`` trains many seeds and writes a run directory; ``experiments/rl.py`` is its
command line.
"""
from rnnstab.rl.agents import make_agent, train
from rnnstab.rl.config import AGENTS, RLConfig
from rnnstab.rl.drqn import DRQN, td_loss
from rnnstab.rl.envs import ENVS, MemoryChain, make_env
from rnnstab.rl.ppo import PPO, gae, ppo_loss
from rnnstab.rl.rollout import Episodes, Histories, play
from rnnstab.rl.tmaze import TMaze

__all__ = ["AGENTS", "DRQN", "ENVS", "Episodes", "Histories", "MemoryChain", "PPO", "RLConfig", "TMaze", "gae",
           "make_agent", "make_env", "play", "ppo_loss", "td_loss", "train"]
