"""rnnstab: recurrent networks on long time dependencies, and why they fail.

The public surface, re-exported from the modules that define it:

  cells      TanhRNN, ReLURNN, GRU, LSTM, MGU, BRC, NBRC, PLRNN, Stack, Double, stack, double,
             recurrent_weights, CELLS
  unroll     run any cell over a sequence
  tasks      CopyFirstInput, Denoising, Adding, Multiplication, TASKS
  training   Config, make_train, over_seeds
  flax       rnnstab.flax.FlaxCell (imported on demand)
"""
from rnnstab.cells import (BRC, CELLS, GRU, LSTM, MGU, NBRC, PLRNN, Double, ReLURNN, Stack, TanhRNN, double,
                           recurrent_weights, stack)
from rnnstab.config import Config
from rnnstab.inits import INITS, Init
from rnnstab.tasks import TASKS, Adding, CopyFirstInput, Denoising, Multiplication
from rnnstab.train import make_train, over_seeds
from rnnstab.unroll import unroll

__version__ = "0.1.0"

__all__ = ["Adding", "BRC", "CELLS", "Config", "CopyFirstInput", "Denoising", "Double", "GRU", "INITS", "Init",
           "LSTM", "MGU", "Multiplication", "NBRC", "PLRNN", "ReLURNN", "Stack", "TASKS", "TanhRNN", "double",
           "make_train", "over_seeds", "recurrent_weights", "stack", "unroll"]
