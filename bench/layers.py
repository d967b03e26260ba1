"""Where does a plaintext request's time go? Peel the stack layer by layer, lyre vs Starlette.

    python bench/layers.py [--reps 7] [--target 0.1]

Each row is a progressively fuller app answering ``GET /plaintext`` with ``PlainTextResponse``;
the difference between consecutive rows is that layer's cost per request. Same fake server and
clock as the in-process benchmark (``bench/harness.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness  # noqa: E402
from bench.apps import raw_asgi  # noqa: E402


def stacks(pkg: str) -> list[tuple[str, Any]]:
    def m(name: str) -> Any:
        return importlib.import_module(f"{pkg}.{name}")

    PlainTextResponse = m("responses").PlainTextResponse
    routing = m("routing")
    applications = m("applications")
    exceptions_mw = m("middleware.exceptions")
    errors_mw = m("middleware.errors")

    response = PlainTextResponse("Hello, World!")

    async def endpoint(request: Any) -> Any:
        return PlainTextResponse("Hello, World!")

    async def prebuilt(scope: Any, receive: Any, send: Any) -> None:
        await response(scope, receive, send)

    async def build_and_send(scope: Any, receive: Any, send: Any) -> None:
        await PlainTextResponse("Hello, World!")(scope, receive, send)

    rr = routing.request_response(endpoint)
    router = routing.Router(routes=[routing.Route("/plaintext", endpoint)])
    exc = exceptions_mw.ExceptionMiddleware(routing.Router(routes=[routing.Route("/plaintext", endpoint)]))
    err = errors_mw.ServerErrorMiddleware(
        exceptions_mw.ExceptionMiddleware(routing.Router(routes=[routing.Route("/plaintext", endpoint)]))
    )
    out = [
        ("response object reused, __call__ only", prebuilt),
        ("+ Response construction", build_and_send),
        ("+ request_response (Request + endpoint call)", rr),
        ("Router + Route (dispatch)", router),
        ("+ ExceptionMiddleware", exc),
        ("+ ServerErrorMiddleware", err),
    ]
    if pkg == "lyre":
        out.append(
            (
                "full app, max_body_size=None",
                applications.Starlette(routes=[routing.Route("/plaintext", endpoint)], max_body_size=None),
            )
        )
    out.append(
        ("full app (defaults)", applications.Starlette(routes=[routing.Route("/plaintext", endpoint)]))
    )
    return out


async def main_async(reps: int, target: float) -> None:
    sc = next(s for s in harness.scenarios() if s.name == "plaintext")
    rows: list[tuple[str, str, harness.Cell]] = []
    floor = await harness.prepare_cell("raw", sc, raw_asgi.plaintext)
    rows.append(("raw", "raw ASGI app (the floor)", floor))
    for pkg in ("lyre", "starlette"):
        for label, app in stacks(pkg):
            cell = await harness.prepare_cell(pkg, sc, lambda app=app: app)
            rows.append((pkg, label, cell))
    for _, _, cell in rows:
        if not cell.error:
            await harness.calibrate(cell, target)
    for _ in range(reps):
        for _, _, cell in rows:
            if not cell.error:
                await harness.time_cell(cell)
    print(
        f"| stack | lyre µs | Starlette µs |\n|---|---|---|\n| raw ASGI app (the floor) | "
        f"{(floor.per_request or 0) * 1e6:.2f} | |"
    )
    labels = [label for pkg, label, _ in rows if pkg == "lyre"]
    for label in labels:
        vals = []
        for pkg in ("lyre", "starlette"):
            cell = next((c for p, lab, c in rows if p == pkg and lab == label), None)
            if cell is None:
                vals.append("")
            elif cell.error:
                vals.append(f"error: {cell.error}")
            else:
                vals.append(f"{(cell.per_request or 0) * 1e6:.2f}")
        print(f"| {label} | {vals[0]} | {vals[1]} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--target", type=float, default=0.1)
    args = p.parse_args()
    with asyncio.Runner(loop_factory=harness.new_loop) as runner:
        runner.run(main_async(args.reps, args.target))


if __name__ == "__main__":
    main()
