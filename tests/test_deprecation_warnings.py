"""Where lyre's deprecation warnings point, and that filters naming modules match them."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from lyre.exceptions import StarletteDeprecationWarning
from lyre.routing import Router


async def agen_lifespan(app: Any) -> AsyncIterator[None]:
    yield  # pragma: no cover


def gen_lifespan(app: Any) -> Iterator[None]:
    yield  # pragma: no cover


@pytest.mark.parametrize("lifespan", [agen_lifespan, gen_lifespan])
def test_generator_lifespan_warning_is_attributed_to_lyre_routing(lifespan: Any) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Router(lifespan=lifespan)
    assert [w.category for w in caught] == [StarletteDeprecationWarning]
    assert caught[0].filename.endswith("routing.py")

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", category=StarletteDeprecationWarning, module=r"lyre\.routing")
        Router(lifespan=lifespan)  # filtered by module name: no error


def test_under_the_alias_warnings_carry_starlette_module_names() -> None:
    code = textwrap.dedent(
        """
        import warnings
        import lyre.compat.starlette
        from starlette.applications import Starlette
        from starlette.exceptions import StarletteDeprecationWarning

        def lifespan(app):
            yield

        warnings.filterwarnings(
            "ignore", category=StarletteDeprecationWarning, module=r"starlette\\.routing\\Z"
        )
        Starlette(lifespan=lifespan)
        warnings.resetwarnings()
        warnings.simplefilter("error")
        try:
            Starlette(lifespan=lifespan)
        except StarletteDeprecationWarning as exc:
            print("raised", exc)
        """
    )
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("raised generator function lifespans are deprecated")
