"""Summarise a pytest JUnit XML report: pass figure, and the failing tests grouped by cause.

Usage: python compat/summarize.py JUNIT.xml [--title TITLE] [--min-pass PERCENT]
The pass figure is passed / (passed + failed + errors); skipped and xfailed tests are counted apart.
A failure's "cause" is the first line of its message (the exception type and text), so tests that
fail for the same reason land in the same group.
"""

from __future__ import annotations

import argparse
import collections
import sys
import xml.etree.ElementTree as ET


def _test_file(classname: str) -> str:
    """``tests.middleware.test_base.TestX`` -> ``tests/middleware/test_base.py`` (the module's file)."""
    parts = classname.split(".")
    while len(parts) > 1 and not parts[-1].startswith("test"):
        parts.pop()
    return "/".join(parts) + ".py"


def _node_id(test_id: str) -> str:
    """``tests.middleware.test_base::test_x[asyncio]`` -> ``tests/middleware/test_base.py::test_x[asyncio]``."""
    classname, _, name = test_id.partition("::")
    path = _test_file(classname)
    rest = classname[len(path) - 3 :].lstrip(".").replace(".", "::")
    return f"{path}::{rest}::{name}" if rest else f"{path}::{name}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("junit")
    parser.add_argument("--title", default="suite")
    parser.add_argument("--min-pass", type=float, help="exit 1 when the pass figure is below this percentage")
    parser.add_argument(
        "--per-file", action="store_true", help="also print a passed/failed table per test file"
    )
    parser.add_argument(
        "--known-failures",
        help="file of test ids (one per line, '#' comments) still failing: exit 1 only for a failure not listed",
    )
    args = parser.parse_args()

    root = ET.parse(args.junit).getroot()
    counts: collections.Counter[str] = collections.Counter()
    causes: dict[str, list[str]] = collections.defaultdict(list)
    per_file: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for case in root.iter("testcase"):
        test_id = f"{case.get('classname', '')}::{case.get('name', '')}"
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = "failed" if child.tag == "failure" else "errors"
                message = (child.get("message") or child.text or "").strip().splitlines()
                cause = message[0][:200] if message else "(no message)"
                causes[cause].append(test_id)
                break
            if child.tag == "skipped":
                outcome = "xfailed" if (child.get("type") == "pytest.xfail") else "skipped"
                break
        counts[outcome] += 1
        per_file[_test_file(case.get("classname") or "")][outcome] += 1

    ran = counts["passed"] + counts["failed"] + counts["errors"]
    figure = 100.0 * counts["passed"] / ran if ran else 0.0
    print(
        f"{args.title}: {counts['passed']} passed, {counts['failed']} failed, {counts['errors']} errors,"
        f" {counts['skipped']} skipped, {counts['xfailed']} xfailed -> pass figure {figure:.2f}%"
        f" ({counts['passed']}/{ran})"
    )
    if args.per_file:
        print(f"\n| file | passed | failed | skipped |\n|---|---:|---:|---:|")
        for name, c in sorted(per_file.items()):
            bad = c["failed"] + c["errors"]
            print(f"| {name} | {c['passed']} | {bad} | {c['skipped'] + c['xfailed']} |")
    for cause, tests in sorted(causes.items(), key=lambda item: -len(item[1])):
        print(f"\n[{len(tests)}] {cause}")
        for test_id in sorted(tests):
            print(f"    {test_id}")
    if args.known_failures is not None:
        with open(args.known_failures, encoding="utf-8") as file:
            known = {line.split("#")[0].strip() for line in file} - {""}
        failing = {_node_id(t) for tests in causes.values() for t in tests}
        new = sorted(failing - known)
        fixed = sorted(known - failing)
        print(f"\nknown failures still failing: {len(failing & known)}; now passing: {len(fixed)}")
        for test_id in fixed:
            print(f"    now passes (remove it from the list): {test_id}")
        if new or ran == 0:
            print(f"\n{len(new)} failing test(s) not in the known-failures list:")
            for test_id in new:
                print(f"    {test_id}")
            sys.exit(1)
    if args.min_pass is not None and (ran == 0 or figure < args.min_pass):
        print(f"\npass figure below {args.min_pass:g}%")
        sys.exit(1)


if __name__ == "__main__":
    main()
