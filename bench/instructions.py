"""Instructions per request, counted by valgrind's callgrind: a measure that noise cannot move.

Wall-clock timings on a shared machine swing from one repetition to the next; the number of
instructions the CPU executes for a request does not (the same code executes the same instructions
whatever else the machine runs). This runs each framework's in-process apps (the same apps and the
same fake server as ``bench/run.py``) under ``valgrind --tool=callgrind`` and reports instructions
per request for every scenario, lyre against Starlette and the raw ASGI floor.

How a count is taken: one callgrind process per framework prepares each scenario's app, checks its
answer and warms it up, then runs ``N`` requests between two calls of ``os.getpgrp()``; callgrind is
started with ``--dump-before=getpgrp``, so it writes out the instructions counted since the previous
dump at each of those calls, and the part between the two calls is exactly the ``N`` requests
(plus the fake server's own share, the same for every framework, as in the timed tables).

    python bench/instructions.py                                  # lyre, starlette, raw; all scenarios
    python bench/instructions.py --scenarios plaintext,json -n 200
    python bench/instructions.py --save before.json               # keep a run ...
    python bench/instructions.py --compare before.json            # ... and judge a change against it

Counts repeat exactly for the same command; compare runs of the same frameworks and scenarios (what
ran before a scenario in the same process, such as another app's allocations, can shift a count).

``make bench-instructions`` installs valgrind (Debian's package) when it is missing and writes
``bench/results/instructions.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402
from bench.harness import FRAMEWORKS  # noqa: E402

RESULTS_FIELD = ROOT / "bench" / "results" / "instructions-field.md"
RESULTS = BENCH_DIR / "results" / "instructions.md"
DEFAULT_FRAMEWORKS = "lyre,starlette,raw"
#: Fewer requests where one request is heavy (a 1 MiB upload): the count per request is as exact.
HEAVY = {"multipart": 20}


# -- the child: runs inside callgrind ----------------------------------------------------------------


def _marker() -> None:
    """Callgrind dumps its counters when this libc call is entered (``--dump-before=getpgrp``)."""
    os.getpgrp()


async def _child(framework: str, names: list[str], n: int, report: Path) -> None:
    factories = harness.load_factories(framework)
    scs = {sc.name: sc for sc in harness.scenarios()}
    cells = []
    for name in names:
        cell = await harness.prepare_cell(framework, scs[name], factories.get(name))
        if cell.error is None:
            assert cell.app is not None and cell.lifespan is not None
            # Warm-up: caches, lazily built tables and the first-request paths are not what we count.
            await harness.run_batch(cell.app, cell.scope, cell.chunks, cell.lifespan.state, 20)
        cells.append(cell)
    harness.freeze_heap()
    measured: list[dict[str, Any]] = []
    for cell in cells:
        entry: dict[str, Any] = {"scenario": cell.scenario, "error": cell.error, "n": 0}
        if cell.error is None:
            assert cell.app is not None and cell.lifespan is not None
            count = HEAVY.get(cell.scenario, n)
            _marker()  # everything before this point is one part, not counted
            _, status = await harness.run_batch(cell.app, cell.scope, cell.chunks, cell.lifespan.state, count)
            _marker()  # this part is the `count` requests
            if status != cell.status:
                entry["error"] = f"status drifted to {status}"
            entry["n"] = count
        measured.append(entry)
    for cell in cells:
        if cell.lifespan is not None:
            await cell.lifespan.shutdown()
    report.write_text(json.dumps(measured))


# -- the parent: starts callgrind per framework and reads its parts ----------------------------------


def _totals(path: Path) -> int:
    for line in path.read_text().splitlines():
        if line.startswith("totals:") or line.startswith("summary:"):
            return int(line.split(":", 1)[1].split()[0])
    raise ValueError(f"{path}: no totals line")


def measure(framework: str, names: list[str], n: int) -> dict[str, dict[str, Any]]:
    """Instructions per request for each scenario of one framework (one callgrind process)."""
    with tempfile.TemporaryDirectory(prefix="lyre-callgrind-") as tmp:
        out = Path(tmp)
        report = out / "report.json"
        cmd = [
            "valgrind",
            "--tool=callgrind",
            "--dump-before=getpgrp",
            "--dump-instr=no",
            f"--callgrind-out-file={out}/cg.out",
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            framework,
            "--scenarios",
            ",".join(names),
            "-n",
            str(n),
            "--report",
            str(report),
        ]
        # A fixed hash seed: dict and set layouts, and so the instructions, repeat run to run.
        env = dict(os.environ, PYTHONHASHSEED="0")
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode != 0 or not report.exists():
            tail = "\n".join(proc.stderr.splitlines()[-15:])
            raise SystemExit(f"callgrind run for {framework} failed (exit {proc.returncode}):\n{tail}")
        entries = json.loads(report.read_text())
        parts = sorted(out.glob("cg.out.*"), key=lambda p: int(p.suffix[1:]))
        counted = iter(parts)
        results: dict[str, dict[str, Any]] = {}
        for entry in entries:
            if entry["n"]:
                next(counted)  # the part before the first marker: set-up, not counted
                total = _totals(next(counted))
                results[entry["scenario"]] = {"per_request": total / entry["n"], "error": entry["error"]}
            else:
                results[entry["scenario"]] = {"per_request": None, "error": entry["error"] or "n/a"}
        return results


def _fmt(count: float | None) -> str:
    return "—" if count is None else f"{count / 1000:,.1f}k"


def table(data: dict[str, dict[str, dict[str, Any]]], frameworks: list[str], names: list[str]) -> str:
    """A Markdown table: thousands of instructions per request, and lyre's ratios."""
    head = ["scenario", *(FRAMEWORKS[fw][1] for fw in frameworks)]
    # Every other framework against lyre ("2.00x": it executes twice lyre's instructions), and lyre
    # against the raw ASGI floor.
    ratios = [fw for fw in frameworks if fw != "lyre" and "lyre" in frameworks]
    ratios.sort(key=lambda fw: fw == "raw")
    head += [f"{FRAMEWORKS[fw][1]} ÷ lyre" if fw != "raw" else "lyre ÷ raw ASGI" for fw in ratios]
    lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    for name in names:
        row = [name]
        counts = {fw: data[fw].get(name, {}).get("per_request") for fw in frameworks}
        row += [_fmt(counts[fw]) for fw in frameworks]
        lyre = counts.get("lyre")
        for fw in ratios:
            other = counts.get(fw)
            if not lyre or not other:
                row.append("—")
            elif fw == "raw":
                row.append(f"{lyre / other:.2f}x")
            else:
                row.append(f"{other / lyre:.2f}x")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def field_table(data: dict[str, dict[str, dict[str, Any]]], frameworks: list[str], names: list[str]) -> str:
    """A Markdown table of every framework's count; the fewest instructions of a row (raw ASGI aside) in bold."""
    head = ["scenario", *(FRAMEWORKS[fw][1] for fw in frameworks)]
    lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    for name in names:
        counts = {fw: data[fw].get(name, {}).get("per_request") for fw in frameworks}
        known = [c for fw, c in counts.items() if c and fw != "raw"]
        fewest = min(known) if known else None
        cells = []
        for fw in frameworks:
            text = _fmt(counts[fw])
            cells.append(f"**{text}**" if counts[fw] is not None and counts[fw] == fewest else text)
        lines.append("| " + " | ".join([name, *cells]) + " |")
    return "\n".join(lines)


def compare(before: dict[str, Any], after: dict[str, Any]) -> str:
    """Per-cell change between two saved runs (negative: fewer instructions, faster)."""
    lines = ["| framework | scenario | before | after | change |", "|---|---|---:|---:|---:|"]
    for fw, cells in after.items():
        for name, cell in cells.items():
            old = before.get(fw, {}).get(name, {}).get("per_request")
            new = cell.get("per_request")
            if old and new:
                lines.append(
                    f"| {fw} | {name} | {_fmt(old)} | {_fmt(new)} | {100 * (new / old - 1):+.1f} % |"
                )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frameworks", default=DEFAULT_FRAMEWORKS, help="comma-separated subset")
    p.add_argument("--scenarios", default="", help="comma-separated subset (default: all)")
    p.add_argument("-n", type=int, default=100, help="requests counted per scenario (default 100)")
    p.add_argument("--save", type=Path, help="write the counts as JSON (for --compare later)")
    p.add_argument("--compare", type=Path, help="a saved run to judge this one against")
    p.add_argument("--no-write", action="store_true", help=f"do not write {RESULTS.relative_to(ROOT)}")
    p.add_argument(
        "--field",
        action="store_true",
        help=f"every framework of the timed suite, into {RESULTS_FIELD.relative_to(ROOT)} (~4 min)",
    )
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--report", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()

    all_names = [sc.name for sc in harness.scenarios()]
    names = [s for s in args.scenarios.split(",") if s] or all_names
    unknown = [s for s in names if s not in all_names]
    if unknown:
        raise SystemExit(f"unknown scenarios: {unknown}; known: {all_names}")
    if args.child:
        loop = harness.new_loop()
        try:
            loop.run_until_complete(_child(args.child, names, args.n, args.report))
        finally:
            loop.close()
        return

    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    frameworks = list(FRAMEWORKS) if args.field else [f for f in args.frameworks.split(",") if f]
    missing = [f for f in frameworks if f not in FRAMEWORKS]
    if missing:
        raise SystemExit(f"unknown frameworks: {missing}; known: {list(FRAMEWORKS)}")
    versions = harness.verify_packages()
    data: dict[str, dict[str, dict[str, Any]]] = {}
    for fw in frameworks:
        print(f"counting {FRAMEWORKS[fw][1]} ...", file=sys.stderr, flush=True)
        data[fw] = measure(fw, names, args.n)
    text = field_table(data, frameworks, names) if args.field else table(data, frameworks, names)
    print(text)
    if args.save:
        args.save.write_text(json.dumps(data, indent=1))
    if args.compare:
        print()
        print(compare(json.loads(args.compare.read_text()), data))
    if not args.no_write and not args.scenarios and not args.field and args.frameworks == DEFAULT_FRAMEWORKS:
        env = ", ".join(
            f"{k} {v}" for k, v in versions.items() if k in ("lyre", "starlette", "python", "loop")
        )
        RESULTS.write_text(
            "# Instructions per request (callgrind)\n\n"
            "Thousands of CPU instructions executed per request, counted by valgrind's callgrind over "
            f"{args.n} requests per scenario ({HEAVY['multipart']} for multipart) after a warm-up, "
            "in-process with the same apps and fake server as the timed tables. The count does not "
            "depend on what else the machine is doing, so it judges a change where timings cannot "
            "(it does not see memory stalls or system calls; the timed tables do).\n\n"
            f"{env}.\n\n{text}\n"
        )
        print(f"\nwritten: {RESULTS.relative_to(ROOT)}", file=sys.stderr)
    if args.field and not args.no_write and not args.scenarios:
        env = ", ".join(f"{FRAMEWORKS[k][1] if k in FRAMEWORKS else k} {v}" for k, v in versions.items())
        RESULTS_FIELD.write_text(
            "# Instructions per request, every framework (callgrind)\n\n"
            "Thousands of CPU instructions executed per request, counted by valgrind's callgrind "
            f"over {args.n} requests per scenario ({HEAVY['multipart']} for multipart) after a "
            "warm-up, in-process with the same apps and fake server as the timed tables "
            "(`python bench/instructions.py --field`). Bold: the fewest of the row, the raw ASGI app "
            "aside. A count is steady from run to run where timings are not, but it is not a time: "
            "compiled code (BlackSheep's, Falcon's and Muffin's hot paths, and the C parts of every "
            "library) runs more instructions per CPU cycle than the interpreter, so a framework can "
            "execute more instructions than another and still answer faster; the timed tables "
            "decide speed.\n\n"
            f"{env}.\n\n{text}\n"
        )
        print(f"\nwritten: {RESULTS_FIELD.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
