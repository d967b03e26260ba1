"""lyre.config: Environ locking, Config lookup order, .env parsing and casting."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from lyre.config import Config, Environ, EnvironError, environ, undefined
from lyre.datastructures import URL, CommaSeparatedStrings, Secret


def write_env(tmp_path: Path, text: str) -> Path:
    path = tmp_path / ".env"
    path.write_text(text, encoding="utf-8")
    return path


def test_environ_locks_keys_after_read() -> None:
    env = Environ({})
    env["A"] = "1"
    env["A"] = "2"
    del env["A"]
    env["B"] = "x"
    assert env["B"] == "x"
    with pytest.raises(EnvironError) as info:
        env["B"] = "y"
    assert str(info.value) == "Attempting to set environ['B'], but the value has already been read."
    with pytest.raises(EnvironError) as info:
        del env["B"]
    assert str(info.value) == "Attempting to delete environ['B'], but the value has already been read."
    assert env["B"] == "x"


def test_environ_absent_lookups_also_lock() -> None:
    env = Environ({})
    assert "MISSING" not in env
    with pytest.raises(EnvironError):
        env["MISSING"] = "late"
    assert env.get("OTHER") is None
    with pytest.raises(EnvironError):
        env["OTHER"] = "late"
    config = Config(environ=env)
    assert config("THIRD", default="d") == "d"
    with pytest.raises(EnvironError):
        env["THIRD"] = "late"


def test_environ_mapping_behaviour() -> None:
    backing = {"X": "1", "Y": "2"}
    env = Environ(backing)
    assert sorted(env) == ["X", "Y"]
    assert len(env) == 2
    env["Z"] = "3"
    assert backing["Z"] == "3"
    assert issubclass(EnvironError, Exception)


def test_module_environ_wraps_os_environ() -> None:
    key = "LYRE_TEST_CONFIG_MODULE_ENVIRON"
    environ[key] = "yes"
    try:
        assert os.environ[key] == "yes"
        assert Config()(key) == "yes"
        with pytest.raises(EnvironError):
            environ[key] = "no"
    finally:
        os.environ.pop(key, None)


def test_env_file_parsing(tmp_path: Path) -> None:
    path = write_env(
        tmp_path,
        "\n".join(
            [
                "# a comment",
                "DEBUG=true",
                "  SPACED  =  value with spaces  ",
                'DOUBLE="quoted"',
                "SINGLE='two'",
                "MIXED=\"x'",
                'ONE_QUOTE="',
                "EQUALS=a=b=c",
                "export E=5",
                "NO_EQUALS_LINE",
                "#COMMENTED=1",
                "EMPTY=",
                "INLINE=1 # not a comment",
            ]
        ),
    )
    config = Config(path, environ={})
    assert config.file_values == {
        "DEBUG": "true",
        "SPACED": "value with spaces",
        "DOUBLE": "quoted",
        "SINGLE": "two",
        "MIXED": "\"x'",
        "ONE_QUOTE": '"',
        "EQUALS": "a=b=c",
        "export E": "5",
        "EMPTY": "",
        "INLINE": "1 # not a comment",
    }
    assert Config(str(path), environ={})("SINGLE") == "two"


def test_missing_env_file_warns(tmp_path: Path) -> None:
    missing = tmp_path / "nope.env"
    with pytest.warns(UserWarning) as record:
        config = Config(missing, environ={})
    assert str(record[0].message) == f"Config file '{missing}' not found."
    assert config.file_values == {}


def test_encoding(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_bytes("NAME=caf\xe9\n".encode("latin-1"))
    assert Config(path, environ={}, encoding="latin-1")("NAME") == "café"


def test_lookup_order_and_prefix(tmp_path: Path) -> None:
    path = write_env(tmp_path, "APP_HOST=file-host\nAPP_PORT=8000\nPLAIN=p\n")
    config = Config(path, environ={"APP_HOST": "env-host"}, env_prefix="APP_")
    assert config("HOST") == "env-host"  # environment wins
    assert config("PORT", cast=int) == 8000  # then the file
    assert config("NAME", default="dflt") == "dflt"  # then the default
    with pytest.raises(KeyError) as info:
        config("PLAIN")
    assert info.value.args[0] == "Config 'APP_PLAIN' is missing, and has no default."
    assert config.env_prefix == "APP_"
    assert config.get("HOST") == "env-host"


def test_casts() -> None:
    config = Config(
        environ={
            "INT": "42",
            "FLOAT": "1.5",
            "T1": "True",
            "T2": "1",
            "F1": "FALSE",
            "F2": "0",
            "BADBOOL": "Yes",
            "BADINT": "4x",
            "SECRET": "hunter2",
            "HOSTS": "a.com, b.com,c.com",
            "URL": "https://example.com/db",
        }
    )
    assert config("INT", cast=int) == 42
    assert config("FLOAT", cast=float) == 1.5
    assert [config(k, cast=bool) for k in ("T1", "T2", "F1", "F2")] == [True, True, False, False]
    with pytest.raises(ValueError) as info:
        config("BADBOOL", cast=bool)
    assert str(info.value) == "Config 'BADBOOL' has value 'yes'. Not a valid bool."
    with pytest.raises(ValueError) as info:
        config("BADINT", cast=int)
    assert str(info.value) == "Config 'BADINT' has value '4x'. Not a valid int."
    secret = config("SECRET", cast=Secret)
    assert isinstance(secret, Secret)
    assert str(secret) == "hunter2"
    assert "hunter2" not in repr(secret)
    assert list(config("HOSTS", cast=CommaSeparatedStrings)) == ["a.com", "b.com", "c.com"]
    assert config("URL", cast=URL).hostname == "example.com"
    assert config("INT") == "42"  # no cast: the string


def test_defaults_are_cast_and_none_passes_through() -> None:
    config = Config(environ={})
    assert config("PORT", cast=int, default="3") == 3
    assert config("DEBUG", cast=bool, default=False) is False
    assert config("DEBUG", cast=bool, default="true") is True
    assert config("MAYBE", cast=int, default=None) is None
    assert config("MAYBE", default=None) is None
    with pytest.raises(ValueError, match="Not a valid int"):
        config("PORT", cast=int, default="x")


def test_custom_cast_errors() -> None:
    def positive(value: Any) -> int:
        number = int(value)
        if number <= 0:
            raise ValueError("must be positive")
        return number

    config = Config(environ={"N": "-1"})
    with pytest.raises(ValueError) as info:
        config("N", cast=positive)
    assert str(info.value) == "Config 'N' has value '-1'. Not a valid positive."


def test_undefined_sentinel() -> None:
    config = Config(environ={})
    assert config.get("X", default=undefined.__class__) is type  # a real default value, not the sentinel
    with pytest.raises(KeyError):
        config.get("X", default=undefined)
