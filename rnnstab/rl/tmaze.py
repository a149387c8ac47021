"""The T-maze of the warmup paper: a cue at the start of a corridor says which arm of the T holds the goal.

Written from the paper's appendix (Lambrechts et al. 2023): cells x = 0 .. L along the corridor, the
junction at x = L, the goals at (L, +1) (up) and (L, -1) (down). The agent sees the cue (one-hot "up" or
"down") only in the first cell, "corridor" in cells 1 .. L-1 and "junction" at the junction and in the
goal arms. Actions: right, up, left, down. Rewards: +4 for entering the cued goal; -0.1 for bumping into
a wall (left in the first cell, right at the junction, up/down in the corridor) or entering the other
goal; 0 otherwise. Either goal ends the episode; the horizon is 3L - 1 steps and gamma 0.98. The optimal
policy walks right L times and turns to the cued arm: return 4 in L + 1 steps.
"""
from __future__ import annotations

import dataclasses
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp

RIGHT, UP, LEFT, DOWN = range(4)
OBS_UP, OBS_DOWN, OBS_CORRIDOR, OBS_JUNCTION = range(4)


class TMazeState(NamedTuple):
  x: jax.Array      # int32, 0 .. L along the corridor
  y: jax.Array      # int32, 0 in the corridor, +1 / -1 in the up / down goal (terminal)
  goal: jax.Array   # int32, +1: the goal is up, -1: down


@dataclasses.dataclass(frozen=True)
class TMaze:
  """The warmup paper's T-maze (pure functions of explicit states; vmap over episodes and seeds).

  Attributes:
    length: corridor length L >= 2 (the junction is L moves from the start).
    stochasticity: probability that an action taken in the corridor is replaced by a uniformly random one
      (the paper's lambda; 0 in its experiments).

  References:
    Lambrechts, De Geeter, Vecoven, Ernst, Drion, "Warming up recurrent neural networks to maximise
    reachable multistability greatly improves learning", Neural Networks 2023 (appendix: the T-maze).
  """

  length: int = 10
  stochasticity: float = 0.0

  num_actions: ClassVar[int] = 4
  observation_size: ClassVar[int] = 4
  gamma: ClassVar[float] = 0.98
  # The cue at reset: the two starting states the greedy policy is evaluated from.
  eval_cases: ClassVar[int] = 2
  # The paper's exploration policy, biased to the right so random walks reach the junction.
  exploration: ClassVar[tuple] = (1 / 2, 1 / 6, 1 / 6, 1 / 6)

  def __post_init__(self):
    if not isinstance(self.length, int) or isinstance(self.length, bool) or self.length < 2:
      raise ValueError(f"--length: the T-maze corridor needs length >= 2, got {self.length!r}")
    if not 0.0 <= self.stochasticity <= 1.0:
      raise ValueError(f"--env: tmaze option stochasticity must be in [0, 1], got {self.stochasticity!r}")

  @property
  def horizon(self) -> int:
    """Steps per episode at most: 3L - 1, as in the paper."""
    return 3 * self.length - 1

  @property
  def optimal_return(self) -> float:
    """The undiscounted return of the optimal policy from either cue."""
    return 4.0

  def reset(self, key) -> tuple[TMazeState, jax.Array]:
    """A new episode with the goal up or down with probability 1/2: (state, first observation)."""
    goal = jnp.where(jax.random.bernoulli(key), 1, -1).astype(jnp.int32)
    return self._start(goal)

  def reset_case(self, case) -> tuple[TMazeState, jax.Array]:
    """The episode of evaluation case ``case``: 0 the goal up, 1 down."""
    return self._start(jnp.where(case == 0, 1, -1).astype(jnp.int32))

  def _start(self, goal):
    state = TMazeState(jnp.int32(0), jnp.int32(0), goal)
    return state, self.observe(state)

  def observe(self, state: TMazeState) -> jax.Array:
    """One-hot observation (up cue, down cue, corridor, junction) of ``state``."""
    index = jnp.where(state.x == 0, jnp.where(state.goal > 0, OBS_UP, OBS_DOWN),
                      jnp.where(state.x < self.length, OBS_CORRIDOR, OBS_JUNCTION))
    return jax.nn.one_hot(index, self.observation_size, dtype=jnp.float32)

  def step(self, key, state: TMazeState, action) -> tuple[TMazeState, jax.Array, jax.Array, jax.Array]:
    """One move: (next state, next observation, reward, episode over). A finished episode stays in its goal
    with reward 0."""
    L = self.length
    x, y = state.x, state.y
    terminal = y != 0
    at_junction = x == L
    wall = (((x == 0) & (action == LEFT)) | (at_junction & (action == RIGHT))
            | ((x < L) & ((action == UP) | (action == DOWN))))
    turn = at_junction & ((action == UP) | (action == DOWN))
    correct = turn & (jnp.where(action == UP, 1, -1) == state.goal)
    reward = jnp.where(terminal, 0.0, jnp.where(correct, 4.0, jnp.where(wall | turn, -0.1, 0.0)))
    # The reward is the chosen action's; only the move may slip (the paper's stochastic corridor).
    k_slip, k_action = jax.random.split(key)
    slip = (x < L) & jax.random.bernoulli(k_slip, self.stochasticity)
    action = jnp.where(slip, jax.random.randint(k_action, (), 0, self.num_actions), action)
    dx = jnp.where(action == RIGHT, jnp.where(at_junction, 0, 1), jnp.where(action == LEFT, jnp.where(x == 0, 0, -1), 0))
    dy = jnp.where(at_junction & (action == UP), 1, jnp.where(at_junction & (action == DOWN), -1, 0))
    moved = TMazeState(x + dx, y + dy, state.goal)
    new = jax.tree_util.tree_map(lambda old, n: jnp.where(terminal, old, n).astype(jnp.int32), state, moved)
    return new, self.observe(new), reward.astype(jnp.float32), new.y != 0

  def explore(self, key) -> jax.Array:
    """An action of the exploration policy: right 1/2, up, left, down 1/6 each."""
    return jax.random.choice(key, self.num_actions, p=jnp.asarray(self.exploration, jnp.float32)).astype(jnp.int32)

  def optimal(self, returns, lengths) -> jax.Array:
    """Whether the greedy episodes of every evaluation case (``returns``, ``lengths``: (eval_cases,)) are
    optimal: the cued goal reached without a bump, in L + 1 steps (the paper's criterion)."""
    return jnp.all((jnp.abs(returns - 4.0) < 1e-4) & (lengths == self.length + 1))
