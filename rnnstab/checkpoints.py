"""Checkpoints of a run's training state (orbax), so that ``--resume`` continues a killed run.

A checkpoint holds every seed's ``TrainState`` exactly as the devices hold it (orbax writes sharded arrays
shard by shard, from every host) and a small JSON record of the host-side loop: steps done, elapsed
times, the last evaluation. Training is a pure function of that state (batches are
``fold_in(data_key, step)``), so a run resumed from step k computes the same numbers as one that never
stopped. Orbax writes each checkpoint into a temporary directory and renames it when complete: a run
killed while saving leaves the previous checkpoint as the latest one.

Example:
  >>> ckpt = Checkpointer(run_dir / "checkpoints")
  >>> ckpt.save(100, states, {"done": 100})
  >>> states, meta = ckpt.restore(like=states)          # the latest checkpoint
"""
from __future__ import annotations

import os
from typing import Any

import jax

# Two checkpoints, so that one complete checkpoint survives a kill while the next is being written.
KEEP = 2


def _is_key(x) -> bool:
  return hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _to_storable(tree):
  return jax.tree_util.tree_map(lambda x: jax.random.key_data(x) if _is_key(x) else x, tree)


def _abstract(tree):
  """Shapes, dtypes and shardings of ``tree`` (keys as their raw data) for a restore into the same layout."""
  def spec(x):
    sharding = getattr(x, "sharding", None)
    if _is_key(x):
      x = jax.eval_shape(jax.random.key_data, x)
    return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding)
  return jax.tree_util.tree_map(spec, tree)


class Checkpointer:
  """Saves and restores a run's seeds' training states under ``directory`` (one subdirectory per step).

  Every process of a multi-host run must call ``save`` and ``restore`` (each writes its own shards).
  """

  def __init__(self, directory: str | os.PathLike):
    import orbax.checkpoint as ocp  # imported here: only runs that checkpoint pay for it
    self._ocp = ocp
    options = ocp.CheckpointManagerOptions(max_to_keep=KEEP, enable_async_checkpointing=False)
    self._manager = ocp.CheckpointManager(os.path.abspath(directory), options=options)

  def latest_step(self) -> int | None:
    """The step of the newest complete checkpoint, or None when there is none."""
    return self._manager.latest_step()

  def save(self, step: int, states: Any, meta: dict) -> None:
    """Writes ``states`` (any pytree of arrays; typed PRNG keys allowed) and the JSON-able ``meta``."""
    ocp = self._ocp
    self._manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(_to_storable(states)),
                                                      meta=ocp.args.JsonSave(meta)), force=True)
    self._manager.wait_until_finished()

  def restore(self, like: Any, step: int | None = None) -> tuple[Any, dict]:
    """The states and meta of checkpoint ``step`` (default: the latest).

    Args:
      like: a pytree with the structure, shapes, dtypes and shardings to restore into (arrays or
        ``jax.ShapeDtypeStruct``s, e.g. from ``jax.eval_shape``); typed-key leaves come back as keys.
      step: which checkpoint; the latest when None.

    Returns:
      (states, meta).
    """
    ocp = self._ocp
    step = self.latest_step() if step is None else step
    if step is None:
      raise FileNotFoundError(f"no checkpoint under {self._manager.directory}")
    out = self._manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(_abstract(like)),
                                                               meta=ocp.args.JsonRestore()))
    # Orbax stores raw key data: typed keys are rebuilt with the implementation of ``like``'s keys (the
    # default implementation for abstract ones, which carry none that JAX exposes).
    like_leaves, treedef = jax.tree_util.tree_flatten(like)
    impl = lambda l: jax.random.key_impl(l) if isinstance(l, jax.Array) else None
    leaves = [jax.random.wrap_key_data(x, impl=impl(l)) if _is_key(l) else x
              for l, x in zip(like_leaves, treedef.flatten_up_to(out["state"]))]
    return treedef.unflatten(leaves), dict(out["meta"])

  def close(self) -> None:
    self._manager.close()
