"""pytest plugin for sse-starlette's sdist tests: supply ``tests.anyio_compat``, missing from the sdist.

Two of its test modules import ``collapse_excgroups`` from ``tests/anyio_compat.py``, a helper that
the published source distribution does not ship (the tests fail to import on the real Starlette
too). The library carries the same helper as ``sse_starlette._utils.collapse_excgroups``; this
registers it under the missing name. No test file is changed. Used by compat/run_addon_suites.sh.
"""

from __future__ import annotations

import sys
import types

from sse_starlette._utils import collapse_excgroups

if "tests.anyio_compat" not in sys.modules:
    _module = types.ModuleType("tests.anyio_compat")
    _module.collapse_excgroups = collapse_excgroups  # type: ignore[attr-defined]
    sys.modules["tests.anyio_compat"] = _module
