"""Memory-based RL: the T-maze against a plain-Python reading of the paper's rules, the episode arrays, the
DRQN and PPO losses against NumPy, seeds vmapped vs one at a time, the pre-training inits on histories,
the gymnax MemoryChain adapter, and learning smoke tests."""
import json
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnnstab.rl import RLConfig, gae, make_agent, make_env, play, td_loss
from rnnstab.rl.drqn import epsilon_greedy
from rnnstab.rl.experiment import first_optimal, run
from rnnstab.rl.rollout import Histories, evaluate_greedy, greedy_policy, lengths, random_policy, returns
from rnnstab.rl.tmaze import DOWN, LEFT, RIGHT, UP

STRICT_PROMOTION = False  # optax's Adam mixes int32 counts with floats
SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "rl.py"
TINY = dict(length=3, cell="gru", hidden=8, layers=1, seeds=2, buffer=64, batch=4, updates=2)


def reference_tmaze(L, goal_up, actions):
  """The appendix's T-maze in plain Python: rewards, positions and terminal flags of an action sequence."""
  x, y, out = 0, 0, []
  for a in actions:
    if y != 0:
      out.append((0.0, x, y, True))
      continue
    if (x == 0 and a == LEFT) or (x == L and a == RIGHT) or (x < L and a in (UP, DOWN)):
      r = -0.1
    elif x == L and a in (UP, DOWN):
      r = 4.0 if (a == UP) == goal_up else -0.1
    else:
      r = 0.0
    if x < L:
      x += {RIGHT: 1, LEFT: -1 if x > 0 else 0}.get(a, 0)
    elif a == LEFT:
      x -= 1
    elif a in (UP, DOWN):
      y = 1 if a == UP else -1
    out.append((r, x, y, y != 0))
  return out


@pytest.mark.parametrize("L", [2, 5])
def test_tmaze_matches_reference_on_random_walks(L):
  env = make_env("tmaze", L)
  rng = np.random.default_rng(L)
  step = jax.jit(env.step)
  for trial in range(6):
    goal_up = bool(trial % 2)
    actions = rng.choice(4, size=env.horizon, p=[0.55, 0.15, 0.15, 0.15])
    state, _ = env.reset_case(jnp.int32(0 if goal_up else 1))
    for a, (r, x, y, done) in zip(actions, reference_tmaze(L, goal_up, actions)):
      state, obs, reward, d = step(jax.random.key(0), state, jnp.int32(a))
      assert (float(reward), int(state.x), int(state.y), bool(d)) == pytest.approx((r, x, y, done))
      expected = (0 if goal_up else 1) if x == 0 else (2 if x < L else 3)
      assert int(jnp.argmax(obs)) == expected


def test_tmaze_optimal_policy_and_criterion():
  env = make_env("tmaze", 4)
  for case in (0, 1):
    state, obs = env.reset_case(jnp.int32(case))
    assert int(jnp.argmax(obs)) == case  # the cue
    total = 0.0
    for a in [RIGHT] * 4 + [UP if case == 0 else DOWN]:
      state, obs, r, done = env.step(jax.random.key(0), state, jnp.int32(a))
      total += float(r)
    assert total == 4.0 and bool(done)
  assert bool(env.optimal(jnp.array([4.0, 4.0]), jnp.array([5, 5])))
  assert not bool(env.optimal(jnp.array([4.0, 4.0]), jnp.array([5, 7])))   # dawdled
  assert not bool(env.optimal(jnp.array([4.0, -0.1]), jnp.array([5, 5])))  # one cue wrong
  assert env.horizon == 11 and env.gamma == 0.98


def test_episode_arrays_carry_previous_action_and_reward():
  env = make_env("tmaze", 3)
  ep = play(env, None, None, jax.random.key(1), random_policy(env), 5)
  A = env.num_actions
  H = env.horizon
  assert ep.inputs.shape == (H + 1, 5, A + 1 + env.observation_size)
  np.testing.assert_array_equal(ep.inputs[0, :, :A + 1], 0.0)  # nothing before the first step
  np.testing.assert_array_equal(jnp.argmax(ep.inputs[1:, :, :A], -1), ep.actions)
  np.testing.assert_allclose(ep.inputs[1:, :, A], ep.rewards)
  valid, done = np.asarray(ep.valid), np.asarray(ep.done)
  for b in range(5):
    n = int(valid[:, b].sum())
    assert valid[:n, b].all() and not valid[n:, b].any()  # valid is a prefix
    assert done[:, b].sum() <= 1 and (done[:, b].sum() == 0 or done[n - 1, b] == 1)
    assert np.all(np.asarray(ep.rewards)[n:, b] == 0)
  np.testing.assert_allclose(returns(ep), np.asarray(ep.rewards).sum(0))
  np.testing.assert_array_equal(lengths(ep), valid.sum(0))


@pytest.fixture(scope="module")
def drqn():
  return make_agent(RLConfig(**TINY))


def test_td_loss_matches_numpy(drqn):
  params = drqn.initial_params(jax.random.key(0))
  target = drqn.initial_params(jax.random.key(1))
  ep = play(drqn.env, drqn.model, params, jax.random.key(2), epsilon_greedy(drqn.env, 0.5), 3)._replace(final=())
  loss = td_loss(drqn.model, params, target, ep, 0.98, jax.random.key(3))
  q = np.asarray(drqn.model.apply(params, ep.inputs))
  qt = np.asarray(drqn.model.apply(target, ep.inputs))
  a, r, v, d = (np.asarray(x) for x in (ep.actions, ep.rewards, ep.valid, ep.done))
  total = count = 0.0
  for t in range(a.shape[0]):
    for b in range(a.shape[1]):
      if v[t, b]:
        y = r[t, b] + (0.0 if d[t, b] else 0.98 * qt[t + 1, b].max())
        total += (q[t, b, a[t, b]] - y) ** 2
        count += 1
  np.testing.assert_allclose(float(loss), total / count, rtol=1e-5)


def test_gae_matches_numpy_loop():
  rng = np.random.default_rng(0)
  H, B, gamma, lam = 7, 3, 0.9, 0.8
  r, v = rng.normal(size=(H, B)).astype(np.float32), rng.normal(size=(H, B)).astype(np.float32)
  last = rng.normal(size=B).astype(np.float32)
  ends = [3, 7, 5]  # episode 0 ends (done) at step 2, 1 is cut by the horizon, 2 ends at step 4
  valid = np.array([[t < e for e in ends] for t in range(H)], np.float32)
  done = np.array([[t == e - 1 and e < H for e in ends] for t in range(H)], np.float32)
  adv, ret = gae(jnp.asarray(r), jnp.asarray(v), jnp.asarray(last), jnp.asarray(done), jnp.asarray(valid), gamma, lam)
  expect = np.zeros((H, B), np.float32)
  for b in range(B):
    a = 0.0
    for t in reversed(range(ends[b])):
      nv = last[b] if t == H - 1 else v[t + 1, b]
      nonterminal = 1.0 - done[t, b]
      a = r[t, b] + gamma * nv * nonterminal - v[t, b] + gamma * lam * nonterminal * a
      expect[t, b] = a
  np.testing.assert_allclose(adv, expect, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(ret, expect + v, rtol=1e-5, atol=1e-6)


def test_vmapped_seeds_equal_one_seed_at_a_time(drqn):
  keys = jax.random.split(jax.random.key(0), 2)
  chunk = lambda s: drqn.chunk(s, jnp.int32(3))
  batched, mb = jax.jit(jax.vmap(lambda k: chunk(drqn.init(k)[0])))(keys)
  for i in range(2):
    single, ms = jax.jit(lambda k: chunk(drqn.init(k)[0]))(keys[i])
    for a, b in zip(jax.tree_util.tree_leaves(single.params), jax.tree_util.tree_leaves(batched.params)):
      np.testing.assert_allclose(a, b[i], rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(ms["td_loss"], mb["td_loss"][i], rtol=1e-4)


def test_whole_training_is_one_pure_function_of_the_key():
  """rnnstab.rl.train (init + every chunk in one scan) gives the numbers of the chunk-by-chunk loop."""
  from rnnstab.rl import train
  agent = make_agent(RLConfig(**{**TINY, "episodes": 4, "eval_every": 2}))
  keys = jax.random.split(jax.random.key(0), 2)
  state, metrics = jax.jit(jax.vmap(lambda k: train(agent, k)))(keys)
  assert metrics["eval_greedy_return"].shape == (2, 2)
  step = jax.jit(jax.vmap(agent.chunk, in_axes=(0, None)))
  s = jax.jit(jax.vmap(lambda k: agent.init(k)[0]))(keys)
  for i in range(2):
    s, m = step(s, jnp.int32(2))
    np.testing.assert_allclose(m["td_loss"], metrics["td_loss"][:, i], rtol=1e-4)


def test_warmup_and_lsc_pretrain_on_exploration_histories():
  env = make_env("tmaze", 3)
  batch = Histories(env).sample(jax.random.key(0), 4)
  assert batch.inputs.shape == (env.horizon, 4, 9) and batch.mask.shape == (env.horizon, 4)
  warm = make_agent(RLConfig(**{**TINY, "init": "warmup", "warmup_steps": 3}))
  _, info = jax.jit(warm.init)(jax.random.key(0))
  assert np.all(np.isfinite(info["vaa_star"]))
  lsc = make_agent(RLConfig(**{**TINY, "init": "lsc", "lsc_steps": 3}))
  _, info = jax.jit(lsc.init)(jax.random.key(0))
  assert set(info["radii_after"]) >= {"time", "decoder"}


def test_memory_chain_adapter():
  env = make_env("memory_chain:bits=2", 4)
  assert env.eval_cases == 8 and env.horizon == 5 and env.observation_size == 4
  _, obs = jax.vmap(env.reset_case)(jnp.arange(env.eval_cases))
  assert len({tuple(np.asarray(o[2:])) for o in obs}) == 4  # every context

  def answer(case):  # the optimal policy: at the last step report the queried context bit
    state, _ = env.reset_case(case)
    total = 0.0
    for t in range(env.horizon):
      action = jnp.where(t == env.horizon - 1, state.context[state.query], 0)
      state, _, r, done = env.step(jax.random.key(t), state, action)
      total += float(r)
    return total, bool(done)

  for case in range(env.eval_cases):
    assert answer(jnp.int32(case)) == (1.0, True)


def test_drqn_learns_a_short_tmaze(tmp_path):
  config = RLConfig(length=3, cell="gru", hidden=16, layers=1, seeds=2, episodes=200, buffer=256, batch=8)
  summary = run(config, out=str(tmp_path), log=lambda s: None, stop_when_optimal=True)
  assert summary["optimal_seeds"] == 2, summary["first_optimal_episode"]
  assert summary["cost"]["forward"]["macs"] == 3 * 16 * (9 + 16)  # a GRU of 16 on [a, r, o]: 4 + 1 + 4 inputs
  run_dir = Path(summary["run_dir"])
  for name in ("config.json", "metrics.jsonl", "summary.json", "learning_curve.png"):
    assert (run_dir / name).is_file()
  rows = [json.loads(l) for l in (run_dir / "metrics.jsonl").read_text().splitlines()]
  assert first_optimal(rows, 2) == summary["first_optimal_episode"]


def test_ppo_learns_a_short_tmaze(tmp_path):
  config = RLConfig(agent="ppo", length=2, cell="gru", hidden=16, layers=1, seeds=2, episodes=1024, envs=16)
  summary = run(config, out=str(tmp_path), log=lambda s: None, stop_when_optimal=True)
  assert summary["optimal_seeds"] >= 1, summary["first_optimal_episode"]
  assert np.isfinite(summary["final"]["loss"]["mean"])


def test_greedy_evaluation_of_a_hand_made_policy():
  """evaluate_greedy scores an (untrained) network's arg max; its optimality follows the env's criterion."""
  agent = make_agent(RLConfig(**TINY))
  params = agent.initial_params(jax.random.key(0))
  m = evaluate_greedy(agent.env, agent.model, params)
  ep = play(agent.env, agent.model, params, jax.random.key(0), greedy_policy(4), 2, cases=jnp.arange(2))
  assert float(m["greedy_return"]) == pytest.approx(float(jnp.mean(returns(ep))))
  assert float(m["optimal"]) == float(agent.env.optimal(returns(ep), lengths(ep)))


def test_cli_runs_and_rejects_bad_input(tmp_path):
  proc = subprocess.run([sys.executable, str(SCRIPT), "--length=3", "--seeds=2", "--hidden=8", "--layers=1",
                         "--episodes=40", "--buffer=64", "--batch=4", "--updates=1", "--analysis_every=40",
                         "--analysis_steps=200", "--analysis_samples=4", f"--out={tmp_path}", "--name=r"],
                        capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr
  summary = json.loads((tmp_path / "r" / "summary.json").read_text())
  assert summary["completed_episodes"] == 40 and len(summary["first_optimal_episode"]) == 2
  assert (tmp_path / "r" / "multistability.png").is_file() and "vaa" in summary["final"]
  for args, message in ((["--env=maze"], "--env: unknown env 'maze'; valid choices: memory_chain, tmaze"),
                        (["--agent=a2c"], "--agent: unknown agent 'a2c'; valid choices: drqn, ppo"),
                        (["--agent=ppo", "--eval_every=20"], "--eval_every: with --agent=ppo it must be a multiple"),
                        (["--length=1"], "--length: the T-maze corridor needs length >= 2, got 1")):
    proc = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith(f"rl.py: error: {message}"), proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_table_smoke(tmp_path):
  script = SCRIPT.with_name("rl_table.py")
  args = [sys.executable, str(script), "--cells=gru", "--inits=default", "--lengths=2", "--seeds=2", "--hidden=8",
          "--episodes=40", "--analysis=false", f"--out={tmp_path}"]
  proc = subprocess.run(args, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr
  rows = [l for l in proc.stdout.splitlines() if l.startswith("| gru")]
  assert len(rows) == 2 and rows[0] == rows[1]  # the row as it comes, then in the table
  again = subprocess.run(args, capture_output=True, text=True, timeout=600)  # reuses the finished run
  assert again.stdout == proc.stdout and len(list(tmp_path.iterdir())) == 1
  bad = subprocess.run([sys.executable, str(script), "--cells=grux"], capture_output=True, text=True, timeout=120)
  assert bad.returncode == 2 and bad.stderr.startswith("rl_table.py: error: --cells: unknown choice 'grux'")
