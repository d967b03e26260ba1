"""pytest plugin for sse-starlette's sdist tests: stand in for two repository files the sdist lacks.

1. ``tests/anyio_compat.py``: two test modules import ``collapse_excgroups`` from it; the published
   source distribution does not ship it (they fail to import on the real Starlette too). The library
   carries the same helper as ``sse_starlette._utils.collapse_excgroups``; it is registered under the
   missing name.
2. ``tests/conftest.py``: its autouse fixture resets the library's process-wide shutdown state
   between tests (the test files say so: "state reset by conftest fixture"). Without it, a test that
   simulates a server shutdown leaves ``should_exit`` set and every later stream ends at once. The
   fixture below is our own doing that reset, before and after each test.

No test file is changed. Used (on lyre and on the real Starlette alike) by compat/run_addon_suites.sh.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator

import pytest
from sse_starlette import sse as _sse
from sse_starlette._utils import collapse_excgroups

if "tests.anyio_compat" not in sys.modules:
    _module = types.ModuleType("tests.anyio_compat")
    _module.collapse_excgroups = collapse_excgroups  # type: ignore[attr-defined]
    sys.modules["tests.anyio_compat"] = _module


def _reset_shutdown_state() -> None:
    _sse.AppStatus.should_exit = False
    _sse.AppStatus.enable_automatic_graceful_drain = True
    if hasattr(_sse._thread_state, "shutdown_state"):
        del _sse._thread_state.shutdown_state


@pytest.fixture(autouse=True)
def reset_shutdown_state() -> Iterator[None]:
    _reset_shutdown_state()
    yield
    _reset_shutdown_state()
