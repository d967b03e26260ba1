"""Replays every case saved in tests/fuzz_corpus/ on asyncio and trio against the fuzz target app.

``make fuzz`` saves each new kind of problem it finds there as ``crash-*.json``; hand-written
``seed-*.json`` cases cover each part of the app. Each must pass the fuzzer's oracle (see
tests/fuzz/harness.py): no exception out of the app beyond the documented ones, no 5xx, a
well-formed response (or none after a disconnect), no hang.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz.app import build_app, make_files
from tests.fuzz.harness import Case, run_case

CORPUS = Path(__file__).parent / "fuzz_corpus"
CASES = sorted(CORPUS.glob("*.json"))


def test_the_corpus_has_cases() -> None:
    assert len(CASES) >= 10


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_saved_case_passes_the_oracle(path: Path, backend: str, tmp_path: Path) -> None:
    case = Case.from_json(path.read_text())
    make_files(tmp_path)
    app = build_app(tmp_path)
    outcome, problems = run_case(app, case, backend)
    assert problems == [], case.note
    if case.disconnect_at is None and case.fail_send_at is None and case.kind == "http":
        assert outcome.messages, "a client that stays gets an answer"
