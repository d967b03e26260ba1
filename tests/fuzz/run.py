"""Fuzz the whole lyre application entry point: ``python -m tests.fuzz.run --seconds 600``.

Coverage-guided with atheris (libFuzzer) when it is installed (``make fuzz`` installs it); otherwise
hypothesis draws random inputs for the same time. Every input becomes a ``Case`` (see
``tests/fuzz/harness.py``) run against the app of ``tests/fuzz/app.py`` on asyncio or trio, and is
judged by the oracle. The run does not stop at a finding: each new kind of problem is saved once as
``tests/fuzz_corpus/crash-<kind>-<hash>.json``, which ``tests/test_fuzz_corpus.py`` then replays on
both backends in ``make test`` (so it fails until the bug is fixed). A descriptor count that keeps
growing, an unraisable exception and a ``ResourceWarning`` or ``RuntimeWarning`` are findings too.

The inputs that reached new code are kept in ``--corpus`` (default ``.fuzz/corpus``), so the next run
starts from them. At the end (and every 30 s) a summary goes to ``--summary`` (default
``.fuzz/summary.json``): executions, findings, and libFuzzer's coverage counters. ``--coverage``
instead replays the saved corpus under coverage.py and reports line coverage of ``lyre/``.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import importlib
import importlib.util
import json
import logging
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FINDINGS = ROOT / "tests" / "fuzz_corpus"


class Fuzzer:
    """Runs inputs, keeps the counts, saves findings."""

    def __init__(self, summary: Path, seconds: float) -> None:
        from tests.fuzz import app as fuzz_app
        from tests.fuzz import harness

        self.harness = harness
        self.fuzz_app = fuzz_app
        self.tmp = tempfile.TemporaryDirectory(prefix="lyre-fuzz-")
        root = Path(self.tmp.name)
        fuzz_app.make_files(root)
        self.app = fuzz_app.build_app(root)
        harness.prepare(self.app)
        self.summary = summary
        self.seconds = seconds
        self.started = time.monotonic()
        self.last_write = self.started
        self.executions = 0
        self.by_backend = {"asyncio": 0, "trio": 0}
        self.statuses: dict[str, int] = {}
        self.findings: dict[str, str] = {}
        self.fd_baseline: int | None = None
        # Unraisable exceptions (an exception in a finalizer, a never-awaited coroutine) and resource
        # warnings (a file or socket left to the garbage collector) are findings too.
        self.noticed: list[str] = []
        sys.unraisablehook = self._unraisable
        warnings.simplefilter("always", ResourceWarning)
        warnings.simplefilter("always", RuntimeWarning)
        warnings.showwarning = self._warning

    def _unraisable(self, info: Any) -> None:
        self.noticed.append(
            f"unraisable {type(info.exc_value).__name__}: {info.exc_value!r} in {info.object!r}"[:300]
        )

    def _warning(self, message: Any, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        if issubclass(category, ResourceWarning | RuntimeWarning):
            self.noticed.append(f"{category.__name__}: {message}"[:300])

    def one_input(self, data: bytes) -> None:
        case = self.harness.decode(data)
        backend = "trio" if data and data[-1] & 1 else "asyncio"
        outcome, problems = self.harness.run_case(self.app, case, backend)
        self.executions += 1
        self.by_backend[backend] += 1
        start = outcome.messages[0] if outcome.messages else {}
        key = str(start.get("status", start.get("type", "none")))
        self.statuses[key] = self.statuses.get(key, 0) + 1
        if self.noticed:
            problems = [*problems, *self.noticed]
            self.noticed.clear()
        if not problems:
            problems = self._fd_problems()
        if problems:
            self._save(case, backend, problems)
        now = time.monotonic()
        if now - self.last_write > 30:
            self.last_write = now
            self.write_summary()

    def _fd_problems(self) -> list[str]:
        if self.executions % 50:
            return []
        count = self.fuzz_app.open_fd_count()
        if self.fd_baseline is None:
            self.fd_baseline = count
            return []
        if count > self.fd_baseline + 8:
            gc.collect()
            count = self.fuzz_app.open_fd_count()
            if count > self.fd_baseline + 8:
                self.fd_baseline = count  # report growth once per step
                return [f"open file descriptors grew to {count}"]
        return []

    def _save(self, case: Any, backend: str, problems: list[str]) -> None:
        kind = self.harness.signature(problems, case)
        if kind in self.findings:
            return
        case.note = f"{backend}: " + " | ".join(problems)[:500]
        text = case.to_json()
        name = f"crash-{kind}-{hashlib.sha1(text.encode()).hexdigest()[:10]}.json"
        FINDINGS.mkdir(parents=True, exist_ok=True)
        (FINDINGS / name).write_text(text)
        self.findings[kind] = name
        print(f"\nFINDING {name}: {case.note}", flush=True)
        self.write_summary()

    def write_summary(self, extra: dict[str, Any] | None = None) -> None:
        elapsed = time.monotonic() - self.started
        data = {
            "engine": "atheris" if "atheris" in sys.modules else "hypothesis",
            "seconds": round(elapsed, 1),
            "executions": self.executions,
            "executions_per_second": round(self.executions / elapsed, 1) if elapsed else 0,
            "by_backend": self.by_backend,
            "first_message_status": dict(sorted(self.statuses.items())),
            "findings": self.findings,
            **(extra or {}),
        }
        self.summary.parent.mkdir(parents=True, exist_ok=True)
        self.summary.write_text(json.dumps(data, indent=1) + "\n")


def run_atheris(args: argparse.Namespace) -> None:
    atheris: Any = importlib.import_module("atheris")  # untyped; optional (installed by `make fuzz`)

    with atheris.instrument_imports(include=["lyre", "tests.fuzz"]):
        fuzzer = Fuzzer(args.summary, args.seconds)
    args.corpus.mkdir(parents=True, exist_ok=True)
    argv = [
        sys.argv[0],
        f"-max_total_time={int(args.seconds)}",
        "-timeout=120",
        "-rss_limit_mb=6144",
        "-max_len=4096",
        "-print_final_stats=1",
        "-print_pcs=0",
        f"-artifact_prefix={args.corpus.parent}/",
        str(args.corpus),
    ]
    atheris.Setup(argv, fuzzer.one_input)
    atheris.Fuzz()


def run_hypothesis(args: argparse.Namespace) -> None:
    from hypothesis import Phase, given, settings
    from hypothesis import strategies as st

    fuzzer = Fuzzer(args.summary, args.seconds)
    deadline = time.monotonic() + args.seconds

    class OutOfTime(Exception):
        pass

    @settings(max_examples=10**9, deadline=None, database=None, phases=[Phase.generate])
    @given(st.binary(max_size=2048))
    def explore(data: bytes) -> None:
        if time.monotonic() > deadline:
            raise OutOfTime
        fuzzer.one_input(data)

    try:
        explore()
    except OutOfTime:
        pass
    fuzzer.write_summary()
    print(json.dumps(json.loads(args.summary.read_text()), indent=1))


def replay_for_coverage(args: argparse.Namespace) -> None:
    """Replay the saved corpus under coverage.py; print and record lyre's line coverage."""
    import coverage

    cov = coverage.Coverage(source=[str(ROOT / "lyre")], data_file=None)
    cov.start()
    fuzzer = Fuzzer(args.summary.with_name("coverage-replay.json"), 0)
    inputs = sorted(args.corpus.iterdir()) if args.corpus.is_dir() else []
    for path in inputs:
        fuzzer.one_input(path.read_bytes())
    cov.stop()
    report = ROOT / ".fuzz" / "coverage.txt"
    with report.open("w") as out:
        percent = cov.report(file=out, show_missing=False, skip_empty=True)
    summary = json.loads(args.summary.read_text()) if args.summary.exists() else {}
    findings = {**summary.get("findings", {}), **fuzzer.findings}
    summary["corpus_inputs"] = len(inputs)
    summary["lyre_line_coverage_percent"] = round(percent, 1)
    summary["findings"] = findings
    args.summary.write_text(json.dumps(summary, indent=1) + "\n")
    print(f"corpus: {len(inputs)} inputs; lyre line coverage: {percent:.1f}% (per file: {report})")
    if summary.get("executions"):
        print(
            f"last run: {summary['executions']} executions in {summary['seconds']:.0f} s (summary: {args.summary})"
        )
    if findings:
        print(f"{len(findings)} finding(s), saved in {FINDINGS}:")
        for name in findings.values():
            print(f"  {name}")
        raise SystemExit(1)
    print("no findings")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--corpus", type=Path, default=ROOT / ".fuzz" / "corpus")
    parser.add_argument("--summary", type=Path, default=ROOT / ".fuzz" / "summary.json")
    parser.add_argument("--engine", choices=["auto", "atheris", "hypothesis"], default="auto")
    parser.add_argument("--coverage", action="store_true", help="replay the corpus under coverage.py")
    args = parser.parse_args(argv)
    # python-multipart logs a warning per malformed part: the fuzzer makes thousands.
    logging.getLogger("python_multipart").setLevel(logging.ERROR)
    logging.getLogger("multipart").setLevel(logging.ERROR)
    if args.coverage:
        replay_for_coverage(args)
        return
    engine = args.engine
    if engine == "auto":
        if importlib.util.find_spec("atheris") is None:
            engine = "hypothesis"
            print("atheris is not installed: random inputs from hypothesis instead (no coverage guidance)")
        else:
            engine = "atheris"
    if engine == "atheris":
        run_atheris(args)
    else:
        run_hypothesis(args)


if __name__ == "__main__":
    main()
