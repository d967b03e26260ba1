"""The alias as FastAPI and test suites use it (subprocesses: sys.modules stays clean here)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "LYRE_COMPAT_ALIAS"}
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        env=environ,
        cwd=ROOT,
    )


def test_aliasing_leaves_lyre_module_specs_alone() -> None:
    result = run(
        """
        import importlib, importlib.util
        import lyre.compat.starlette as alias
        import starlette.routing, starlette.middleware.sessions
        import lyre.routing
        assert lyre.routing.__spec__.name == "lyre.routing", lyre.routing.__spec__
        assert importlib.util.find_spec("lyre.routing").name == "lyre.routing"
        assert importlib.reload(starlette.routing) is lyre.routing
        alias.uninstall()
        assert lyre.routing.__spec__.name == "lyre.routing"
        print("ok")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ok\n"


def test_fastapi_classes_are_built_on_lyre() -> None:
    result = run(
        """
        import lyre.compat.starlette
        import fastapi, fastapi.routing, fastapi.responses, fastapi.exceptions
        import lyre.applications, lyre.routing, lyre.responses, lyre.exceptions, lyre.background
        assert issubclass(fastapi.FastAPI, lyre.applications.Starlette)
        assert issubclass(fastapi.routing.APIRoute, lyre.routing.Route)
        assert issubclass(fastapi.routing.APIRouter, lyre.routing.Router)
        assert fastapi.responses.JSONResponse is lyre.responses.JSONResponse
        assert issubclass(fastapi.HTTPException, lyre.exceptions.HTTPException)
        assert issubclass(fastapi.BackgroundTasks, lyre.background.BackgroundTasks)
        import sys
        real = [n for n, m in sys.modules.items() if n.split(".")[0] == "starlette" and not m.__name__.startswith("lyre")]
        assert real == [], real
        print("ok")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ok\n"


def test_fastapi_imported_first_makes_the_alias_refuse() -> None:
    result = run(
        """
        import fastapi
        try:
            import lyre.compat.starlette
        except RuntimeError as exc:
            print(exc)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "Cannot alias 'starlette' to 'lyre': the real Starlette is already imported (" in result.stdout
    assert "starlette.applications" in result.stdout


def test_sitecustomize_turns_the_alias_on_in_subprocesses() -> None:
    code = "import starlette.routing, lyre.routing; print(starlette.routing is lyre.routing)"
    on = run(code, LYRE_COMPAT_ALIAS="1", PYTHONPATH=str(ROOT / "compat"))
    off = run(code, PYTHONPATH=str(ROOT / "compat"))
    assert on.returncode == 0, on.stderr
    assert on.stdout == "True\n"
    assert off.returncode == 0, off.stderr
    assert off.stdout == "False\n"
