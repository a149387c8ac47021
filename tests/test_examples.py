"""The examples run from a fresh checkout (small sizes)."""
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_flax_classifier_gets_lsc_pretraining_and_a_multistability_report():
  proc = subprocess.run([sys.executable, str(EXAMPLES / "flax_classifier.py"), "--seq_len=8", "--hidden=8", "--steps=5",
                         "--analysis_steps=100"], capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr
  lines = proc.stdout.splitlines()
  assert lines[0].startswith("LSC pre-training: time radius") and " -> " in lines[0]
  assert lines[1].startswith("multistability before: VAA") and lines[2].startswith("multistability after: VAA")
  assert lines[3].startswith("trained 5 steps: loss")
