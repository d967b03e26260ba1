"""FastAPI on lyre: our own FastAPI application (compat/cases/test_fastapi_user_app.py) through the alias.

The cases run in a child pytest with the alias plugin (see ``_aliased_child``).
"""

from __future__ import annotations

import pytest

from tests._aliased_child import CASES_DIR, case_names, check_case, run_child

CASES = CASES_DIR / "test_fastapi_user_app.py"


@pytest.fixture(scope="module")
def child_results(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str | None], str]:
    return run_child(CASES, tmp_path_factory.mktemp("fastapi") / "junit.xml")


@pytest.mark.parametrize("name", case_names(CASES))
def test_fastapi_user_app(name: str, child_results: tuple[dict[str, str | None], str]) -> None:
    check_case(name, child_results)


def test_fastapi_cases_file_is_not_empty() -> None:
    assert len(case_names(CASES)) >= 20
