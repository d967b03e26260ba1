"""The opt-in ``starlette`` -> ``lyre`` alias (run in subprocesses to keep sys.modules clean)."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_alias_gives_the_same_module_objects() -> None:
    result = run(
        """
        import lyre.compat.starlette
        import starlette
        import starlette.routing
        from starlette.applications import Starlette
        from starlette.middleware.sessions import SessionMiddleware
        import lyre, lyre.routing, lyre.applications
        assert starlette.routing is lyre.routing
        assert starlette.Starlette is lyre.Starlette is lyre.applications.Starlette
        assert issubclass(Starlette, lyre.applications.Lyre)
        import starlette.status as st
        assert st.HTTP_200_OK == 200
        print("ok", starlette.__version__)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok ")


def test_alias_missing_module_is_a_clear_import_error() -> None:
    result = run(
        """
        import lyre.compat.starlette
        try:
            import starlette.does_not_exist
        except ModuleNotFoundError as exc:
            print(exc)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "starlette.does_not_exist" in result.stdout


def test_alias_refuses_when_real_starlette_already_imported() -> None:
    result = run(
        """
        import sys, types
        fake = types.ModuleType("starlette.routing")
        sys.modules["starlette.routing"] = fake
        try:
            import lyre.compat.starlette
        except RuntimeError as exc:
            print(exc)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "real Starlette is already imported (starlette.routing)" in result.stdout


def test_alias_uninstall() -> None:
    result = run(
        """
        import sys
        import lyre.compat.starlette as alias
        import starlette.routing
        alias.uninstall()
        assert "starlette.routing" not in sys.modules
        assert not alias.installed()
        print("ok")
        """
    )
    assert result.returncode == 0, result.stderr


def test_alias_reports_the_starlette_api_version() -> None:
    result = run(
        """
        import lyre.compat.starlette
        import starlette
        import starlette.middleware.sessions
        import lyre, lyre.middleware.sessions
        from lyre.compat import STARLETTE_API_VERSION
        assert starlette.__version__ == STARLETTE_API_VERSION == "1.10.0"
        assert lyre.__version__ != starlette.__version__
        # Everything else is lyre's: lazy names, submodules (also as attributes), nested packages.
        assert starlette.Request is lyre.Request
        assert starlette.middleware is lyre.middleware
        assert starlette.middleware.sessions is lyre.middleware.sessions
        assert {"__version__", "middleware"} <= set(dir(starlette))
        try:
            starlette.no_such_name
        except AttributeError as exc:
            assert "no_such_name" in str(exc)
        else:
            raise AssertionError("expected AttributeError")
        import importlib
        assert importlib.import_module("starlette") is starlette
        assert hasattr(starlette, "__path__")
        print("ok", lyre.__version__)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok ")


def test_alias_uninstall_forgets_the_package_module_too() -> None:
    result = run(
        """
        import sys
        import lyre.compat.starlette as alias
        import starlette
        alias.uninstall()
        assert "starlette" not in sys.modules
        alias.install()
        import starlette as again
        assert again.__version__ == "1.10.0"
        print("ok")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ok\n"


def test_alias_from_import_of_submodules_gives_lyre_modules() -> None:
    result = run(
        """
        import sys
        import lyre.compat.starlette
        from starlette import routing, responses
        from starlette.middleware import sessions
        import lyre.routing, lyre.responses, lyre.middleware.sessions
        assert routing is lyre.routing and responses is lyre.responses
        assert sessions is lyre.middleware.sessions
        copies = [n for n, m in sys.modules.items() if getattr(m, "__file__", None) == lyre.routing.__file__]
        assert all(sys.modules[n] is lyre.routing for n in copies), copies
        print("ok")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ok\n"


def test_alias_package_module_is_recognised_as_lyres() -> None:
    result = run(
        """
        import lyre.compat.starlette
        import starlette
        import lyre
        assert starlette is not lyre and starlette.__name__ == "lyre"  # lyre's package, seen as starlette
        assert starlette.__path__ == lyre.__path__
        assert starlette.__file__ == lyre.__file__
        print("ok")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ok\n"
