"""experiments/run.py end to end: a tiny multi-seed run, its files, and one-line errors with exit code 2."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rnnstab.config import Config
from rnnstab.train import make_train

STRICT_PROMOTION = False
RUN = Path(__file__).resolve().parents[1] / "experiments" / "run.py"
TINY = ["--cell=gru", "--task=adding", "--seeds=2", "--hidden=8", "--layers=1", "--seq_len=8", "--batch=4", "--steps=4",
        "--log_every=2", "--eval_batch=8", "--analysis_steps=200", "--analysis_samples=8"]


def run(args, cwd):
  return subprocess.run([sys.executable, str(RUN), *args], cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
  out = tmp_path_factory.mktemp("runs")
  proc = run(TINY + [f"--out={out}", "--name=tiny"], out)
  assert proc.returncode == 0, proc.stderr
  return out, proc


def test_tiny_run_writes_every_result(tiny_run):
  out, proc = tiny_run
  d = out / "tiny"
  config = json.loads((d / "config.json").read_text())
  assert config["cell"] == "gru" and config["seeds"] == 2
  rows = [json.loads(l) for l in (d / "metrics.jsonl").read_text().splitlines()]
  assert sorted({(r["seed"], r["step"]) for r in rows}) == [(s, k) for s in (0, 1) for k in (0, 2, 4)]
  assert all(r["eval_mse"] is not None and "eval_accuracy" in r for r in rows)
  summary = json.loads((d / "summary.json").read_text())
  assert summary["healthy_seeds"] == 2 and summary["final"]["eval_mse"]["n"] == 2
  assert summary["seeds"][1]["status"] == "ok"
  assert (d / "learning_curve.png").stat().st_size > 1000
  assert "mean+-std" in proc.stdout and "[step      4/4]" in proc.stdout
  # Multistability at the start and the end of training (analysis_every defaults past the 4 steps).
  assert [r["step"] for r in rows if r.get("vaa") is not None and r["seed"] == 0] == [0, 4]
  assert summary["final"]["stable_equilibria"]["n"] == 2 and (d / "multistability.png").stat().st_size > 1000


def test_warmup_run_with_partial_warmup_logs_multistability_before_and_after(tmp_path):
  args = TINY + ["--init=warmup", "--double", "--warmup_steps=3", "--analysis_every=2",
                 f"--out={tmp_path}", "--name=warm"]
  proc = run(args, tmp_path)
  assert proc.returncode == 0, proc.stderr
  d = tmp_path / "warm"
  rows = [json.loads(l) for l in (d / "metrics.jsonl").read_text().splitlines()]
  seed0 = [(r["step"], r.get("phase")) for r in rows if r["seed"] == 0 and r.get("vaa") is not None]
  assert seed0 == [(0, "before_pretrain"), (0, None), (2, None), (4, None)]
  pre = json.loads((d / "pretrain.json").read_text())
  assert np.asarray(pre["vaa_star"]).shape == (2, 3, 1)  # seeds x warmup steps x layers
  assert "before warmup: VAA" in proc.stdout
  assert (d / "multistability.png").stat().st_size > 1000


def test_lsc_run_pretrains_every_seed_and_reports_the_radii(tmp_path):
  args = TINY + ["--init=lsc", "--layers=2", "--lsc_steps=200", "--lsc_method=power", "--analysis_every=0",
                 f"--out={tmp_path}", "--name=lsc"]
  proc = run(args, tmp_path)
  assert proc.returncode == 0, proc.stderr
  pre = json.loads((tmp_path / "lsc" / "pretrain.json").read_text())
  assert pre["converged"] == [True, True] and all(0 < s < 200 for s in pre["steps"])
  assert np.all(np.abs(np.asarray(pre["radii_after"]["time"]) - 1.0) < 0.08)   # seeds x layers
  assert "lsc: 2/2 seeds met the targets" in proc.stdout


def test_never_overwrites_a_run_dir(tiny_run):
  out, _ = tiny_run
  before = (out / "tiny" / "metrics.jsonl").read_text()
  proc = run(TINY + [f"--out={out}", "--name=tiny"], out)
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines() == [f"run.py: error: --name: run directory {out / 'tiny'} already exists; "
                                              "choose another --name or --out"]
  assert (out / "tiny" / "metrics.jsonl").read_text() == before


# The exit path (one line on stderr, exit code 2, nothing written) through a subprocess for each kind of
# failure: an unknown name, a flag absl cannot parse, an error found when the model is built, a compound flag.
@pytest.mark.parametrize("args,message", [
    (["--cell=foo"], "--cell: unknown cell 'foo'; valid choices: alif, alif_lsc, brc, esn, gatel0rd, gru, lru, lstm, mgu, nbrc, ncgru, plrnn, relu, srgru, stpn, tanh"),
    (["--hidden=abc"], "--hidden: expected an integer, got 'abc'"),
    (["--cell=brc", "--init=orthogonal"], "--init=orthogonal does not apply to BRC; cells that support it: "
                                          "gatel0rd, gru, lstm, mgu, nbrc, relu, tanh"),
    (["--reg=mar:tau=x"], "--reg: option tau of mar must be a number, got 'x'"),
    (["--task=recall:dela=3"], "--task: recall has no option 'dela'; valid options: delay"),
    (["--hiden=8"], "Unknown command line flag 'hiden'. Did you mean: hidden ?"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
  proc = run(TINY + [f"--out={tmp_path}"] + args, tmp_path)
  assert proc.returncode == 2, proc.stderr
  assert proc.stderr.strip().splitlines() == [f"run.py: error: {message}"]
  assert not any(tmp_path.iterdir())  # nothing was started


# The messages themselves, in-process (run.py prints exactly these, as the cases above show).
@pytest.mark.parametrize("overrides,message", [
    (dict(task="bar"), "--task: unknown task 'bar'; valid choices: adding, chorales, copy, denoising, dyck1, multiplication, "
                       "narma10, psmnist, recall, smnist, symbol_copy, temporal_order"),
    (dict(task="recall:delay=x"), "--task: option delay of recall must be an integer, got 'x'"),
    (dict(task="dyck1:generalise=0"), "--task: option generalise of dyck1 must be an integer >= 1, got 0"),
    (dict(init="nope"), "--init: unknown init 'nope'; valid choices: awh, chrono, default, forget_bias, identity, irnn, lsc, "
                        "orthogonal, warmup"),
    (dict(seeds=0), "--seeds: must be a positive integer, got 0"),
    (dict(lr=-1.0), "--lr: must be a positive finite number, got -1.0"),
    (dict(lr_half_life=-5), "--lr_half_life: must be a non-negative integer (0: off), got -5"),
    (dict(cell="gru", init="chrono"), "--init=chrono applies to LSTM cells only (got GRU); use --cell=lstm"),
    (dict(seed_parallel="3"), "--seed_parallel: group size 3 must divide --seeds=2"),
    (dict(lsc_method="eig"), "--lsc_method: unknown method 'eig'; valid choices: auto, exact, power"),
    (dict(reg="l1"), "--reg: unknown regulariser 'l1'; valid choices: none, mar, orth"),
    (dict(reg="mar:nope=1"), "--reg: mar has no option 'nope=1'; write mar:key=value with key one of tau, tau_A, "
                             "tau_W, tau_h, fraction, reduce"),
    (dict(cell="gru", init="awh"), "--init=awh does not apply to GRU; cells that support it: plrnn"),
    (dict(cell="esn", init="warmup"), "--init=warmup: the ESN's reservoir is fixed, so pre-training cannot change it; "
                                      "use --init=default"),
    (dict(cell="esn", init="lsc"), "--init=lsc: the ESN's reservoir is fixed, so pre-training cannot change it; "
                                   "use --init=default"),
    (dict(backend="cuda"), "--backend: unknown backend 'cuda'; valid choices: auto, scan, remat, pallas, wavefront"),
    (dict(backend="pallas", recompute=7), "--recompute: must be 0 or a divisor of --seq_len=50, got 7"),
    (dict(backend="wavefront", recompute=5), "--recompute: not available with --backend=wavefront; use --backend=pallas"),
])
def test_bad_values_name_the_flag_and_the_choices(overrides, message):
  with pytest.raises(ValueError) as e:
    make_train(Config(**{**dict(cell="gru", seeds=2), **overrides}))
  assert str(e.value) == message


def test_every_script_reports_flag_errors_as_one_line():
  """absl rejects unknown flags and bad enum or number values before main runs: every script hands them to
  rnnstab.config.flags_parser, so they exit 2 with one line like the scripts' own checks."""
  scripts = sorted((RUN.parent).glob("*.py"))
  assert [p.name for p in scripts if f'flags_parser=flags_parser("{p.name}")' not in p.read_text()] == []

