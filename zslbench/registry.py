"""The method registry: one generic name -> object registry and :data:`METHODS`.

Registration is by decorator; a duplicate name is an error, and an unknown name is answered with the
closest registered names. Method modules are discovered lazily (on the first lookup), so importing the
CLI does not import every method family: every module of the ``zslbench.methods`` package (the
``methods/`` folder of the checkout) whose name does not start with "_".

To add a method without touching the installed package, copy ``methods/`` somewhere, add your file and
set ``ZSLBENCH_METHODS_DIR`` to that folder: it is then read *instead of* the installed one (as the
``zslbench.methods`` package, so ``from zslbench.methods.icis import ...`` finds the copy's modules).
"""

from __future__ import annotations

import difflib
import importlib
import os
import pkgutil
from pathlib import Path
from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class RegistryError(KeyError):
    """An unknown or duplicate registry name."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain.
        return str(self.args[0])


class Registry(Generic[T]):
    """A name -> object mapping with decorator registration.

    Args:
        kind: what the registry holds ("method", "dataset"), used in messages.
        discover: optional callable run once before the first lookup (imports the modules that register).
    """

    def __init__(self, kind: str, discover: Callable[[], None] | None = None) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._discover = discover
        self._discovered = discover is None

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: register ``obj`` under ``name``; a name already taken raises RegistryError."""

        def decorate(obj: T) -> T:
            self.add(name, obj)
            return obj

        return decorate

    def add(self, name: str, obj: T) -> None:
        if name in self._items and self._items[name] is not obj:
            raise RegistryError(f"{self.kind} {name!r} is already registered (by {self._items[name]!r})")
        self._items[name] = obj

    def _ensure(self) -> None:
        if not self._discovered:
            self._discovered = True
            assert self._discover is not None
            self._discover()

    def get(self, name: str) -> T:
        self._ensure()
        try:
            return self._items[name]
        except KeyError:
            close = difflib.get_close_matches(name, self._items, n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise RegistryError(
                f"unknown {self.kind} {name!r}{hint} (known: {', '.join(sorted(self._items))})"
            ) from None

    def __contains__(self, name: object) -> bool:
        self._ensure()
        return name in self._items

    def names(self) -> list[str]:
        self._ensure()
        return sorted(self._items)

    def items(self) -> Iterator[tuple[str, T]]:
        self._ensure()
        return iter(sorted(self._items.items()))


METHODS_DIR_ENV = "ZSLBENCH_METHODS_DIR"
"""Environment variable: a folder of method files read instead of the installed ``methods/``."""


def _import_method_modules() -> None:
    """Import every module of ``zslbench.methods`` (or of ``$ZSLBENCH_METHODS_DIR``) so that their
    decorators register them."""
    package = importlib.import_module("zslbench.methods")
    folder = os.environ.get(METHODS_DIR_ENV)
    if folder:
        path = Path(folder).expanduser().resolve()
        if not path.is_dir():
            raise RegistryError(f"{METHODS_DIR_ENV}={folder}: not a folder of method files")
        package.__path__ = [str(path)]
    for info in pkgutil.iter_modules(package.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"zslbench.methods.{info.name}")


METHODS: Registry = Registry("method", discover=_import_method_modules)
"""All methods, by registry name (e.g. ``"icis"``, ``"ridge_v2s"``)."""


def register_method(name: str):
    """Class decorator: register a :class:`zslbench.method.Method` subclass and set its ``name``."""

    def decorate(cls):
        cls.name = name
        METHODS.add(name, cls)
        return cls

    return decorate
