"""Small name -> object registries behind the command-line flags (--cell, --init, --task, --optimizer, --env),
and the ``name:key=value`` option specs of tasks and environments."""
from __future__ import annotations

import dataclasses
import functools
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


def _dataclass_of(factory) -> tuple[type, set]:
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


def _convert(flag: str, name: str, key: str, kind: type, text: str):
  if kind is bool:
    if text.lower() not in ("true", "false", "1", "0"):
      raise ValueError(f"--{flag}: option {key} of {name} must be true or false, got {text!r}")
    return text.lower() in ("true", "1")
  if kind in (int, float):
    try:
      return kind(text)
    except ValueError:
      what = "an integer" if kind is int else "a number"
      raise ValueError(f"--{flag}: option {key} of {name} must be {what}, got {text!r}") from None
  return text


def parse_spec(spec: str, registry: Registry, flag: str, positional: tuple[str, ...] = ()) -> tuple[str, dict]:
  """``"name:key=value,key=value"`` -> (name, options) for a registry of dataclass factories.

  The options are fields of the registered dataclass (all but ``positional`` ones, which have flags of
  their own, and those a ``functools.partial`` fixes), each converted to the field's type.

  Args:
    spec: ``name`` or ``name:key=value,key=value``.
    registry: where ``name`` is looked up.
    flag: the command-line flag the spec came from, for the error messages.
    positional: fields set by other flags (``seq_len`` for tasks, ``length`` for environments).

  Returns:
    The registered name and its options.

  Raises:
    ValueError: with one line naming ``--flag`` and the valid choices or options.
  """
  if not isinstance(spec, str):
    raise ValueError(f"--{flag}: expected a {registry.kind} name, got {spec!r}; valid choices: "
                     f"{', '.join(registry.names())}")
  name, colon, rest = spec.partition(":")
  if name not in registry:
    raise ValueError(f"--{flag}: unknown {registry.kind} {name!r}; valid choices: {', '.join(registry.names())}")
  cls, fixed = _dataclass_of(registry[name])
  fields = {f.name: f for f in dataclasses.fields(cls) if f.init and f.name not in positional and f.name not in fixed}
  valid = f"valid options: {', '.join(fields)}" if fields else f"{name} takes no options"
  options = {}
  for item in rest.split(",") if colon else ():
    key, eq, value = item.partition("=")
    if not key:
      raise ValueError(f"--{flag}: expected {name}:key=value,key=value, got {spec!r}; {valid}")
    if key not in fields:
      raise ValueError(f"--{flag}: {name} has no option {key!r}; {valid}")
    if not eq or not value:
      raise ValueError(f"--{flag}: option {key} of {name} needs a value: write {name}:{key}=value")
    if key in options:
      raise ValueError(f"--{flag}: option {key} of {name} is given twice in {spec!r}")
    options[key] = _convert(flag, name, key, _kind(fields[key]), value)
  return name, options
