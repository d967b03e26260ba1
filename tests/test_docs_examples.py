"""Every ```python block in docs/**/*.md is a program, and this module runs each one.

Rules the documentation follows (see docs/index.md's "About the examples"):

- each block runs in a fresh namespace, with a fresh temporary directory as the working directory
  (samples that write templates or static files write them there);
- a block whose first line is ``# (continues the previous block)`` runs in the namespace (and the
  directory) of the block just before it on the same page: the tutorial builds its app that way;
- a block that imports ``lyre.compat.starlette`` runs in a child interpreter, because the alias is
  process-wide and must not leak into the rest of the suite;
- anything not meant to run (shell commands, output, configuration files) uses another fence
  language (```bash, ```text, ```toml, ...).

The samples run with the suite's warning filters (warnings are errors), so a sample that shows a
deprecated form has to say so with ``warnings.catch_warnings`` / ``pytest.warns`` itself.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
CONTINUES = "# (continues the previous block)"
FENCE_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^\n`]*)$")


@dataclass
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    code: str
    continues: bool

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(DOCS).as_posix()}:{self.line}"


def _language(info: str) -> str:
    info = info.strip()
    if info.startswith("{"):  # ``` {.python title="x"}
        match = re.match(r"\{\s*\.?([\w+-]+)", info)
        return match.group(1).lower() if match else ""
    return info.split()[0].lower() if info else ""


def extract_blocks(path: Path) -> list[Block]:
    """The ```python / ```py fenced blocks of one Markdown file (indented ones included, dedented)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        match = FENCE_OPEN.match(lines[i])
        if not match:
            i += 1
            continue
        indent, fence, info = match["indent"], match["fence"], match["info"]
        start = i
        body: list[str] = []
        i += 1
        closing = re.compile(rf"^{re.escape(indent)}{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        while i < len(lines) and not closing.match(lines[i]):
            body.append(lines[i])
            i += 1
        i += 1  # past the closing fence
        if _language(info) in ("python", "py", "python3"):
            code = textwrap.dedent("\n".join(body)) + "\n"
            first = code.lstrip().splitlines()[0] if code.strip() else ""
            blocks.append(Block(path, start + 1, code, first.strip() == CONTINUES))
    return blocks


def all_blocks() -> list[Block]:
    blocks: list[Block] = []
    for path in sorted(DOCS.rglob("*.md")):
        blocks.extend(extract_blocks(path))
    return blocks


BLOCKS = all_blocks()

# The namespace and working directory of the last block run, per page, for continued blocks.
_STATE: dict[Path, tuple[dict[str, Any], Path]] = {}


def _run_in_child(block: Block, workdir: Path) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", block.code],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"{block.id} failed:\n{result.stdout}\n{result.stderr}"


def test_docs_have_examples() -> None:
    assert len(BLOCKS) >= 40, "the documentation's examples were not found"
    first_of_page: dict[Path, Block] = {}
    for block in BLOCKS:
        first_of_page.setdefault(block.path, block)
    for block in first_of_page.values():
        assert not block.continues, f"{block.id}: the first block of a page cannot continue another"


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_docs_example(block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if "lyre.compat.starlette" in block.code:
        _run_in_child(block, tmp_path)
        return
    if block.continues:
        if block.path not in _STATE:
            pytest.fail(f"{block.id} continues a block that did not run (run the whole page)")
        namespace, workdir = _STATE[block.path]
    else:
        namespace, workdir = {"__name__": "__docs_example__"}, tmp_path
    monkeypatch.chdir(workdir)
    monkeypatch.syspath_prepend(str(workdir))
    _STATE.pop(block.path, None)
    modules_before = set(sys.modules)
    try:
        exec(compile(block.code, f"<{block.id}>", "exec"), namespace)
    finally:
        # Modules a sample wrote into its directory (``main.py`` ...) must not be found by the next one.
        for name in set(sys.modules) - modules_before:
            module = sys.modules[name]
            if str(getattr(module, "__file__", "") or "").startswith(str(workdir)):
                del sys.modules[name]
    _STATE[block.path] = (namespace, workdir)
