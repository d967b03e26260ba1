"""lyre benchmark suite entry point (``make bench``).

    python bench/run.py                 # the whole suite: route scaling, in-process table + chart,
                                        # then end-to-end under uvicorn + wrk (~9 minutes)
    python bench/run.py --no-e2e        # scaling + in-process only (~2 minutes)
    python bench/run.py --quick         # scaling + in-process, short runs, for iterating (~10 s)
    python bench/run.py --e2e           # end-to-end only (see bench/e2e.py for its options)
    python bench/run.py --frameworks lyre,starlette,raw --scenarios plaintext,json
    python bench/run.py --profile lyre:plaintext   # cProfile of one cell, top functions

Results go to ``bench/results/`` (markdown, JSON and a PNG chart), unless ``--no-write``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import math
import pstats
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness  # noqa: E402
from bench.harness import FRAMEWORKS, Cell, Scenario  # noqa: E402

RESULTS = harness.BENCH_DIR / "results"
SCALING_SIZES = (1, 50, 500, 2000)


# --------------------------------------------------------------------------------------------------
# In-process table


async def run_inprocess(
    frameworks: list[str], scs: list[Scenario], reps: int, target: float, log: Any
) -> dict[str, dict[str, Cell]]:
    """Prepare every cell, then time them interleaved: rep -> scenario -> framework (rotated)."""
    factories: dict[str, dict[str, Any]] = {}
    skips: dict[str, dict[str, str]] = {}
    for fw in frameworks:
        try:
            factories[fw] = harness.load_factories(fw)
            skips[fw] = harness.skip_reasons(fw)
        except Exception as exc:  # noqa: BLE001 - a framework that fails to import is reported
            log(f"  ! {fw}: cannot load apps: {harness.short_error(exc)}")
            factories[fw] = {}
            factories[fw]["__error__"] = harness.short_error(exc)
            skips[fw] = {}

    cells: dict[str, dict[str, Cell]] = {}
    for sc in scs:
        cells[sc.name] = {}
        for fw in frameworks:
            if "__error__" in factories[fw]:
                cell = Cell(fw, sc.name, error=factories[fw]["__error__"])
            elif fw == "raw" and not sc.raw:
                cell = Cell(fw, sc.name, error="n/a")
            elif sc.name in skips[fw]:
                cell = Cell(fw, sc.name, error="n/a", skipped=skips[fw][sc.name])
            else:
                cell = await harness.prepare_cell(fw, sc, factories[fw].get(sc.name))
            if cell.error is None:
                try:
                    await harness.calibrate(cell, target)
                except Exception as exc:  # noqa: BLE001
                    cell.error = harness.short_error(exc)
            if cell.error and cell.error != "n/a":
                log(f"  ! {sc.name}/{fw}: {cell.error}")
            cells[sc.name][fw] = cell

    harness.freeze_heap()
    for rep in range(reps):
        t0 = time.perf_counter()
        for sc in scs:
            order = frameworks[rep % len(frameworks) :] + frameworks[: rep % len(frameworks)]
            for fw in order:
                cell = cells[sc.name][fw]
                if cell.error:
                    continue
                try:
                    await harness.time_cell(cell)
                except Exception as exc:  # noqa: BLE001
                    cell.error = harness.short_error(exc)
                    log(f"  ! {sc.name}/{fw}: {cell.error}")
        log(f"  repetition {rep + 1}/{reps} done in {time.perf_counter() - t0:.1f}s")

    for row in cells.values():
        for cell in row.values():
            if cell.lifespan is not None:
                await cell.lifespan.shutdown()
    return cells


def fmt_ops(ops: float | None) -> str:
    if ops is None:
        return "-"
    if ops >= 100_000:
        return f"{ops / 1000:,.0f}k"
    if ops >= 10_000:
        return f"{ops / 1000:,.1f}k"
    return f"{ops:,.0f}"


def fmt_x(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}x"


def geomean(values: list[float]) -> float | None:
    if not values:
        return None
    return math.exp(sum(math.log(v) for v in values) / len(values))


def paired_ratio(slow: Cell | None, fast: Cell | None) -> float | None:
    """Median over repetitions of time(slow) / time(fast), each pair timed in the same repetition.

    Pairing keeps a burst of outside load from skewing one framework's median against another's.
    """
    if slow is None or fast is None or slow.error or fast.error or not slow.times or not fast.times:
        return None
    pairs = sorted(a / b for a, b in zip(slow.times, fast.times, strict=False))
    mid = len(pairs) // 2
    return pairs[mid] if len(pairs) % 2 else (pairs[mid - 1] + pairs[mid]) / 2


def ratio_tables(
    cells: dict[str, dict[str, Cell]], frameworks: list[str], scs: list[Scenario]
) -> dict[str, Any]:
    """Compute speed-ups vs Starlette and cost vs raw for every cell, plus geometric means."""
    vs_starlette: dict[str, dict[str, float | None]] = {}
    vs_raw: dict[str, dict[str, float | None]] = {}
    for sc in scs:
        row = cells[sc.name]
        base = row.get("starlette")
        raw = row.get("raw")
        vs_starlette[sc.name] = {}
        vs_raw[sc.name] = {}
        for fw in frameworks:
            vs_starlette[sc.name][fw] = paired_ratio(base, row[fw])
            vs_raw[sc.name][fw] = paired_ratio(row[fw], raw)
    gm: dict[str, float | None] = {}
    # A framework that skips a scenario (it lacks the feature) still gets a geometric mean, over the
    # core scenarios it has; the table says over how many. It does not compare with the full one.
    partial: dict[str, tuple[float, int] | None] = {}
    core = [sc for sc in scs if sc.core]
    for fw in frameworks:
        vals = [vs_starlette[sc.name][fw] for sc in core]
        ok = [v for v in vals if v is not None]
        gm[fw] = geomean(ok) if len(ok) == len(core) and core else None
        partial[fw] = None
        if ok and len(ok) < len(core) and fw != "raw":  # the raw floor implements a subset by design
            value = geomean(ok)
            partial[fw] = (value, len(ok)) if value is not None else None
    return {
        "vs_starlette": vs_starlette,
        "vs_raw": vs_raw,
        "geomean": gm,
        "geomean_partial": partial,
        "core_count": len(core),
    }


def targets(
    cells: dict[str, dict[str, Cell]],
    frameworks: list[str],
    scs: list[Scenario],
    ratios: dict[str, Any],
    scaling: dict[str, dict[int, float]] | None,
) -> list[str]:
    """A plain-language summary of the figures above: where lyre leads, where a peer is faster."""
    lines: list[str] = []
    if "lyre" not in frameworks:
        return lines
    peers = [fw for fw in frameworks if fw not in ("lyre", "raw")]
    losses: list[str] = []
    missing = []
    for sc in scs:
        lyre_ops = cells[sc.name]["lyre"].ops
        if lyre_ops is None:
            missing.append(sc.name)
            continue
        # One line per scenario, the faster peers fastest first (ten peers would not fit on one line).
        faster = [(ops / lyre_ops, fw) for fw in peers if (ops := cells[sc.name][fw].ops) and ops >= lyre_ops]
        if faster:
            named = ", ".join(f"{FRAMEWORKS[fw][1]} {x:.2f}x" for x, fw in sorted(faster, reverse=True))
            losses.append(f"  - {sc.name}: {named}")
    if peers:
        if losses:
            lines.append("- scenarios where a peer is as fast as lyre or faster (peer req/s ÷ lyre req/s):")
            lines.extend(losses)
        else:
            lines.append("- lyre is the fastest framework measured in every scenario")
    if missing:
        lines.append(f"- lyre has no result for: {', '.join(missing)}")
    gm = ratios["geomean"].get("lyre")
    if "starlette" in frameworks and gm:
        lines.append(
            f"- geometric mean over the {ratios['core_count']} core scenarios: {gm:.2f}x Starlette's requests/s"
        )
    pt = ratios["vs_raw"].get("plaintext", {}).get("lyre")
    if pt is not None:
        lines.append(f"- plaintext costs {pt:.2f}x a hand-written raw ASGI app's time per request")
    if scaling and "lyre" in scaling and 1 in scaling["lyre"]:
        s = scaling["lyre"]
        for n in (50, 2000):
            if n in s:
                lines.append(f"- {n:,} routes instead of 1: {s[n] / s[1]:.2f}x the time per request")
    return lines


def _table(labels: list[str], rows: list[tuple[str, list[str]]]) -> list[str]:
    """A Markdown table: one row per scenario (short name), one column per framework."""
    out = ["| scenario | " + " | ".join(labels) + " |", "|:---" + "|---:" * len(labels) + "|"]
    out += [f"| {name} | " + " | ".join(cols) + " |" for name, cols in rows]
    return out


def _geomean_cell(ratios: dict[str, Any], fw: str) -> str:
    full = ratios["geomean"].get(fw)
    if full:
        return f"**{fmt_x(full)}**"
    part = ratios.get("geomean_partial", {}).get(fw)
    if part:
        return f"{fmt_x(part[0])} ({part[1]}/{ratios['core_count']})"
    return "-"


def render_markdown(
    cells: dict[str, dict[str, Cell]],
    frameworks: list[str],
    scs: list[Scenario],
    ratios: dict[str, Any],
    meta: dict[str, Any],
    target_lines: list[str],
) -> str:
    labels = [FRAMEWORKS[fw][1] for fw in frameworks]
    out: list[str] = []
    out.append("# In-process benchmark\n")
    out.append(
        f"Each app's ASGI callable driven directly by a minimal fake server (no sockets), one event loop "
        f"({meta['versions'].get('loop')}), Python {meta['versions'].get('python')}. Per cell: lifespan startup, "
        f"response checked for correctness, then N sequential requests (N calibrated to ~{meta['target']:.2f}s), "
        f"median of {meta['reps']} repetitions, frameworks interleaved. Clock: {meta['clock']} "
        f"(cpu = process CPU time, immune to other load on a shared machine). Ratios are medians of "
        f"per-repetition paired ratios. Mode: {meta['mode']}. "
        f"Date: {meta['date']}.\n"
    )
    out.append(
        "Versions: "
        + ", ".join(f"{k} {v}" for k, v in meta["versions"].items() if k not in ("python", "loop"))
        + ".\n"
    )
    # With eleven framework columns the scenario titles would crowd the tables: the tables name each
    # scenario by its short key, explained once here.
    out.append("Scenarios: " + "; ".join(f"`{sc.name}` = {sc.title}" for sc in scs) + ".\n")
    out.append("## Requests per second (higher is better)\n")
    out += _table(labels, [(sc.name, [fmt_ops(cells[sc.name][fw].ops) for fw in frameworks]) for sc in scs])
    if "starlette" in frameworks:
        out.append("\n## Speed-up vs Starlette (framework req/s ÷ Starlette req/s; higher is better)\n")
        rows = [(sc.name, [fmt_x(ratios["vs_starlette"][sc.name][fw]) for fw in frameworks]) for sc in scs]
        rows.append(
            (
                f"**geometric mean ({ratios['core_count']} scenarios)**",
                [_geomean_cell(ratios, fw) for fw in frameworks],
            )
        )
        out += _table(labels, rows)
        if any(ratios.get("geomean_partial", {}).get(fw) for fw in frameworks):
            out.append(
                "\nA mean marked (n/12) is over the n core scenarios that framework has (it skips the "
                "others, see below); it is not comparable with the full means in bold."
            )
    if "raw" in frameworks:
        out.append(
            "\n## Cost vs raw ASGI (raw req/s ÷ framework req/s; 1.00x = the floor, lower is better)\n"
        )
        out += _table(
            labels,
            [(sc.name, [fmt_x(ratios["vs_raw"][sc.name][fw]) for fw in frameworks]) for sc in scs if sc.raw],
        )
    skipped = [(sc.name, fw, cells[sc.name][fw].skipped) for sc in scs for fw in frameworks]
    skipped = [item for item in skipped if item[2]]
    if skipped:
        out.append("\n## Cells skipped: the framework lacks the feature (not built, not timed)\n")
        for name, fw, why in skipped:
            out.append(f"- {name} / {FRAMEWORKS[fw][1]}: {why}")
    errors = [
        (sc.name, fw, cells[sc.name][fw].error)
        for sc in scs
        for fw in frameworks
        if cells[sc.name][fw].error and cells[sc.name][fw].error != "n/a"
    ]
    if errors:
        out.append("\n## Cells that failed their correctness check or errored (not timed)\n")
        for name, fw, err in errors:
            out.append(f"- {name} / {FRAMEWORKS[fw][1]}: `{err}`")
    if target_lines:
        out.append("\n## Summary\n")
        out.extend(target_lines)
    out.append(
        "\n`-` = not applicable (raw ASGI skips forms, multipart, sessions and static files; other skips "
        "are listed above) or failed. The static-file row is an extra and is not in the geometric mean.\n"
    )
    return "\n".join(out) + "\n"


def render_chart(
    cells: dict[str, dict[str, Cell]],
    frameworks: list[str],
    scs: list[Scenario],
    ratios: dict[str, Any],
    path: Path,
    title: str,
) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        return False
    fws = [fw for fw in frameworks if fw != "raw"] if "starlette" in frameworks else frameworks
    colors = {
        "lyre": "#d62728",
        "starlette": "#1f77b4",
        "fastapi": "#2ca02c",
        "litestar": "#9467bd",
        "blacksheep": "#8c564b",
        "falcon": "#ff7f0e",
        "muffin": "#e377c2",
        "baize": "#17becf",
        "lilya": "#bcbd22",
        "sanic": "#393b79",
        "emmett": "#e7ba52",
        "raw": "#7f7f7f",
    }
    relative = "starlette" in frameworks
    # With ten or so frameworks, one row of thirteen bar groups is too wide to read: split the
    # scenarios over two panels, one above the other, each bar about 0.1 inch wide.
    panels = 2 if len(fws) * len(scs) > 80 else 1
    per_panel = -(-len(scs) // panels)
    chunks = [scs[k : k + per_panel] for k in range(0, len(scs), per_panel)]
    width = 0.84 / max(1, len(fws))
    fig_width = max(10.0, per_panel * (0.45 + 0.11 * len(fws)))
    fig, axes = plt.subplots(panels, 1, figsize=(fig_width, 1.5 + 4.2 * panels), squeeze=False)
    values = [
        v
        for sc in scs
        for fw in fws
        if (v := ratios["vs_starlette"][sc.name][fw] if relative else cells[sc.name][fw].ops)
    ]
    for ax, chunk in zip((row[0] for row in axes), chunks, strict=False):
        names = [sc.name for sc in chunk]
        for i, fw in enumerate(fws):
            vals = []
            for sc in chunk:
                v = ratios["vs_starlette"][sc.name][fw] if relative else cells[sc.name][fw].ops
                vals.append(v or float("nan"))
            xs = [j + (i - (len(fws) - 1) / 2) * width for j in range(len(names))]
            ax.bar(
                xs,
                vals,
                width,
                label=FRAMEWORKS[fw][1],
                color=colors.get(fw),
                edgecolor="white",
                linewidth=0.3,
            )
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names)
        ax.set_xlim(-0.5, per_panel - 0.5)
        if relative:
            ax.axhline(1.0, color="black", linewidth=0.8, linestyle="--")
            ax.set_yscale("log", base=2)
            ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}x"))
            ax.set_ylabel("speed-up vs Starlette 1.10\n(req/s ratio, log scale)")
            if values:  # the same scale on every panel, so bars compare across panels
                ax.set_ylim(min(values) / 1.3, max(values) * 1.3)
        else:
            ax.set_ylabel("requests/s")
        ax.grid(axis="y", alpha=0.3)
    top = axes[0][0]
    top.set_title(title, pad=24)
    # One legend row above the top panel (below the title), so no bar group is hidden under it.
    top.legend(ncols=len(fws), fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    fig.text(
        0.995,
        0.005,
        "missing bar = skipped (framework lacks the feature) or failed; see the table",
        ha="right",
        va="bottom",
        fontsize=7,
        color="#555555",
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def append_history(
    cells: dict[str, dict[str, Cell]], scs: list[Scenario], ratios: dict[str, Any], meta: dict[str, Any]
) -> None:
    """One line per full run in ``results/history.md``: lyre's speed-ups over time, by commit."""
    import subprocess

    try:
        commit = (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"],
                capture_output=True,
                text=True,
                cwd=harness.ROOT,
                check=False,
            ).stdout.strip()
            or "?"
        )
    except OSError:
        commit = "?"
    path = RESULTS / "history.md"
    names = [sc.name for sc in scs]
    if not path.exists():
        path.write_text(
            "# lyre's speed over time\n\nOne row per full `make bench` run (`bench/run.py` appends it): the "
            "commit measured, lyre's speed-up over Starlette 1.10 per scenario and as the geometric mean "
            "of the 12 core scenarios, and the cost of the plaintext scenario relative to a raw ASGI app. "
            "Ratios, not requests/s, so rows from different machines compare; see bench/README.md for "
            "the method.\n\n"
            "| date | commit | geomean | plaintext vs raw | "
            + " | ".join(names)
            + " |\n"
            + "|---" * (len(names) + 4)
            + "|\n"
        )
    vs = ratios["vs_starlette"]
    gm = ratios["geomean"].get("lyre")
    raw = ratios["vs_raw"].get("plaintext", {}).get("lyre")
    row = (
        f"| {meta['date']} | {commit} | {fmt_x(gm)} | {fmt_x(raw)} | "
        + " | ".join(fmt_x(vs.get(n, {}).get("lyre")) for n in names)
        + " |\n"
    )
    with path.open("a") as f:
        f.write(row)


# --------------------------------------------------------------------------------------------------
# Route-count scaling


async def run_scaling(
    frameworks: list[str], reps: int, target: float, log: Any
) -> dict[str, dict[int, float]]:
    """Per-request time for N = 1, 50, 500, 2000 parametrised routes, the request hitting the last."""
    cells: dict[tuple[str, int], Cell] = {}
    for fw in frameworks:
        try:
            module = __import__(FRAMEWORKS[fw][0], fromlist=["make_routes"])
            make = module.make_routes
        except Exception as exc:  # noqa: BLE001
            log(f"  ! scaling/{fw}: {harness.short_error(exc)}")
            continue
        for n in SCALING_SIZES:
            sc = Scenario(
                f"routes{n}", f"{n} routes", f"/resource{n - 1}/7", harness.expect(200, f"{n - 1}:7".encode())
            )
            cell = await harness.prepare_cell(fw, sc, lambda n=n: make(n))
            if cell.error is None:
                await harness.calibrate(cell, target)
            else:
                log(f"  ! scaling/{fw}/{n}: {cell.error}")
            cells[(fw, n)] = cell
    harness.freeze_heap()
    for rep in range(reps):
        for n in SCALING_SIZES:
            for fw in frameworks[rep % len(frameworks) :] + frameworks[: rep % len(frameworks)]:
                cell = cells.get((fw, n))
                if cell is not None and not cell.error:
                    await harness.time_cell(cell)
    for cell in cells.values():
        if cell.lifespan is not None:
            await cell.lifespan.shutdown()
    out: dict[str, dict[int, float]] = {}
    for (fw, n), cell in cells.items():
        pr = cell.per_request
        if pr is not None:
            out.setdefault(fw, {})[n] = pr
    return out


def render_scaling(scaling: dict[str, dict[int, float]], meta: dict[str, Any]) -> str:
    out = [
        "# Route-count scaling (in-process)\n",
        f"`/resource{{i}}/{{item_id:int}}` routes, the request hits the last one; µs per request, median of "
        f"{meta['reps']} repetitions, interleaved. Mode: {meta['mode']}. Date: {meta['date']}.\n",
        "| routes | "
        + " | ".join(f"{FRAMEWORKS[fw][1]} µs | {FRAMEWORKS[fw][1]} vs 1 route" for fw in scaling)
        + " |",
        "|---" * (1 + 2 * len(scaling)) + "|",
    ]
    for n in SCALING_SIZES:
        cols = []
        for fw in scaling:
            v = scaling[fw].get(n)
            base = scaling[fw].get(1)
            cols.append(f"{v * 1e6:.2f}" if v else "-")
            cols.append(f"{v / base:.2f}x" if v and base else "-")
        out.append(f"| {n:,} | " + " | ".join(cols) + " |")
    if "lyre" in scaling and "starlette" in scaling:
        out.append("")
        for n in SCALING_SIZES:
            a, b = scaling["lyre"].get(n), scaling["starlette"].get(n)
            if a and b:
                out.append(f"- {n:,} routes: lyre is {b / a:.2f}x faster than Starlette")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------------
# Profile one cell


async def profile_cell(spec: str, seconds: float, top: int) -> None:
    fw, _, name = spec.partition(":")
    scs = {sc.name: sc for sc in harness.scenarios()}
    if fw not in FRAMEWORKS or name not in scs:
        raise SystemExit(f"--profile wants FRAMEWORK:SCENARIO, e.g. lyre:plaintext (got {spec!r})")
    factories = harness.load_factories(fw)
    cell = await harness.prepare_cell(fw, scs[name], factories.get(name))
    if cell.error:
        raise SystemExit(f"{spec}: {cell.error}")
    await harness.calibrate(cell, seconds)
    assert cell.app is not None and cell.lifespan is not None
    profiler = cProfile.Profile()
    profiler.enable()
    await harness.run_batch(cell.app, cell.scope, cell.chunks, cell.lifespan.state, cell.n)
    profiler.disable()
    print(f"# cProfile of {spec}: {cell.n} requests")
    stats = pstats.Stats(profiler).strip_dirs()
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    await cell.lifespan.shutdown()


# --------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="short runs (3 repetitions, ~0.02s per cell)")
    p.add_argument("--reps", type=int, help="repetitions per cell (default 7, quick 3)")
    p.add_argument("--target", type=float, help="seconds per timed repetition of a cell (default 0.1)")
    p.add_argument("--frameworks", default=",".join(FRAMEWORKS), help="comma-separated subset")
    p.add_argument("--scenarios", default="", help="comma-separated subset (default all)")
    p.add_argument("--no-scaling", action="store_true", help="skip the route-count scaling table")
    p.add_argument("--no-inprocess", action="store_true", help="skip the in-process table")
    p.add_argument("--e2e", action="store_true", help="run only the end-to-end mode (uvicorn + wrk)")
    p.add_argument("--no-e2e", action="store_true", help="skip the end-to-end mode")
    p.add_argument("--all", action="store_true", help="also run the end-to-end mode in quick mode")
    p.add_argument("--no-write", action="store_true", help="print results, do not write bench/results/")
    p.add_argument("--profile", metavar="FW:SCENARIO", help="cProfile one cell and print the top functions")
    p.add_argument("--top", type=int, default=30)
    p.add_argument(
        "--clock",
        choices=("cpu", "wall"),
        default="cpu",
        help="cpu: process CPU time, robust on a shared machine (default); wall: perf_counter",
    )
    p.add_argument("--verbose", action="store_true", help="tracebacks for failing cells")
    args, rest = p.parse_known_args(argv)

    if args.profile:
        harness.set_clock(args.clock)
        with asyncio.Runner(loop_factory=harness.new_loop) as runner:
            runner.run(profile_cell(args.profile, args.target or 1.0, args.top))
        return 0

    if args.e2e:
        from bench import e2e

        return e2e.main(
            rest + (["--quick"] if args.quick else []) + (["--no-write"] if args.no_write else [])
        )

    frameworks = [f.strip() for f in args.frameworks.split(",") if f.strip()]
    unknown = [f for f in frameworks if f not in FRAMEWORKS]
    if unknown:
        raise SystemExit(f"unknown frameworks: {unknown}; known: {list(FRAMEWORKS)}")
    reps = args.reps or (3 if args.quick else 7)
    target = args.target or (0.02 if args.quick else 0.1)
    mode = "quick" if args.quick else "full"

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    harness.set_clock(args.clock)
    versions = harness.verify_packages()
    meta = {
        "versions": versions,
        "reps": reps,
        "target": target,
        "mode": mode,
        "clock": args.clock,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    log("versions: " + ", ".join(f"{k}={v}" for k, v in versions.items()))
    all_scs = harness.scenarios()
    wanted = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    scs = [sc for sc in all_scs if not wanted or sc.name in wanted]
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
    suffix = "-quick" if args.quick else ""
    scaling: dict[str, dict[int, float]] | None = None

    with asyncio.Runner(loop_factory=harness.new_loop) as runner:
        if not args.no_scaling:
            sfws = [fw for fw in ("lyre", "starlette") if fw in frameworks]
            log(f"route scaling: {sfws} x {SCALING_SIZES}")
            scaling = runner.run(run_scaling(sfws, reps, target, log))
            text = render_scaling(scaling, meta)
            print(text)
            if not args.no_write:
                (RESULTS / f"scaling{suffix}.md").write_text(text)
        if not args.no_inprocess:
            log(f"in-process: {len(scs)} scenarios x {frameworks}, {reps} reps, ~{target}s per cell")
            t0 = time.perf_counter()
            cells = runner.run(run_inprocess(frameworks, scs, reps, target, log))
            log(f"in-process done in {time.perf_counter() - t0:.0f}s")
            ratios = ratio_tables(cells, frameworks, scs)
            tl = targets(cells, frameworks, scs, ratios, scaling)
            text = render_markdown(cells, frameworks, scs, ratios, meta, tl)
            print(text)
            if not args.no_write:
                (RESULTS / f"inprocess{suffix}.md").write_text(text)
                data = {
                    "meta": meta,
                    "cells": {
                        sc: {
                            fw: {"ops": c.ops, "n": c.n, "per_request_s": c.times, "error": c.error}
                            for fw, c in row.items()
                        }
                        for sc, row in cells.items()
                    },
                    "ratios": ratios,
                    "scaling": {fw: {str(n): v for n, v in d.items()} for fw, d in (scaling or {}).items()},
                }
                (RESULTS / f"inprocess{suffix}.json").write_text(json.dumps(data, indent=1))
                if not args.quick and "lyre" in frameworks and "starlette" in frameworks:
                    append_history(cells, scs, ratios, meta)
                png = RESULTS / f"inprocess{suffix}.png"
                if render_chart(
                    cells,
                    frameworks,
                    scs,
                    ratios,
                    png,
                    f"In-process speed-up vs Starlette 1.10 ({mode}, median of {reps})",
                ):
                    log(f"chart: {png}")
    if args.all or not (
        args.quick
        or args.no_e2e
        or args.profile
        or args.no_inprocess
        or args.frameworks != ",".join(FRAMEWORKS)
        or args.scenarios
    ):
        from bench import e2e

        return e2e.main(
            rest + (["--quick"] if args.quick else []) + (["--no-write"] if args.no_write else [])
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
