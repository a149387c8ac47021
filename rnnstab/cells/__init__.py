"""Recurrent cells, their combinators, and the registry ``--cell`` looks names up in."""
from __future__ import annotations

from rnnstab.cells.base import Cell
from rnnstab.cells.bistable import BRC, NBRC
from rnnstab.cells.cayley import NCGRU
from rnnstab.cells.combinators import Double, Stack, double, leaves, map_leaves, stack
from rnnstab.cells.gated import GRU, LSTM, MGU
from rnnstab.cells.gatel0rd import GateL0RD
from rnnstab.cells.plastic import STPN
from rnnstab.cells.plrnn import PLRNN
from rnnstab.cells.reservoir import ESN
from rnnstab.cells.spiking import ALIF, ALIFLSC
from rnnstab.cells.ssm import LRU
from rnnstab.cells.state_regularised import StateRegularised
from rnnstab.cells.vanilla import ReLURNN, TanhRNN
from rnnstab.registry import Registry

CELLS = Registry("cell")
CELLS.register("tanh", TanhRNN, "vanilla tanh RNN (Elman 1990)")
CELLS.register("relu", ReLURNN, "ReLU RNN; --init=identity makes it the IRNN")
CELLS.register("gru", GRU, "gated recurrent unit (Cho et al. 2014)")
CELLS.register("lstm", LSTM, "LSTM (Hochreiter & Schmidhuber 1997); --init=chrono for chrono-LSTM")
CELLS.register("mgu", MGU, "minimal gated unit (Zhou et al. 2016)")
CELLS.register("brc", BRC, "bistable recurrent cell (Vecoven et al. 2021)")
CELLS.register("nbrc", NBRC, "neuromodulated bistable recurrent cell (Vecoven et al. 2021)")
CELLS.register("plrnn", PLRNN, "piecewise-linear RNN (Schmidt et al. 2021)")
CELLS.register("alif", ALIF, "adaptive LIF spiking neurons, surrogate gradient (Bellec et al. 2018)")
CELLS.register("alif_lsc", ALIFLSC, "ALIF as the LSC authors run it: state (v, a), no membrane memory, "
               "fast-sigmoid surrogate (LuCeHe/stable_drnn); meets the LSC with --lsc_lr=3e-3")
CELLS.register("lru", LRU, "linear recurrent unit, diagonal complex state (Orvieto et al. 2023)")
CELLS.register("esn", ESN, "echo state network: fixed leaky tanh reservoir, spectral radius 0.9 (Jaeger 2001)")
CELLS.register("stpn", STPN, "short-term plasticity neuron: per-synapse Hebbian state (Rodriguez et al. 2022)")
CELLS.register("ncgru", NCGRU, "Neumann-Cayley orthogonal GRU: orthogonal candidate recurrence (Mucllari et al. 2024)")
CELLS.register("gatel0rd", GateL0RD, "GateL0RD: latent changes only through a ReLU-tanh gate, L0 penalty on "
               "openings (Gumbsch et al. 2021)")
CELLS.register("srgru", StateRegularised, "state-regularised GRU: state pulled to 10 centroids (Wang & Niepert 2019)")


def recurrent_weights(cell, params) -> dict:
  """The recurrent weights of any cell, stack or double, as {path: array}.

  Args:
    cell: an rnnstab cell, ``Stack``/``Double``, or an adapted Flax cell (``rnnstab.flax.FlaxCell``).
    params: its params.

  Returns:
    A flat dict from "layers/0/W"-style paths to the arrays named in each leaf's ``recurrent_params``
    (Flax cells: the kernels of their recurrent Dense layers).
  """
  out = {}
  for prefix, leaf, p in leaves(cell, params):
    if hasattr(leaf, "recurrent_weights"):
      out.update({prefix + k: v for k, v in leaf.recurrent_weights(p).items()})
    else:
      out.update({prefix + name: p[name] for name in leaf.recurrent_params})
  return out


__all__ = ["ALIF", "ALIFLSC", "BRC", "CELLS", "Cell", "Double", "ESN", "GRU", "GateL0RD", "LRU", "LSTM", "MGU", "NBRC", "NCGRU", "PLRNN", "ReLURNN", "STPN", "Stack", "StateRegularised",
           "TanhRNN", "double", "leaves", "map_leaves", "recurrent_weights", "stack"]
