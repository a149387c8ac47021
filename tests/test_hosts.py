"""A multi-host run, simulated by two processes on this machine (``run.py --distributed``, one CPU device
each, talking over gloo): same numbers as one process with two devices; process 0 alone writes results,
both write their shards of the checkpoints, and the run resumes across processes."""
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

RUN = Path(__file__).resolve().parents[1] / "experiments" / "run.py"
ARGS = ["--cell=gru", "--hidden=8", "--layers=1", "--seq_len=6", "--batch=4", "--eval_batch=8", "--seeds=4",
        "--steps=6", "--log_every=2", "--checkpoint_every=4", "--analysis_every=0"]


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def _two_processes(*args):
  port = _free_port()
  procs = [subprocess.Popen([sys.executable, str(RUN), "--distributed", f"--coordinator_address=localhost:{port}",
                             "--num_processes=2", f"--process_id={i}", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for i in range(2)]
  outs = [p.communicate(timeout=300)[0] for p in procs]
  for p, out in zip(procs, outs):
    assert p.returncode == 0, out
  return outs


def _finals(run_dir):
  return [s["final"] for s in json.loads((run_dir / "summary.json").read_text())["seeds"]]


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
  out = tmp_path_factory.mktemp("one")
  done = subprocess.run([sys.executable, str(RUN), *ARGS, f"--out={out}", "--name=one"], env={**os.environ, "JAX_NUM_CPU_DEVICES": "2"}, capture_output=True, text=True, timeout=300)
  assert done.returncode == 0, done.stderr
  return out / "one"


def test_two_processes_train_the_seeds_of_one(tmp_path, one_process):
  outs = _two_processes(*ARGS, f"--out={tmp_path}", "--name=two")
  run_dir = tmp_path / "two"
  assert "of 2 processes" in outs[0] and "[step" not in outs[1]  # process 1 neither logs nor writes
  assert _finals(run_dir) == _finals(one_process)
  config = json.loads((run_dir / "config.json").read_text())
  assert config["processes"] == 2 and config["devices"] == 2
  assert sorted(p.name for p in tmp_path.iterdir()) == ["two"]
  # Both processes wrote their own shards of the checkpoint.
  assert {p.name for p in (run_dir / "checkpoints" / "6" / "state").glob("ocdbt.process_*")} == \
      {"ocdbt.process_0", "ocdbt.process_1"}

  # Resumed from the step-4 checkpoint by both processes, it ends as it did.
  (run_dir / "summary.json").unlink()
  shutil.rmtree(run_dir / "checkpoints" / "6")
  outs = _two_processes(f"--resume={run_dir}")
  assert "resumed at step 4" in outs[0]
  assert _finals(run_dir) == _finals(one_process)
