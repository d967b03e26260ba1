"""The benchmark harness and the benchmark apps: correctness only, never timing.

Every benchmark cell is checked before it is timed; these tests run the same checks on the lyre
and raw ASGI apps, so a lyre change that breaks a benchmarked behaviour fails here, and the harness
itself is kept honest (a wrong answer is caught). The peer frameworks' apps are checked by
``bench/test_peers.py``, which ``make bench`` runs once it has installed them
(``bench/requirements.txt``); this suite does not install them.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness  # noqa: E402
from bench.e2e import parse_wrk  # noqa: E402
from bench.harness import Conn, Result, expect  # noqa: E402

SCENARIOS = {sc.name: sc for sc in harness.scenarios()}


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _prepare_and_close(framework: str, name: str, factory: Any = None) -> harness.Cell:
    if factory is None:
        factory = harness.load_factories(framework).get(name)
    cell = await harness.prepare_cell(framework, SCENARIOS[name], factory)
    if cell.lifespan is not None:
        await cell.lifespan.shutdown()
    return cell


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_lyre_app_answers_scenario_correctly(name: str) -> None:
    cell = run(_prepare_and_close("lyre", name))
    assert cell.error is None, cell.error
    assert cell.status in (200, 404)


@pytest.mark.parametrize("name", sorted(n for n, sc in SCENARIOS.items() if sc.raw))
def test_raw_app_answers_scenario_correctly(name: str) -> None:
    cell = run(_prepare_and_close("raw", name))
    assert cell.error is None, cell.error


# Peer framework key -> the packages its benchmark module imports (bench/requirements.txt).
def test_skipped_cells_are_listed_with_their_reason() -> None:
    from bench import run as bench_run

    scs = [SCENARIOS["plaintext"], SCENARIOS["session"]]
    frameworks = ["lyre", "starlette", "baize"]
    cells: dict[str, dict[str, harness.Cell]] = {sc.name: {} for sc in scs}
    for sc in scs:
        for fw in frameworks:
            cells[sc.name][fw] = harness.Cell(fw, sc.name, times=[1e-5, 1e-5, 1e-5])
    cells["session"]["baize"] = harness.Cell("baize", "session", error="n/a", skipped="no sessions here")
    ratios = bench_run.ratio_tables(cells, frameworks, scs)
    assert ratios["geomean"]["baize"] is None
    assert ratios["geomean_partial"]["baize"] == (pytest.approx(1.0), 1)
    meta = {"versions": {"python": "3", "loop": "x"}, "target": 0.1, "reps": 3, "clock": "cpu"}
    meta |= {"mode": "quick", "date": "today"}
    text = bench_run.render_markdown(cells, frameworks, scs, ratios, meta, [])
    assert "- session / Baize: no sessions here" in text
    assert "1.00x (1/2)" in text
    assert "failed their correctness check" not in text


@pytest.mark.parametrize("n", [1, 50, 2000])
def test_lyre_many_routes_app_hits_the_last_route(n: int) -> None:
    from bench.apps import lyre_apps

    sc = harness.Scenario(
        f"routes{n}", f"{n} routes", f"/resource{n - 1}/7", expect(200, f"{n - 1}:7".encode())
    )

    async def go() -> harness.Cell:
        cell = await harness.prepare_cell("lyre", sc, lambda: lyre_apps.make_routes(n))
        assert cell.lifespan is not None
        await cell.lifespan.shutdown()
        return cell

    cell = run(go())
    assert cell.error is None, cell.error


def test_a_wrong_answer_is_reported_not_timed() -> None:
    async def wrong(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"Goodbye"})

    cell = run(harness.prepare_cell("raw", SCENARIOS["plaintext"], lambda: wrong))
    assert cell.error is not None
    assert "body" in cell.error


def test_a_hanging_app_is_reported() -> None:
    async def hang(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return
        await asyncio.Event().wait()

    async def go() -> str | None:
        scope = harness.make_scope(SCENARIOS["plaintext"])
        try:
            await harness.request_once(hang, scope, [b""], {}, timeout=0.05)
        except TimeoutError:
            return "timeout"
        return None

    assert run(go()) == "timeout"


def test_checks() -> None:
    ok = Result(
        200, [(b"content-type", b"text/plain; charset=utf-8"), (b"set-cookie", b"seen=1; Path=/")], b"hi"
    )
    assert expect(200, b"hi", ctype="text/plain", cookie="seen=1")(ok) is None
    assert "status" in (expect(404)(ok) or "")
    assert "set-cookie" in (expect(200, cookie="other=")(ok) or "")
    assert "JSON" in (expect(200, json={"a": 1})(ok) or "")
    bad_length = Result(200, [(b"content-length", b"5")], b"hi")
    assert "content-length" in (expect(200, length=True)(bad_length) or "")


def test_fake_server_receive_reports_disconnect_only_after_the_response() -> None:
    async def go() -> list[str]:
        conn = Conn([b"ab", b"cd"], collect=True)
        events: list[str] = []
        first = await conn.receive()
        second = await conn.receive()
        events.append(f"{first['body']!r}:{first['more_body']}")
        events.append(f"{second['body']!r}:{second['more_body']}")

        async def wait_disconnect() -> None:
            message = await conn.receive()
            events.append(message["type"])

        task = asyncio.get_running_loop().create_task(wait_disconnect())
        await asyncio.sleep(0)
        events.append("waiting" if not task.done() else "early")
        await conn.send({"type": "http.response.start", "status": 200, "headers": [(b"a", b"b")]})
        await conn.send({"type": "http.response.body", "body": b"x", "more_body": True})
        await asyncio.sleep(0)
        events.append("waiting" if not task.done() else "early")
        await conn.send({"type": "http.response.body", "body": b"y"})
        await task
        assert conn.status == 200 and b"".join(conn.body) == b"xy"
        return events

    assert run(go()) == ["b'ab':True", "b'cd':False", "waiting", "waiting", "http.disconnect"]


def test_parse_wrk_output() -> None:
    out = """Running 5s test @ http://127.0.0.1:4000/plaintext
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.51ms  300.00us   9.00ms   90.00%
    Req/Sec    25.00k     1.00k   27.00k    80.00%
  Latency Distribution
     50%    2.40ms
     75%    2.60ms
     90%    2.90ms
     99%  850.00us
  124000 requests in 5.00s, 15.00MB read
  Non-2xx or 3xx responses: 3
Requests/sec:  24800.00
Transfer/sec:      3.00MB
"""
    rps, p99, bad, total = parse_wrk(out)
    assert rps == 24800.0
    assert p99 == pytest.approx(850e-6)
    assert bad == 3
    assert total == 124000


_VERIFY = """
import sys
sys.path.insert(0, {site!r})
sys.path.insert(0, {root!r})
{alias}
from bench import harness
try:
    versions = harness.verify_packages()
except SystemExit as exc:
    print("REFUSED", exc)
else:
    print("OK", versions["starlette"])
"""


def _verify_packages_with(tmp_path: Path, alias: str) -> str:
    import subprocess

    # A Starlette stand-in installed under a directory called ``lyre`` (as in a checkout cloned to
    # ``~/lyre`` with its ``.venv`` inside): only the package directory may decide, not the path.
    site = tmp_path / "lyre" / ".venv" / "site-packages"
    (site / "starlette").mkdir(parents=True)
    (site / "starlette" / "__init__.py").write_text("__version__ = '1.10.0'\n")
    root = str(Path(__file__).resolve().parent.parent)
    code = _VERIFY.format(site=str(site), root=root, alias=alias)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    return result.stdout


def test_verify_packages_accepts_a_real_starlette_under_a_lyre_directory(tmp_path: Path) -> None:
    assert _verify_packages_with(tmp_path, "").startswith("OK 1.10.0")


def test_verify_packages_refuses_the_aliased_starlette(tmp_path: Path) -> None:
    assert _verify_packages_with(tmp_path, "import lyre.compat.starlette").startswith("REFUSED")
