"""report.html: one self-contained page per run, opened in headless Chromium with no console messages and
every figure decoded (CI installs Debian's chromium: .ci/run)."""
import os
import re
import shutil
import subprocess

import pytest

from rnnstab.config import Config
from rnnstab.experiment import run

STRICT_PROMOTION = False  # optax's Adam mixes int32 counts with floats


@pytest.fixture(scope="module")
def page(tmp_path_factory):
  saved = os.environ.pop("RNNSTAB_SKIP_REPORT", None)  # tests/conftest.py sets it for every other run
  out = tmp_path_factory.mktemp("runs")
  config = Config(cell="gru", task="copy", seq_len=12, hidden=8, layers=2, seeds=2, batch=8, steps=4, log_every=2,
                  init="warmup", warmup_steps=2, analysis_every=2, analysis_steps=200, analysis_samples=8,
                  checkpoint_every=0, eval_batch=8)
  try:
    run(config, out=str(out), name="r", log=lambda s: None)
  finally:
    if saved is not None:
      os.environ["RNNSTAB_SKIP_REPORT"] = saved
  return out / "r" / "report.html"


def test_page_is_self_contained(page):
  text = page.read_text()
  assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", text)  # nothing fetched from a network
  assert "<script src" not in text and "<link" not in text
  images = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,', text)
  assert images == ["learning curves", "multistability", "gradient grid", "jacobian spectra", "attractors"]
  for section in ("Summary per seed", "Cost of a step", "Configuration"):
    assert f"<h2>{section}</h2>" in text
  assert "after pre-training" in text  # warmup: three stages of seed 0


def _chromium():
  found = shutil.which("chromium") or shutil.which("chromium-browser")
  if found is None:
    if os.environ.get("RNNSTAB_REQUIRE_CHROMIUM"):
      pytest.fail("chromium is not installed (apt-get install chromium), and RNNSTAB_REQUIRE_CHROMIUM is set")
    pytest.skip("chromium is not installed here (CI installs it: .ci/run)")
  return found


def test_page_renders_in_headless_chromium(page, tmp_path):
  chromium = _chromium()
  flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
           "--virtual-time-budget=10000"]
  dom = subprocess.run(flags + ["--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
  assert dom.returncode == 0, dom.stderr[-2000:]
  assert 'data-figures="5 figures, 0 broken"' in dom.stdout  # the page's own check, after load
  console = [l for l in dom.stderr.splitlines() if ":CONSOLE" in l]
  assert console == [], console  # no errors, warnings or logs from the page
  shot = tmp_path / "report.png"
  done = subprocess.run(flags + ["--window-size=1200,4000", f"--screenshot={shot}", page.as_uri()],
                        capture_output=True, text=True, timeout=120)
  assert done.returncode == 0 and shot.stat().st_size > 50_000, done.stderr[-2000:]
  shutil.copy(shot, page.with_name("report_screenshot.png"))  # kept beside the page


def test_rl_runs_write_a_report_too(tmp_path, monkeypatch):
  from rnnstab.rl import RLConfig
  from rnnstab.rl.experiment import run as run_rl
  monkeypatch.delenv("RNNSTAB_SKIP_REPORT")
  summary = run_rl(RLConfig(length=2, hidden=8, layers=1, seeds=2, episodes=20, buffer=32, batch=4, updates=1),
                   out=str(tmp_path), name="rl", log=lambda s: None)
  text = (tmp_path / "rl" / "report.html").read_text()
  assert re.findall(r'<img alt="([^"]+)"', text) == ["learning curves", "jacobian spectra", "attractors"]
  assert "no sequence loss" in text and summary["completed_episodes"] == 20


def test_figures_of_a_diverged_network_leave_out_its_non_finite_states():
  """A ReLU RNN past radius 1 overflows to inf/NaN: the figures draw the finite samples and say how many
  diverged, instead of LAPACK's "SVD did not converge" ending the run (and the study around it)."""
  import jax
  import jax.numpy as jnp
  from rnnstab.cells import ReLURNN
  from rnnstab.report import attractor_figure, gradient_grid_figure, spectra_figure

  cell = ReLURNN(hidden_size=6)
  sane = cell.init(jax.random.key(0), 2)
  # Every unit excites every other: relu(h W) with W = 1e3 grows by ~6e3 a step and overflows float32
  # within 20 steps; settling under a constant input runs 2000.
  diverged = {**sane, "W": jnp.full((6, 6), 1e3), "b": jnp.ones(6)}
  stages = {"sane": {"cell": sane}, "diverged": {"cell": diverged}}
  inputs = jax.random.normal(jax.random.key(1), (30, 8, 2))
  for figure in (attractor_figure(cell, stages, inputs, jax.random.key(2)),
                 spectra_figure(cell, stages, inputs, jax.random.key(3)),
                 gradient_grid_figure(cell, stages, inputs, lambda p: lambda ys: jnp.sum(ys[-1] ** 2))):
    assert figure.startswith(b"\x89PNG")
