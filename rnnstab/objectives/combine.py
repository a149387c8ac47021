"""Adding an rnnstab objective (LSC, warmup's VAA*) to the loss of a model a user already has."""
from __future__ import annotations

from typing import Any, Callable


def with_objective(task_loss: Callable, objective: Callable, weight: float, *,
                   cell_params: Callable[[Any], Any] = lambda params: params,
                   inputs: Callable[[Any], Any] = lambda batch: batch) -> Callable:
  """``task_loss + weight * objective`` as one loss function of (params, batch, key).

  Args:
    task_loss: the user's loss, ``task_loss(params, batch) -> scalar``.
    objective: an rnnstab objective ``objective(cell_params, inputs, key) -> (scalar, aux)``, e.g.
      ``lsc_loss(cell, targets=...)`` or ``warmup_loss(cell)``.
    weight: the objective's weight.
    cell_params: picks the recurrent cell's params out of the model's (e.g.
      ``lambda p: p["params"]["gru"]`` for a Flax model whose GRU cell is named "gru").
    inputs: turns the user's batch into the objective's time-major (T, n, D) inputs.

  Returns:
    ``loss(params, batch, key) -> (total, {"task": ..., "objective": ..., "objective_aux": ...})``, ready for
    ``jax.value_and_grad(loss, has_aux=True)`` and any optax optimiser.

  Example:
    >>> loss = with_objective(my_loss, lsc_loss(FlaxCell(nn.GRUCell(64)), targets=lsc_targets("one", layers=1,
    ...                       seq_len=T)), 0.1, cell_params=lambda p: p["gru"],
    ...                       inputs=lambda b: jnp.swapaxes(b[0], 0, 1))

  References:
    Herranz-Celotti & Rouat, arXiv 2308.12075 (LSC); Lambrechts et al., arXiv 2106.01001 (VAA*).
  """

  def loss(params, batch, key):
    task = task_loss(params, batch)
    value, aux = objective(cell_params(params), inputs(batch), key)
    return task + weight * value, {"task": task, "objective": value, "objective_aux": aux}

  return loss
