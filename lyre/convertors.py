"""Path parameter convertors: the regex a parameter matches and its URL <-> Python mapping."""

from __future__ import annotations

import math
import uuid
from typing import Any, ClassVar, Generic, TypeVar

T = TypeVar("T")

__all__ = [
    "CONVERTOR_TYPES",
    "Convertor",
    "FloatConvertor",
    "IntegerConvertor",
    "PathConvertor",
    "StringConvertor",
    "UUIDConvertor",
    "register_url_convertor",
]


class Convertor(Generic[T]):
    """Base class: ``regex`` for matching, ``to_string`` value->URL, ``convert`` URL->value."""

    regex: ClassVar[str] = ""

    def to_string(self, value: T) -> str:
        raise NotImplementedError()  # pragma: no cover

    def convert(self, value: str) -> T:
        raise NotImplementedError()  # pragma: no cover


class StringConvertor(Convertor[str]):
    """One path segment: anything but ``/``."""

    regex = "[^/]+"

    def to_string(self, value: str) -> str:
        segment = str(value)
        assert segment, "Must not be empty"
        assert "/" not in segment, "May not contain path separators"
        return segment

    def convert(self, value: str) -> str:
        return value


class PathConvertor(Convertor[str]):
    """The rest of the path, slashes included."""

    regex = ".*"

    def to_string(self, value: str) -> str:
        return str(value)

    def convert(self, value: str) -> str:
        return str(value)


class IntegerConvertor(Convertor[int]):
    """Non-negative decimal integers."""

    regex = "[0-9]+"

    def to_string(self, value: int) -> str:
        integer = int(value)
        assert integer >= 0, "Negative integers are not supported"
        return f"{integer}"

    def convert(self, value: str) -> int:
        return int(value)


class FloatConvertor(Convertor[float]):
    """Non-negative decimals such as ``3`` or ``2.5``."""

    regex = r"[0-9]+(\.[0-9]+)?"

    def to_string(self, value: float) -> str:
        real = float(value)
        assert not math.isnan(real), "NaN values are not supported"
        assert not math.isinf(real), "Infinite values are not supported"
        assert real >= 0, "Negative floats are not supported"
        # Fixed-point with no exponent, then trim the trailing zeros (and a bare ".").
        return format(real, ".20f").rstrip("0").rstrip(".")

    def convert(self, value: str) -> float:
        return float(value)


class UUIDConvertor(Convertor[uuid.UUID]):
    """UUIDs, with or without dashes; rendered lower-case and dashed."""

    regex = "[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"

    def to_string(self, value: uuid.UUID) -> str:
        return str(value)

    def convert(self, value: str) -> uuid.UUID:
        return uuid.UUID(value)


# The built-in ``{name:type}`` parameter types, in declaration order.
CONVERTOR_TYPES: dict[str, Convertor[Any]] = dict(
    str=StringConvertor(),
    path=PathConvertor(),
    int=IntegerConvertor(),
    float=FloatConvertor(),
    uuid=UUIDConvertor(),
)


def register_url_convertor(key: str, convertor: Convertor[Any]) -> None:
    """Add or replace a convertor type usable as ``{name:key}`` in templates compiled later."""
    CONVERTOR_TYPES[key] = convertor
