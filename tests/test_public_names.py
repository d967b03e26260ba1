"""Every public name of every Starlette 1.10 module exists in the lyre module of the same path.

The real Starlette (installed for FastAPI) and lyre are imported side by side in a child process (no
``starlette`` -> ``lyre`` alias, and no real Starlette module left in this process). "Public" means a
name in ``dir(module)`` that does not start with ``_``, plus anything in the module's ``__all__``;
submodules are all imported first, so package attributes naming submodules compare too.

Names lyre does not provide are listed in ``NOT_PROVIDED`` with the reason; the test also fails when
a listed name appears, so the list cannot go stale.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("starlette")

_INCIDENTAL = (
    "a standard-library, typing or anyio import that Starlette's module makes for its own use, not part of its "
    "API; lyre's {} does not need it"
)


def _incidental(lyre_file: str, *names: str) -> dict[str, str]:
    return {name: _INCIDENTAL.format(lyre_file) for name in names}


# module (Starlette's path) -> {name: why lyre's module does not have it}
NOT_PROVIDED: dict[str, dict[str, str]] = {
    "starlette._exception_handler": _incidental("_exception_handler.py", "Request", "WebSocket"),
    "starlette.concurrency": _incidental("concurrency.py", "Coroutine"),
    "starlette.endpoints": _incidental("endpoints.py", "Callable"),
    "starlette.middleware": _incidental("middleware/__init__.py", "Awaitable", "Callable"),
    "starlette.middleware.base": _incidental("middleware/base.py", "Mapping", "aclosing"),
    "starlette.middleware.body_limit": _incidental("middleware/body_limit.py", "cast"),
    "starlette.middleware.errors": _incidental("middleware/errors.py", "sys"),
    "starlette.middleware.sessions": _incidental(
        "middleware/sessions.py", "b64decode", "b64encode", "typing"
    ),
    "starlette.responses": _incidental(
        "responses.py",
        "asynccontextmanager",
        "format_datetime",
        "formatdate",
        "guess_type",
        "hashlib",
        "http",
        "partial",
        "token_hex",
    ),
    "starlette.routing": _incidental(
        "routing.py",
        "AbstractAsyncContextManager",
        "AbstractContextManager",
        "Enum",
        "asynccontextmanager",
        "types",
    ),
    "starlette.schemas": _incidental("schemas.py", "yaml"),
    "starlette.templating": _incidental("templating.py", "PathLike", "TYPE_CHECKING"),
    "starlette.testclient": _incidental(
        "testclient.py",
        "AbstractContextManager",
        "GeneratorType",
        "Iterable",
        "Mapping",
        "StapledObjectStream",
        "TypeGuard",
        "inspect",
        "wait_futures",
    ),
    "starlette.websockets": _incidental("websockets.py", "cast"),
}

_PROBE = textwrap.dedent(
    """
    import importlib, json, pkgutil, sys, warnings

    warnings.simplefilter("ignore")
    import starlette

    assert not getattr(starlette, "__file__", "").startswith(sys.argv[1]), "alias is on"
    names = ["starlette"] + sorted(m.name for m in pkgutil.walk_packages(starlette.__path__, "starlette."))
    pairs = []
    report = {"missing_modules": [], "missing_names": {}, "compared": 0}
    for name in names:
        theirs = importlib.import_module(name)
        lyre_name = "lyre" + name[len("starlette"):]
        try:
            ours = importlib.import_module(lyre_name)
        except ImportError as exc:
            report["missing_modules"].append(f"{lyre_name}: {exc}")
            continue
        pairs.append((name, theirs, ours))
    for name, theirs, ours in pairs:  # compared after every submodule of both is imported
        public = {n for n in dir(theirs) if not n.startswith("_")} | set(getattr(theirs, "__all__", ()))
        missing = sorted(n for n in public if not hasattr(ours, n))
        report["compared"] += 1
        if missing:
            report["missing_names"][name] = missing
    print(json.dumps(report))
    """
)


@pytest.fixture(scope="module")
def report() -> dict[str, object]:
    import lyre

    lyre_root = lyre.__path__[0]
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, lyre_root], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    data: dict[str, object] = json.loads(result.stdout)
    return data


def test_every_starlette_module_has_a_lyre_module(report: dict[str, object]) -> None:
    assert report["missing_modules"] == []
    assert isinstance(report["compared"], int) and report["compared"] >= 30


def test_every_public_starlette_name_exists_in_lyre(report: dict[str, object]) -> None:
    missing = report["missing_names"]
    assert isinstance(missing, dict)
    unexpected = {
        module: sorted(set(names) - set(NOT_PROVIDED.get(module, {})))
        for module, names in missing.items()
        if set(names) - set(NOT_PROVIDED.get(module, {}))
    }
    stale = {
        module: sorted(set(reasons) - set(missing.get(module, ())))
        for module, reasons in NOT_PROVIDED.items()
        if set(reasons) - set(missing.get(module, ()))
    }
    assert unexpected == {}, "public Starlette names missing from lyre"
    assert stale == {}, "listed in NOT_PROVIDED but lyre has them now: remove them from the list"
