"""Partially observable environments for recurrent agents, the registry ``--env`` looks names up in.

An environment is a frozen dataclass with pure, vmappable methods on explicit states:

    env.reset(key) -> (state, obs)            env.reset_case(i) -> (state, obs)   (evaluation starts)
    env.step(key, state, action) -> (state, obs, reward, done)
    env.explore(key) -> action                (the exploration / random policy)
    env.optimal(returns, lengths) -> bool     (greedy episodes of every evaluation case optimal?)

and ``num_actions``, ``observation_size``, ``horizon`` (steps per episode at most), ``gamma``,
``eval_cases``, ``optimal_return``. A finished episode stays finished (reward 0) until the horizon, so
episodes are fixed-length arrays with a validity mask. Besides our T-maze, gymnax's bsuite MemoryChain
runs through an adapter (gymnax installs from PyPI and runs offline).
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from rnnstab.registry import Registry, parse_spec
from rnnstab.rl.tmaze import TMaze

GYMNAX_HINT = "pip install 'rnnstab[rl]' (gymnax 1.0.1)"


@functools.lru_cache(maxsize=None)
def _gymnax(name: str):
  try:
    import gymnax
  except ImportError:
    raise ValueError(f"--env: this environment runs on gymnax, which is not installed; {GYMNAX_HINT}") from None
  return gymnax.make(name)


@dataclasses.dataclass(frozen=True)
class MemoryChain:
  """bsuite's memory chain through gymnax: a context bit shown at the first step must be reported by the
  action at step ``length`` + 1 (reward +1 right, -1 wrong, 0 before); the agent also sees the time left.

  Attributes:
    length: memory length (gymnax's ``memory_length``); an episode lasts ``length + 1`` steps.
    bits: context bits; one of them is queried at the last step.

  References:
    Osband et al., "Behaviour Suite for Reinforcement Learning", ICLR 2020; gymnax (Lange 2022).
  """

  length: int = 5
  bits: int = 1

  num_actions: ClassVar[int] = 2
  gamma: ClassVar[float] = 0.99
  optimal_return: ClassVar[float] = 1.0

  def __post_init__(self):
    if not isinstance(self.length, int) or self.length < 1:
      raise ValueError(f"--length: the memory chain needs length >= 1, got {self.length!r}")
    if not isinstance(self.bits, int) or self.bits < 1:
      raise ValueError(f"--env: memory_chain option bits must be an integer >= 1, got {self.bits!r}")

  @property
  def _env(self) -> tuple[Any, Any]:
    env, params = _gymnax("MemoryChain-bsuite")
    if self.bits != 1:
      env = type(env)(num_bits=self.bits)
    return env, params.replace(memory_length=self.length, max_steps_in_episode=self.length + 1)

  @property
  def eval_cases(self) -> int:
    """Every context (2^bits) with every query (bits)."""
    return 2 ** self.bits * self.bits

  @property
  def observation_size(self) -> int:
    return self.bits + 2

  @property
  def horizon(self) -> int:
    return self.length + 1

  def reset(self, key):
    env, params = self._env
    obs, state = env.reset_env(key, params)
    return state, obs.astype(jnp.float32)

  def reset_case(self, case):
    """Evaluation start ``case``: context bits the binary digits of case mod 2^bits, query case // 2^bits."""
    env, params = self._env
    _, state = env.reset_env(jax.random.key(0), params)
    context = (case % 2 ** self.bits) // 2 ** jnp.arange(self.bits) % 2
    state = state.replace(context=context.astype(jnp.int32), query=jnp.int32(case // 2 ** self.bits))
    return state, env.get_obs(state, params).astype(jnp.float32)

  def step(self, key, state, action):
    env, params = self._env
    # gymnax's step_env returns the observation of the state it stepped from (so the context shows twice
    # and the query the step before the answer); we pass it on as the environment defines it.
    obs, state, reward, done, _ = env.step_env(key, state, action, params)
    return state, obs.astype(jnp.float32), jnp.asarray(reward, jnp.float32), jnp.asarray(done, bool)

  def explore(self, key):
    return jax.random.randint(key, (), 0, self.num_actions, jnp.int32)

  def optimal(self, returns, lengths):
    del lengths
    return jnp.all(returns > self.optimal_return - 1e-4)


ENVS = Registry("env")
ENVS.register("tmaze", TMaze, "the warmup paper's T-maze: cue at the start, +4 at the cued goal, horizon 3L - 1, "
              "gamma 0.98; option stochasticity")
ENVS.register("memory_chain", MemoryChain, "bsuite MemoryChain via gymnax: report the first step's context bit "
              "after --length steps (+1 / -1); option bits")


def make_env(spec: str, length: int):
  """The environment an ``--env`` spec names (``"tmaze"``, ``"tmaze:stochasticity=0.1"``, ``"memory_chain"``)
  at size ``length`` (the T-maze corridor, the chain's memory length).

  Raises:
    ValueError: one line naming the flag, for an unknown name, option or value.
  """
  name, options = parse_spec(spec, ENVS, "env", positional=("length",))
  env = ENVS[name](length=length, **options)
  if name == "memory_chain":
    env._env  # a missing gymnax fails here, with the install hint, before any work
  return env
