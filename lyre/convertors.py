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
    """Base class: ``regex`` for matching, ``convert`` URL->value, ``to_string`` value->URL."""

    regex: ClassVar[str] = ""

    def convert(self, value: str) -> T:
        raise NotImplementedError()  # pragma: no cover

    def to_string(self, value: T) -> str:
        raise NotImplementedError()  # pragma: no cover


class StringConvertor(Convertor[str]):
    """One path segment: anything but ``/``."""

    regex = "[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        text = str(value)
        assert "/" not in text, "May not contain path separators"
        assert text, "Must not be empty"
        return text


class PathConvertor(Convertor[str]):
    """The rest of the path, slashes included."""

    regex = ".*"

    def convert(self, value: str) -> str:
        return str(value)

    def to_string(self, value: str) -> str:
        return str(value)


class IntegerConvertor(Convertor[int]):
    """Non-negative decimal integers."""

    regex = "[0-9]+"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        number = int(value)
        assert number >= 0, "Negative integers are not supported"
        return str(number)


class FloatConvertor(Convertor[float]):
    """Non-negative decimals such as ``3`` or ``2.5``."""

    regex = r"[0-9]+(\.[0-9]+)?"

    def convert(self, value: str) -> float:
        return float(value)

    def to_string(self, value: float) -> str:
        number = float(value)
        assert not math.isnan(number), "NaN values are not supported"
        assert not math.isinf(number), "Infinite values are not supported"
        assert number >= 0, "Negative floats are not supported"
        return (f"{number:.20f}").rstrip("0").rstrip(".")


class UUIDConvertor(Convertor[uuid.UUID]):
    """UUIDs, with or without dashes; rendered lower-case and dashed."""

    regex = "[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"

    def convert(self, value: str) -> uuid.UUID:
        return uuid.UUID(value)

    def to_string(self, value: uuid.UUID) -> str:
        return str(value)


CONVERTOR_TYPES: dict[str, Convertor[Any]] = {
    "str": StringConvertor(),
    "path": PathConvertor(),
    "int": IntegerConvertor(),
    "float": FloatConvertor(),
    "uuid": UUIDConvertor(),
}


def register_url_convertor(key: str, convertor: Convertor[Any]) -> None:
    """Add or replace a convertor type usable as ``{name:key}`` in templates compiled later."""
    CONVERTOR_TYPES[key] = convertor
