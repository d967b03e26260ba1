"""The peer frameworks' benchmark apps answer every scenario correctly: ``make bench`` runs this
(``pytest bench/test_peers.py``) after installing ``bench/requirements.txt`` and before timing.

lyre's and the raw ASGI apps, and the harness itself, are checked by ``tests/test_bench.py`` in
``make test``; the peers are not installed there.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness  # noqa: E402

SCENARIOS = {sc.name: sc for sc in harness.scenarios()}


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _prepare_and_close(framework: str, name: str) -> harness.Cell:
    factory = harness.load_factories(framework).get(name)
    cell = await harness.prepare_cell(framework, SCENARIOS[name], factory)
    if cell.lifespan is not None:
        await cell.lifespan.shutdown()
    return cell


PEERS: dict[str, tuple[str, ...]] = {
    "fastapi": ("fastapi", "jinja2", "itsdangerous", "multipart"),
    "litestar": ("litestar", "jinja2"),
    "blacksheep": ("blacksheep", "jinja2"),
    "falcon": ("falcon", "jinja2", "itsdangerous"),
    "muffin": ("muffin", "muffin_jinja2", "muffin_session", "aiofile"),
    "baize": ("baize", "jinja2"),
    "lilya": ("lilya", "jinja2", "itsdangerous"),
    "sanic": ("sanic", "sanic_ext", "jinja2"),
    "emmett": ("emmett", "renoir"),
}


def _require_peer(framework: str) -> None:
    """The peer's packages are installed (``make bench`` installs them before running this file)."""
    for package in PEERS[framework]:
        importlib.import_module(package)


def test_every_framework_is_in_the_peer_list() -> None:
    assert set(PEERS) == set(harness.FRAMEWORKS) - {"lyre", "starlette", "raw"}


#: The cells a peer's module declares it cannot serve (its ``SKIPPED``); pinned here so the answer
#: test is not generated for them, and checked against the modules below.
LACKING: dict[str, set[str]] = {"baize": {"session"}, "sanic": {"session"}, "emmett": {"static"}}


def _peer_cells() -> list[Any]:
    cells = []
    for fw in PEERS:
        # The Litestar apps keep Litestar's documented 2.x idioms, which Litestar 2.2x flags as
        # deprecated at start-up; that warning is not what these checks are about.
        marks = [pytest.mark.filterwarnings("ignore::DeprecationWarning")] if fw == "litestar" else []
        lacking = LACKING.get(fw, set())
        cells += [pytest.param(fw, name, marks=marks) for name in sorted(SCENARIOS) if name not in lacking]
    return cells


@pytest.mark.parametrize(("framework", "name"), _peer_cells())
def test_peer_app_answers_scenario_correctly(framework: str, name: str) -> None:
    _require_peer(framework)
    cell = run(_prepare_and_close(framework, name))
    assert cell.error is None, cell.error
    assert cell.status in (200, 404)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # see _peer_cells
@pytest.mark.parametrize("framework", sorted(PEERS))
def test_peer_module_covers_every_scenario_or_says_why_not(framework: str) -> None:
    _require_peer(framework)
    factories = harness.load_factories(framework)
    skipped = harness.skip_reasons(framework)
    for name in SCENARIOS:
        assert (name in factories) != (name in skipped), f"{framework}/{name}: an app xor a reason"
    assert all(len(why) > 20 for why in skipped.values()), skipped
    assert set(skipped) == LACKING.get(framework, set())
