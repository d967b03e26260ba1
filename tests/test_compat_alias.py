"""The opt-in ``starlette`` -> ``lyre`` alias (run in subprocesses to keep sys.modules clean)."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60
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
        assert starlette is lyre
        assert starlette.routing is lyre.routing
        assert Starlette is lyre.applications.Lyre
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
