"""pytest plugin: run a test suite written for Starlette (FastAPI's) on lyre.

Load it with ``-p lyre_compat_plugin`` (this folder on ``PYTHONPATH``). pytest imports ``-p``
plugins before conftest files and before the suite's modules, so the ``starlette`` -> ``lyre`` alias
is on before anything imports ``starlette``. At the end of the session the plugin checks that no
module of the real Starlette distribution was imported (which would mean two copies of the classes).
"""

from __future__ import annotations

import sys

import pytest

import lyre.compat.starlette as _alias  # noqa: F401  (turns the alias on, or fails loudly)


def pytest_report_header(config: pytest.Config) -> str:
    import starlette.routing

    import lyre.routing

    alias_on = starlette.routing is lyre.routing
    return f"lyre compat: starlette {starlette.__version__} -> lyre {lyre.__version__} (alias on: {alias_on})"


def _foreign_starlette_modules() -> list[str]:
    return sorted(
        name
        for name, module in list(sys.modules.items())
        if (name == "starlette" or name.startswith("starlette."))
        and module is not None
        and not getattr(module, "__name__", "").startswith("lyre")
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    foreign = _foreign_starlette_modules()
    if foreign:
        sys.stderr.write(f"\nlyre compat: the real Starlette was imported: {', '.join(foreign)}\n")
        session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
