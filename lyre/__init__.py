"""lyre: a fast, safe-by-default ASGI framework with Starlette's API.

The package root stays cheap to import: convenience names such as ``lyre.Lyre`` and
``lyre.Request`` are resolved lazily on first access.
"""

from __future__ import annotations

from typing import Any

# The one place the version is written: packaging reads it (pyproject's ``dynamic = ["version"]``), and
# so do ``lyre --version`` and the start-up line of ``lyre run``.
__version__ = "0.1.0"

_LAZY = {
    "Lyre": "lyre.applications",
    "Starlette": "lyre.applications",
    "Request": "lyre.requests",
    "Response": "lyre.responses",
    "JSONResponse": "lyre.responses",
    "HTMLResponse": "lyre.responses",
    "PlainTextResponse": "lyre.responses",
    "RedirectResponse": "lyre.responses",
    "Route": "lyre.routing",
    "Mount": "lyre.routing",
    "Router": "lyre.routing",
    "HTTPException": "lyre.exceptions",
}


__all__ = ["__version__", *_LAZY]


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lyre' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
