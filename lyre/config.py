"""Twelve-factor configuration: values from the environment, then a ``.env`` file, then defaults.

``environ`` is a proxy over ``os.environ`` that refuses to change a key once it has been read, so a
test suite that sets variables after settings were loaded fails loudly instead of silently using
stale values.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from pathlib import Path
from typing import Any, TypeVar, overload

__all__ = ["Config", "Environ", "EnvironError", "environ", "undefined"]

T = TypeVar("T")


class undefined:  # public name kept from the original API
    """Sentinel: "no default was given" (the class itself is the marker)."""


class EnvironError(Exception):
    """Raised when changing an environment variable whose value has already been read."""


class Environ(MutableMapping[str, str]):
    """A mapping over ``environ`` that records every key read and then locks it against changes."""

    def __init__(self, environ: MutableMapping[str, str] = os.environ) -> None:
        self._backing = environ
        self._locked: set[str] = set()

    def _ensure_unread(self, key: str, action: str) -> None:
        if key in self._locked:
            raise EnvironError(
                f"Attempting to {action} environ['{key}'], but the value has already been read."
            )

    def __getitem__(self, key: str) -> str:
        # Recorded before the lookup: asking for an absent key also locks it.
        self._locked.add(key)
        return self._backing[key]

    def __setitem__(self, key: str, value: str) -> None:
        self._ensure_unread(key, "set")
        self._backing[key] = value

    def __delitem__(self, key: str) -> None:
        self._ensure_unread(key, "delete")
        del self._backing[key]

    def __len__(self) -> int:
        return len(self._backing)

    def __iter__(self) -> Iterator[str]:
        return iter(self._backing)


environ = Environ()

_BOOLS = {"true": True, "1": True, "false": False, "0": False}
_QUOTES = ('"', "'")


class Config:
    """Reads settings: ``config("KEY", cast=int, default=...)``.

    Lookup order for ``env_prefix + key``: the environment, then ``env_file``, then ``default``.
    Found values and defaults are passed through ``cast`` (with ``bool`` understanding
    ``true/false/1/0``); a failing cast becomes a ``ValueError`` naming the key.
    """

    def __init__(
        self,
        env_file: str | Path | None = None,
        environ: Mapping[str, str] = environ,
        env_prefix: str = "",
        encoding: str = "utf-8",
    ) -> None:
        self.environ, self.env_prefix = environ, env_prefix
        self.file_values: dict[str, str] = {}
        if env_file is None:
            return
        if not os.path.isfile(env_file):
            warnings.warn(f"Config file '{env_file}' not found.", stacklevel=2)
            return
        self.file_values = self._read_file(env_file, encoding)

    @overload
    def __call__(self, key: str, *, default: None) -> str | None: ...

    @overload
    def __call__(self, key: str, cast: type[T], default: T = ...) -> T: ...

    @overload
    def __call__(self, key: str, cast: type[str] = ..., default: str = ...) -> str: ...

    @overload
    def __call__(self, key: str, cast: Callable[[Any], T] = ..., default: Any = ...) -> T: ...

    @overload
    def __call__(self, key: str, cast: type[str] = ..., default: T = ...) -> T | str: ...

    def __call__(self, key: str, cast: Callable[[Any], Any] | None = None, default: Any = undefined) -> Any:
        return self.get(key, cast, default)

    def get(self, key: str, cast: Callable[[Any], Any] | None = None, default: Any = undefined) -> Any:
        """The value for ``env_prefix + key`` (environment, then file, then default), cast."""
        key = self.env_prefix + key
        if key in self.environ:
            return self._perform_cast(key, self.environ[key], cast)
        if key in self.file_values:
            return self._perform_cast(key, self.file_values[key], cast)
        if default is not undefined:
            return self._perform_cast(key, default, cast)
        raise KeyError(f"Config '{key}' is missing, and has no default.")

    def _read_file(self, file_name: str | Path, encoding: str) -> dict[str, str]:
        values: dict[str, str] = {}
        with open(file_name, encoding=encoding) as input_file:
            for raw_line in input_file:
                line = raw_line.strip()
                if "=" not in line or line.startswith("#"):
                    continue
                key, value = line.split("=", 1)
                key = key.strip()
                value = value.strip()
                if len(value) >= 2 and value[0] == value[-1] and value[0] in _QUOTES:
                    value = value[1:-1]
                values[key] = value
        return values

    def _perform_cast(self, key: str, value: Any, cast: Callable[[Any], Any] | None = None) -> Any:
        if cast is None or value is None:
            return value
        if cast is bool and isinstance(value, str):
            lowered = value.lower()
            try:
                return _BOOLS[lowered]
            except KeyError:
                raise ValueError(f"Config '{key}' has value '{lowered}'. Not a valid bool.") from None
        try:
            return cast(value)
        except (TypeError, ValueError) as exc:
            name = getattr(cast, "__name__", repr(cast))
            raise ValueError(f"Config '{key}' has value '{value}'. Not a valid {name}.") from exc
