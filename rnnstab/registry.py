"""Small name -> object registries behind the command-line flags (--cell, --init, --task, --optimizer)."""
from __future__ import annotations

from typing import Any


class Registry:
  """A name -> object map whose lookups fail with one line naming the valid choices.

  Later modules extend a registry by calling ``register``; the command line validates against whatever is
  registered, so a new init or cell is reachable from ``experiments/run.py`` without touching it.
  """

  def __init__(self, kind: str):
    self.kind = kind
    self._items: dict[str, Any] = {}
    self._docs: dict[str, str] = {}

  def register(self, name: str, obj: Any, doc: str = "") -> Any:
    if name in self._items:
      raise ValueError(f"{self.kind} {name!r} is already registered")
    self._items[name] = obj
    self._docs[name] = doc
    return obj

  def __getitem__(self, name: str) -> Any:
    if name not in self._items:
      raise ValueError(f"unknown {self.kind} {name!r}; valid choices: {', '.join(self.names())}")
    return self._items[name]

  def __contains__(self, name: str) -> bool:
    return name in self._items

  def names(self) -> list[str]:
    return sorted(self._items)

  def help(self) -> str:
    return "; ".join(f"{n}: {self._docs[n]}" for n in self.names())
