"""Named initialisations behind ``--init``, and the registry later pre-training phases extend.

An ``Init`` has two parts: ``configure(cell, config) -> cell`` chooses static cell settings (e.g. an
orthogonal recurrent kernel), and an optional ``pretrain(model, params, task, key, config) -> (params, info)``
phase on the whole ``SequenceModel`` (cell and readout) that runs per seed, vmapped over seeds, before
training (warmup and LSC register themselves here).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional

import jax

from rnnstab.cells import CELLS, LSTM, Double, Stack, map_leaves
from rnnstab.objectives.lsc import BATCH as LSC_BATCH, lsc_pretrain, lsc_targets
from rnnstab.objectives.manifold_attractor import FRACTION as MAR_FRACTION
from rnnstab.objectives.warmup import BATCH as WARMUP_BATCH, warm_up
from rnnstab.registry import Registry
from rnnstab.regularisers import parse_reg


def _keep(cell, config):
  return cell


@dataclasses.dataclass(frozen=True)
class Init:
  """An initialisation: static cell settings plus an optional per-seed pre-training phase."""

  configure: Callable[[Any, Any], Any] = _keep
  pretrain: Optional[Callable] = None
  # Whether each seed's pre-training stops on its own criterion: vmapped seeds would all run as long as the
  # slowest one, so such phases map their seeds (``rnnstab.experiment.init_mode``).
  stops_early: bool = False


def _recurrent(kind: str):
  def configure(cell, config):
    def leaf(c):
      if kind not in getattr(c, "recurrent_inits", ()):
        valid = [n for n in CELLS.names() if kind in CELLS[n].recurrent_inits]
        raise ValueError(f"--init={kind} does not apply to {type(c).__name__}; cells that support it: "
                         f"{', '.join(valid)}")
      return dataclasses.replace(c, recurrent_init=kind)
    return map_leaves(cell, leaf)
  return configure


def _chrono(cell, config):
  def leaf(c):
    if not isinstance(c, LSTM):
      raise ValueError(f"--init=chrono applies to LSTM cells only (got {type(c).__name__}); use --cell=lstm")
    return dataclasses.replace(c, chrono_max=config.seq_len)
  return map_leaves(cell, leaf)


def _forget_bias(cell, config):
  def leaf(c):
    if not isinstance(c, LSTM):
      raise ValueError(f"--init=forget_bias applies to LSTM cells only (got {type(c).__name__}); use --cell=lstm")
    return dataclasses.replace(c, forget_bias=1.0)
  return map_leaves(cell, leaf)


def _awh(cell, config):
  """``--init=awh``: the PLRNN's regularised units start as integrators (the fraction of ``--reg=mar``'s
  ``fraction`` option when given, else half)."""
  name, options = parse_reg(config.reg)
  fraction = options.get("fraction", MAR_FRACTION) if name == "mar" else MAR_FRACTION
  configure = _recurrent("awh")
  return map_leaves(configure(cell, config), lambda c: dataclasses.replace(c, reg_fraction=fraction))


def _trainable(name: str):
  """``configure`` of a pre-training init: a cell whose recurrent part is fixed (the ESN's reservoir, which
  passes its params through stop_gradient) would leave the phase with nothing to change."""
  def configure(cell, config):
    def leaf(c):
      if getattr(c, "trainable", True) is False:
        raise ValueError(f"--init={name}: the {type(c).__name__}'s reservoir is fixed, so pre-training cannot "
                         f"change it; use --init=default")
      return c
    return map_leaves(cell, leaf)
  return configure


def _has_double_layers(cell) -> bool:
  layers = cell.cells if isinstance(cell, Stack) else (cell,)
  return all(isinstance(c, Double) for c in layers)


def _warmup_pretrain(model, params, task, key, config):
  """``--init=warmup``: the paper's warmup of every seed (partial warmup when the layers are double).

  The seeds of a run share one iteration-length schedule (drawn from ``--seed``), so that vmapped seeds
  skip the iterations past each step's length together; everything else is drawn per seed."""
  schedule = jax.random.fold_in(jax.random.key(config.seed), 0x3A4)
  cell_params, info = warm_up(model.cell, params["cell"], lambda k: task.sample(k, WARMUP_BATCH).inputs, key,
                              steps=config.warmup_steps, lr=config.warmup_lr, target=config.vaa_target,
                              partial=_has_double_layers(model.cell), schedule_key=schedule)
  return {**params, "cell": cell_params}, info


def _lsc_pretrain(model, params, task, key, config):
  """``--init=lsc``: every seed pre-trained until each trained Jacobian radius (time, depth, decoder by
  default) is within 0.08 of its ``--lsc_targets`` target for 20 steps, or ``--lsc_steps``; radii by
  ``--lsc_method``."""
  targets = lsc_targets(config.lsc_targets, layers=config.layers, seq_len=config.seq_len,
                        kinds=tuple(config.lsc_kinds.split(",")))
  return lsc_pretrain(model.cell, params, lambda k: task.sample(k, LSC_BATCH).inputs, key, targets=targets,
                      readout=model.readout, method=config.lsc_method, lr=config.lsc_lr, max_steps=config.lsc_steps)


INITS = Registry("init")
INITS.register("default", Init(), "each cell's documented default initialisation")
INITS.register("orthogonal", Init(_recurrent("orthogonal")), "orthogonal recurrent kernel (per gate block)")
INITS.register("identity", Init(_recurrent("identity")), "identity recurrent kernel, zero bias (IRNN with --cell=relu; "
               "with --cell=plrnn A = I, W = 0, h = 0, the iPLRNN of Schmidt et al. 2021)")
INITS.register("irnn", Init(_recurrent("irnn")), "ReLU RNN: identity recurrent kernel, zero bias, input weights "
               "N(0, 1/H^2): the iRNN baseline of the rPLRNN paper as its authors' code builds it")
INITS.register("forget_bias", Init(_forget_bias),
               "LSTM forget-gate bias + 1 (Gers et al. 2000; the LSTM baseline of the rPLRNN paper)")
INITS.register("awh", Init(_awh), "PLRNN: regularised units start at A_ii = 1, W_i. = 0, h_i = 0 "
               "(with --reg=mar the rPLRNN of Schmidt et al. 2021; alone, the rPLRNN without its penalty)")
INITS.register("chrono", Init(_chrono), "chrono-LSTM: forget bias log U[1, T-1], input bias its negative")
INITS.register("warmup", Init(_trainable("warmup"), pretrain=_warmup_pretrain),
               "warm up to VAA* = --vaa_target (Lambrechts et al. 2023); with --double only the first halves")
INITS.register("lsc", Init(_trainable("lsc"), pretrain=_lsc_pretrain, stops_early=True),
               "pre-train Jacobian radii to the Local Stability Condition, --lsc_targets (Herranz-Celotti & Rouat)")

__all__ = ["INITS", "Init"]
