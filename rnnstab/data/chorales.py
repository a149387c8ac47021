"""Bach chorales from the music21 wheel as piano rolls: 88 keys (MIDI 21..108), one frame per eighth note.

The corpus ships with the ``music21`` package (``music21/corpus/bach``: 408 .mxl, 3 .krn and 2 .xml
scores; its 20 .rntxt files are harmonic analyses, not scores), so nothing is downloaded. A note sounding
at any time within a frame's eighth note marks its key in that frame. Parsing every score takes a few
minutes, so the rolls are built once and kept (derived data) in ``~/.cache/rnnstab`` (``RNNSTAB_CACHE``
overrides it). The split is fixed: the scores sorted by name, shuffled with seed 0, 60% training, 20%
validation, 20% test, the proportions of the JSB Chorales benchmark.

References:
  Boulanger-Lewandowski, Bengio & Vincent, "Modeling temporal dependencies in high-dimensional sequences",
  ICML 2012 (JSB Chorales piano rolls); Chung, Gulcehre, Cho & Bengio, "Empirical evaluation of gated
  recurrent neural networks on sequence modeling", 2014 (tanh RNN, GRU, LSTM on them).
"""
from __future__ import annotations

import functools
import math
import os
from pathlib import Path

import numpy as np

KEYS = 88
LOWEST = 21           # MIDI number of A0, the piano's lowest key
FRAME = 0.5           # quarter lengths per frame: one eighth note
SPLIT_SEED = 0
MUSIC21_INSTALL = "pip install 'rnnstab[music]' (music21 10.5)"
SCORE_SUFFIXES = (".mxl", ".krn", ".xml")


def music21_available() -> bool:
  try:
    import music21  # noqa: F401
  except ImportError:
    return False
  return True


def chorale_paths() -> list[Path]:
  """The Bach scores shipped in the music21 wheel, sorted by file name."""
  from music21 import corpus
  return sorted((Path(p) for p in corpus.getComposer("bach") if Path(p).suffix in SCORE_SUFFIXES),
                key=lambda p: p.name)


def piano_roll(path: Path) -> np.ndarray:
  """One score as a (frames, 88) uint8 roll."""
  from music21 import corpus
  score = corpus.parse(str(path))
  frames = max(1, math.ceil(float(score.highestTime) / FRAME))
  roll = np.zeros((frames, KEYS), np.uint8)
  for note in score.flatten().notes:
    start = float(note.offset)
    end = start + float(note.quarterLength)
    first, last = int(math.floor(start / FRAME)), max(int(math.ceil(end / FRAME)), int(math.floor(start / FRAME)) + 1)
    for pitch in note.pitches:
      key = int(pitch.midi) - LOWEST
      if 0 <= key < KEYS:
        roll[first:min(last, frames), key] = 1
  return roll


def _cache_path() -> Path:
  import music21
  root = Path(os.environ.get("RNNSTAB_CACHE", Path.home() / ".cache" / "rnnstab"))
  return root / f"bach-chorales-music21-{music21.__version__}-eighths.npz"


def split_names(names: list[str]) -> dict[str, list[str]]:
  """The fixed 60 / 20 / 20 split of score names."""
  order = np.random.default_rng(SPLIT_SEED).permutation(len(names))
  n_train, n_valid = int(round(0.6 * len(names))), int(round(0.2 * len(names)))
  pick = lambda idx: [names[i] for i in sorted(idx)]
  return {"train": pick(order[:n_train]), "valid": pick(order[n_train:n_train + n_valid]),
          "test": pick(order[n_train + n_valid:])}


@functools.lru_cache(maxsize=None)
def load_chorales() -> dict[str, list[np.ndarray]]:
  """{"train", "valid", "test"}: lists of (frames, 88) uint8 piano rolls (built once, then read from the cache).

  Raises:
    ValueError: when music21 is not installed (with the install command).
  """
  if not music21_available():
    raise ValueError(f"--task: the Bach chorales come with music21, which is not installed; {MUSIC21_INSTALL}")
  path = _cache_path()
  if not path.is_file():
    rolls = {p.name: piano_roll(p) for p in chorale_paths()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **rolls)
    os.replace(tmp, path)
  with np.load(path) as data:  # plain arrays: no pickle
    rolls = {name: data[name] for name in data.files}
  return {split: [rolls[n] for n in names] for split, names in split_names(sorted(rolls)).items()}
