"""The configuration of a reinforcement-learning run: one frozen dataclass, validated once, errors naming the flag."""
from __future__ import annotations

import dataclasses

from rnnstab.config import NetworkConfig
from rnnstab.rl.envs import make_env

AGENTS = ("drqn", "ppo")


@dataclasses.dataclass(frozen=True)
class RLConfig(NetworkConfig):
  """Everything that defines an RL run. Field names are the flags of ``experiments/rl.py``; the network, init,
  seed and measurement settings are ``rnnstab.config.NetworkConfig``'s.

  Defaults are the warmup paper's T-maze DRQN (reinforcement.py of its code): two layers of 32, Adam 1e-3,
  epsilon 0.2, 10 updates per episode, target network copied every 20 episodes, a replay buffer of 8192
  transitions filled by the exploration policy first, greedy evaluation every 20 episodes, 2000 episodes;
  batches are whole episodes where the paper's are single transitions.

  Attributes:
    env: environment (``rnnstab.rl.envs.ENVS``), with options as "name:key=value" (e.g.
      "tmaze:stochasticity=0.1").
    length: the environment's size: T-maze corridor length L (horizon 3L - 1), memory-chain length.
    agent: "drqn" (recurrent Q-learning on replayed whole episodes) or "ppo" (recurrent PPO).
    episodes: training episodes per seed.
    eval_every: episodes between greedy evaluations (and log lines); 0: the agent's default, 20 for DRQN (the
      paper's) and the first multiple of ``envs`` from 20 for PPO (which must evaluate between updates).
    lr: Adam learning rate; 0: the agent's default, 1e-3 for DRQN (the paper's), 3e-3 for PPO (better than
      1e-3 on the T-maze, docs/rl.md).
    batch: DRQN: whole episodes per gradient step, drawn from the replay buffer (8 episodes hold at least the
      paper's 32 transitions from L = 3 on).
    buffer: DRQN: replay capacity in transitions (kept as buffer // horizon whole episodes).
    updates: DRQN: gradient steps after each episode.
    target_every: DRQN: episodes between copies of the online network into the target network.
    epsilon: DRQN: probability of an exploration-policy action while training.
    envs: PPO: episodes played in parallel per update.
    epochs: PPO: passes over each update's episodes.
    minibatches: PPO: minibatches per pass (a divisor of ``envs``).
    clip_eps: PPO: clipping of the probability ratio (and of the value change).
    ent_coef: PPO: entropy bonus weight.
    vf_coef: PPO: value-loss weight.
    gae_lambda: PPO: lambda of generalised advantage estimation.
    max_grad_norm: PPO: global gradient-norm clip.
    analysis_every: measure reachable multistability (VAA, stable equilibria) on exploration histories at
      the first evaluation at or after every multiple of this many episodes, at the start and the end;
      0 turns it off.
    report: write report.html at the end (``rnnstab.report``: learning curves, multistability, seed 0's
      Jacobian spectra and attractors on exploration histories, summary, config, cost).
  """

  env: str = "tmaze"
  length: int = 10
  agent: str = "drqn"
  cell: str = "gru"  # the warmup paper's T-maze network: two layers of 32 GRU units
  hidden: int = 32
  episodes: int = 2000
  eval_every: int = 0
  lr: float = 0.0
  batch: int = 8
  buffer: int = 8192
  updates: int = 10
  target_every: int = 20
  epsilon: float = 0.2
  envs: int = 16
  epochs: int = 4
  minibatches: int = 4
  clip_eps: float = 0.2
  ent_coef: float = 0.01
  vf_coef: float = 0.5
  gae_lambda: float = 0.95
  max_grad_norm: float = 0.5
  analysis_every: int = 0
  report: bool = True

  def __post_init__(self):
    if self.agent not in AGENTS:
      raise ValueError(f"--agent: unknown agent {self.agent!r}; valid choices: {', '.join(AGENTS)}")
    for flag in ("length", "episodes", "batch", "buffer", "updates", "target_every", "envs", "epochs",
                 "minibatches"):
      value = getattr(self, flag)
      if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"--{flag}: must be a positive integer, got {value!r}")
    make_env(self.env, self.length)  # the name, its options and --length
    for flag, zero in (("analysis_every", "off"), ("eval_every", "the agent's default")):
      value = getattr(self, flag)
      if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"--{flag}: must be a non-negative integer (0: {zero}), got {value!r}")
    if not (self.lr >= 0 and self.lr < float("inf")):
      raise ValueError(f"--lr: must be a positive finite number (0: the agent's default), got {self.lr!r}")
    if not (self.max_grad_norm > 0 and self.max_grad_norm < float("inf")):
      raise ValueError(f"--max_grad_norm: must be a positive finite number, got {self.max_grad_norm!r}")
    for flag in ("epsilon", "gae_lambda"):
      if not 0 <= getattr(self, flag) <= 1:
        raise ValueError(f"--{flag}: must be in [0, 1], got {getattr(self, flag)!r}")
    for flag in ("clip_eps", "ent_coef", "vf_coef"):
      if not getattr(self, flag) >= 0:
        raise ValueError(f"--{flag}: must be >= 0, got {getattr(self, flag)!r}")
    if self.agent == "ppo":
      for flag in ("eval_every", "episodes"):
        if getattr(self, flag) % self.envs:
          raise ValueError(f"--{flag}: with --agent=ppo it must be a multiple of --envs={self.envs} (episodes "
                           f"per update), got {getattr(self, flag)}")
      if self.envs % self.minibatches:
        raise ValueError(f"--minibatches: must divide --envs={self.envs}, got {self.minibatches}")
    self.check_network()

  @property
  def learning_rate(self) -> float:
    """``lr``, or the agent's default when it is 0."""
    return self.lr or {"drqn": 1e-3, "ppo": 3e-3}[self.agent]

  @property
  def period(self) -> int:
    """Episodes between evaluations: ``eval_every``, or the agent's default when it is 0."""
    if self.eval_every:
      return self.eval_every
    return 20 if self.agent == "drqn" else -(-20 // self.envs) * self.envs

  def chunk_episodes(self) -> list[int]:
    """Episodes of each training chunk (one evaluation after each): ``period`` each, the last one shorter
    when ``episodes`` is not a multiple of it."""
    return [min(self.period, self.episodes - s) for s in range(0, self.episodes, self.period)]

  @property
  def reg(self) -> str:
    """No gradient regulariser in RL runs (``--init=awh`` reads this for its unit fraction)."""
    return "none"

  @property
  def seq_len(self) -> int:
    """The episode horizon: the sequence length the inits see (chrono's T_max, LSC's unbalanced rule)."""
    return make_env(self.env, self.length).horizon
