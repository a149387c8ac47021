"""The run configurations: the settings every run shares (``NetworkConfig``) and a supervised run's (``Config``);
frozen dataclasses, validated once, with errors that name the flag."""
from __future__ import annotations

import dataclasses
import sys
from typing import Callable

from rnnstab.cells import CELLS
from rnnstab.inits import INITS
from rnnstab.analysis.jacobians import METHODS as LSC_METHODS
from rnnstab.objectives.lsc import lsc_targets
from rnnstab.optimizers import OPTIMIZERS
from rnnstab.regularisers import parse_reg
from rnnstab.tasks import make_task, parse_task
from rnnstab.unroll import BACKENDS

SEED_PARALLEL = ("auto", "vmap", "map")
TRAIN = ("all", "readout")
READOUT_FITS = ("ridge", "gd")


@dataclasses.dataclass(frozen=True)
class NetworkConfig:
  """The settings every kind of run shares: the recurrent network, its initialisation and pre-training, the
  seeds and how they share the machine, and the multistability measurements. ``Config`` (supervised tasks)
  and ``rnnstab.rl.RLConfig`` (reinforcement learning) extend it; field names are their flags.

  Attributes:
    cell: recurrent cell name (``rnnstab.cells.CELLS``).
    init: initialisation name (``rnnstab.inits.INITS``), e.g. default, orthogonal, identity, chrono, warmup;
      warmup and LSC pre-train on the task's inputs (on exploration-policy histories in RL).
    seeds: how many seeds train in parallel.
    seed: base seed; seed i of the run uses ``split(key(seed), seeds)[i]``.
    hidden: units per layer (with ``double``, split in two halves).
    layers: depth of the stack.
    double: each layer is two parallel half-width cells (the warmup paper's double layer).
    seed_parallel: how seeds share the machine: "vmap" (one batched program), "map" (one seed after
      another inside one compiled program), an integer g (vmap groups of g seeds, mapped over groups), or
      "auto" (vmap on GPU/TPU, groups of seeds sized to fit the CPU cache on CPU).
    warmup_steps: Adam steps of ``--init=warmup`` (100 in the warmup paper).
    warmup_lr: learning rate of the warmup phase (1e-2).
    vaa_target: the VAA* each layer is warmed up to (0.95).
    lsc_targets: target rule of ``--init=lsc``: "one" (radius 1 in time and depth, the default the
      measurements support), "half" (0.5 each in a deep stack) or "unbalanced" (time T/(L+T), depth L/(L+T),
      T the sequence length or, in RL, the episode horizon).
    lsc_kinds: comma-separated Jacobian kinds ``--init=lsc`` trains (time, depth, encoder, decoder).
    lsc_steps: step budget of the LSC pre-training (it stops earlier once every radius is within 0.08 of
      its target for 20 steps).
    lsc_lr: AdaBelief learning rate of the LSC pre-training.
    lsc_method: how the LSC radii are computed: "exact" (each Jacobian formed, its radius by Gelfand's
      formula), "power" (power iteration on Jacobian-vector products: about 2x faster at 64 units per
      layer, and the choice for wide layers, where forming Jacobians costs one JVP per state unit) or
      "auto" (the default: exact up to 256 state entries per sample, power above).
    analysis_steps: autonomous iteration budget of each multistability measurement (10,000 in the paper).
    analysis_samples: starting states per measurement (sequences of the task, or exploration histories in
      RL, fixed per seed).
  """

  # Defaults: the papers' two-layer setting, at a size where copy-first-input (T = 50, ``Config``) is learnt
  # by every seed in about a minute on two CPU cores (eval MSE from 1.0, chance, to about 0.01).
  cell: str = "brc"
  init: str = "default"
  seeds: int = 4
  seed: int = 0
  hidden: int = 64
  layers: int = 2
  double: bool = False
  seed_parallel: str = "auto"
  warmup_steps: int = 100
  warmup_lr: float = 1e-2
  vaa_target: float = 0.95
  lsc_targets: str = "one"
  lsc_kinds: str = "time,depth,decoder"
  lsc_steps: int = 500
  lsc_lr: float = 1e-2
  lsc_method: str = "auto"
  analysis_steps: int = 10_000
  analysis_samples: int = 32

  def check_network(self) -> None:
    """The checks of the shared settings, each error naming its flag. Subclasses call it at the end of
    their ``__post_init__``: the LSC target rule needs their (validated) ``seq_len``."""
    for flag, registry in (("cell", CELLS), ("init", INITS)):
      if getattr(self, flag) not in registry:
        raise ValueError(f"--{flag}: unknown {flag} {getattr(self, flag)!r}; valid choices: "
                         f"{', '.join(registry.names())}")
    for flag in ("seeds", "hidden", "layers", "warmup_steps", "lsc_steps", "analysis_steps", "analysis_samples"):
      value = getattr(self, flag)
      if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"--{flag}: must be a positive integer, got {value!r}")
    if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
      raise ValueError(f"--seed: must be a non-negative integer, got {self.seed!r}")
    for flag in ("warmup_lr", "lsc_lr"):
      value = getattr(self, flag)
      if not (value > 0 and value < float("inf")):
        raise ValueError(f"--{flag}: must be a positive finite number, got {value!r}")
    if self.lsc_method not in LSC_METHODS:
      raise ValueError(f"--lsc_method: unknown method {self.lsc_method!r}; valid choices: {', '.join(LSC_METHODS)}")
    lsc_targets(self.lsc_targets, layers=self.layers, seq_len=self.seq_len, kinds=tuple(self.lsc_kinds.split(",")))
    if not 0 < self.vaa_target <= 1:
      raise ValueError(f"--vaa_target: must be in (0, 1] (VAA* lies in (0, 1]), got {self.vaa_target!r}")
    if self.double and self.hidden % 2:
      raise ValueError(f"--hidden: must be even with --double (two halves), got {self.hidden}")
    if not (self.seed_parallel in SEED_PARALLEL or (self.seed_parallel.isdigit() and int(self.seed_parallel) > 0)):
      raise ValueError(f"--seed_parallel: must be one of {', '.join(SEED_PARALLEL)} or a positive integer "
                       f"group size, got {self.seed_parallel!r}")
    if self.seed_parallel.isdigit() and self.seeds % int(self.seed_parallel):
      raise ValueError(f"--seed_parallel: group size {self.seed_parallel} must divide --seeds={self.seeds}")


@dataclasses.dataclass(frozen=True)
class Config(NetworkConfig):
  """Everything that defines a supervised run. Field names are the command-line flags of ``experiments/run.py``;
  the network, init, seed and measurement settings are ``NetworkConfig``'s.

  Attributes:
    task: task name (``rnnstab.tasks.TASKS``), with options as "name:key=value,key=value" (fields of the
      task, e.g. "recall:delay=10" or "dyck1:generalise=10"; ``rnnstab.tasks.make_task``).
    seq_len: sequence length T.
    batch: training batch size per seed.
    steps: training steps.
    lr: learning rate (at the first step, with --lr_half_life).
    lr_half_life: steps in which the learning rate halves (exponential decay, lr * 0.5 ** (step /
      lr_half_life)); 0 keeps it constant. Per step rather than over --steps, so a run extended to more
      steps follows the schedule it started with.
    optimizer: optax optimiser name (``rnnstab.optimizers.OPTIMIZERS``).
    clip: global gradient-norm clip (0: none).
    reg: regulariser added to the gradient before clipping: "none", or a name with options such as
      "mar:tau=5,fraction=0.5" (``rnnstab.regularisers``); ``--init=awh`` uses the same fraction.
    log_every: steps between evaluations and log lines (one jitted chunk of training).
    eval_batch: fresh evaluation sequences per seed at each evaluation.
    backend: time-loop implementation for ``unroll``: "auto" (fused Pallas kernels on GPU/TPU when the
      shapes fit, lax.scan otherwise and on CPU), "scan", "remat" (lax.scan recomputing each step in the
      backward pass: saves memory traffic, 1.5x faster PLRNN training on CPU), "pallas" (interpreted on
      CPU: tests only) or "wavefront" (the kernels, a deep stack as one anti-diagonal kernel).
    unroll: ``lax.scan`` unroll factor.
    recompute: with the Pallas backends, 0 keeps every step's state for the backward pass; K > 0 keeps
      one in K and recomputes the others in the backward kernel (K must divide --seq_len).
    train: what training changes: "all" (every parameter) or "readout" (reservoir mode: the recurrent part
      stays at its initialisation, after any warmup / LSC phase, and only the linear readout is fitted).
    readout_fit: with --train=readout, "ridge" (closed form on --ridge_batches batches at the start; the
      training steps then change nothing and --steps only paces the evaluations) or "gd" (the optimiser
      on the readout alone, without backpropagation through time).
    ridge: relative Tikhonov regularisation of the ridge readout (times the mean eigenvalue of the
      centred Gram matrix of the network's outputs).
    ridge_batches: batches of --batch sequences the ridge readout is fitted on.
    analysis_every: measure reachable multistability (VAA, stable equilibria) at the first evaluation at or
      after every multiple of this many steps, at the start (before and after a pre-training phase) and at
      the end; 0 turns it off.
    checkpoint_every: save every seed's training state (orbax, in the run directory's checkpoints/) after
      the init, at the first evaluation at or after every multiple of this many steps, and at the end, so
      that ``--resume`` continues a killed run; 0 turns it off.
    report: write report.html at the end: one self-contained page with the learning curves, multistability
      over training, and seed 0's gradient grid, Jacobian spectra and attractors at initialisation, after
      pre-training and after training (``rnnstab.report``); the environment variable RNNSTAB_SKIP_REPORT=1
      turns it off for every run (the test suite sets it).
  """

  task: str = "copy"
  seq_len: int = 50
  batch: int = 32
  steps: int = 2000
  lr: float = 3e-3
  lr_half_life: int = 0
  optimizer: str = "adam"
  clip: float = 0.0
  reg: str = "none"
  log_every: int = 200
  eval_batch: int = 256
  backend: str = "auto"
  unroll: int = 1
  recompute: int = 0
  train: str = "all"
  readout_fit: str = "ridge"
  ridge: float = 1e-6
  ridge_batches: int = 8
  analysis_every: int = 1000
  checkpoint_every: int = 1000
  report: bool = True

  def __post_init__(self):
    parse_task(self.task)  # the name and its options ("recall:delay=10"); their ranges below
    if self.optimizer not in OPTIMIZERS:
      raise ValueError(f"--optimizer: unknown optimizer {self.optimizer!r}; valid choices: "
                       f"{', '.join(OPTIMIZERS.names())}")
    for flag in ("seq_len", "batch", "steps", "log_every", "eval_batch", "unroll"):
      value = getattr(self, flag)
      if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"--{flag}: must be a positive integer, got {value!r}")
    # The task's own checks (option ranges, --seq_len against its options), now that seq_len is an integer.
    make_task(self.task, self.seq_len)
    if not self.lr > 0 or self.lr != self.lr or self.lr == float("inf"):
      raise ValueError(f"--lr: must be a positive finite number, got {self.lr!r}")
    for flag in ("lr_half_life", "analysis_every", "checkpoint_every"):
      if not isinstance(getattr(self, flag), int) or getattr(self, flag) < 0:
        raise ValueError(f"--{flag}: must be a non-negative integer (0: off), got {getattr(self, flag)!r}")
    parse_reg(self.reg)
    if self.train not in TRAIN:
      raise ValueError(f"--train: unknown choice {self.train!r}; valid choices: {', '.join(TRAIN)}")
    if self.readout_fit not in READOUT_FITS:
      raise ValueError(f"--readout_fit: unknown choice {self.readout_fit!r}; valid choices: {', '.join(READOUT_FITS)}")
    if not (self.ridge >= 0 and self.ridge < float("inf")):
      raise ValueError(f"--ridge: must be a non-negative finite number, got {self.ridge!r}")
    if not isinstance(self.ridge_batches, int) or self.ridge_batches < 1:
      raise ValueError(f"--ridge_batches: must be a positive integer, got {self.ridge_batches!r}")
    if not self.clip >= 0:
      raise ValueError(f"--clip: must be >= 0 (0 disables clipping), got {self.clip!r}")
    if self.backend not in BACKENDS:
      raise ValueError(f"--backend: unknown backend {self.backend!r}; valid choices: {', '.join(BACKENDS)}")
    if self.recompute < 0 or (self.recompute and self.seq_len % self.recompute):
      raise ValueError(f"--recompute: must be 0 or a divisor of --seq_len={self.seq_len}, got {self.recompute}")
    if self.recompute and self.backend == "wavefront":
      raise ValueError("--recompute: not available with --backend=wavefront; use --backend=pallas")
    self.check_network()


def field_help(cls=None) -> dict:
  """Each field's help text, from the "Attributes:" sections of the config dataclass's docstring and its
  bases' (one source of truth for the docs and ``--help``)."""
  out = {}
  for klass in reversed((cls or Config).__mro__):
    if "Attributes:" not in (klass.__dict__.get("__doc__") or ""):
      continue
    name = None
    for line in klass.__doc__.split("Attributes:", 1)[1].splitlines():
      head = line.strip().split(":", 1)
      if line.startswith("    ") and not line.startswith("      ") and len(head) == 2:
        name, out[head[0]] = head[0], head[1].strip()
      elif name and line.strip():
        out[name] += " " + line.strip()
  return out


def parse_field(name: str, text: str, cls=None):
  """A config field's value from its command-line text, with a one-line error naming the flag.

  Args:
    name: a field name of ``cls``.
    text: the flag's text.
    cls: the config dataclass (default ``Config``; ``rnnstab.rl.RLConfig`` for RL runs).

  Returns:
    The value converted to the field's type (str, int, float or bool).
  """
  fields = {f.name: f for f in dataclasses.fields(cls or Config)}
  if name not in fields:
    raise ValueError(f"--{name}: not a setting of a run; valid choices: {', '.join(fields)}")
  kind = type(fields[name].default)
  if kind is str:
    return text
  if kind is bool:
    if text.lower() not in ("true", "false", "1", "0"):
      raise ValueError(f"--{name}: expected true or false, got {text!r}")
    return text.lower() in ("true", "1")
  try:
    return kind(text)
  except ValueError:
    raise ValueError(f"--{name}: expected {'an integer' if kind is int else 'a number'}, got {text!r}") from None


def define_flags(cls, choices: dict) -> None:
  """One absl flag per field of the config dataclass ``cls``, with the field's docstring as help (plus the
  registered choices for the fields in ``choices``, name -> Registry). Booleans are bool flags; every other
  field is a string flag that ``config_from_flags`` parses by the field's type, so a bad value gets our
  one-line error instead of absl's."""
  from absl import flags
  helps = field_help(cls)
  for f in dataclasses.fields(cls):
    text = helps.get(f.name, f.name)
    if f.name in choices:
      text += f" Choices: {choices[f.name].help()}"
    if isinstance(f.default, bool):
      flags.DEFINE_bool(f.name, f.default, text)
    else:
      flags.DEFINE_string(f.name, str(f.default), text)


def config_from_flags(cls, values):
  """The config ``cls`` from parsed absl flag ``values`` (``flags.FLAGS``) defined by ``define_flags``."""
  return cls(**{f.name: getattr(values, f.name) if isinstance(f.default, bool)
                else parse_field(f.name, getattr(values, f.name), cls) for f in dataclasses.fields(cls)})


def flags_parser(script: str) -> Callable[[list[str]], list[str]]:
  """A parser for ``app.run(main, flags_parser=...)``: a flag absl rejects (unknown, a value outside an
  enum's choices, text for a number) becomes the one line ``script: error: ...`` with exit code 2, as
  the study's own checks do, instead of absl's two-line FATAL message with exit code 1."""
  from absl import flags

  def parse(argv: list[str]) -> list[str]:
    try:
      return flags.FLAGS(argv)
    except flags.Error as e:
      print(f"{script}: error: {e}", file=sys.stderr)
      sys.exit(2)
  return parse
