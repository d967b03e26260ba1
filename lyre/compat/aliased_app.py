"""Entry point used by ``lyre run --as-starlette`` in uvicorn's worker/reloader processes.

Those processes import the application by string, so the alias must be turned on there too: this
module turns it on, then imports the ``MODULE:APP`` named in ``LYRE_ALIASED_TARGET``.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

import lyre.compat.starlette  # noqa: F401  (turns the alias on before the target is imported)
from lyre.compat import ALIASED_TARGET_ENV as ENV_VAR


def _load() -> Any:
    target = os.environ.get(ENV_VAR, "")
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise RuntimeError(f"{ENV_VAR} must name the application as MODULE:APP, got {target!r}")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


app = _load()
