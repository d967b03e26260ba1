"""MkDocs hooks for lyre's documentation.

- publish the benchmark chart from bench/results/ as ``assets/inprocess.png`` (``make bench`` writes
  it; serving it from its own place keeps the site in step with the latest run, without a copy);
- replace the marker ``<!-- include: README limits table -->`` with the limits table of README.md, so
  the site and the README always show the same limits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]
ASSETS = {"assets/inprocess.png": ROOT / "bench" / "results" / "inprocess.png"}
LIMITS_MARKER = "<!-- include: README limits table -->"


def on_files(files: Files, config: Any) -> Files:
    for uri, source in ASSETS.items():
        if not source.is_file():
            raise PluginError(f"{source} is missing (run `make bench` to produce it)")
        if files.get_file_from_path(uri) is None:
            files.append(File.generated(config, uri, abs_src_path=str(source)))
    return files


def _readme_limits_table() -> str:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith("## Safer by default"))
        first = next(i for i in range(start, len(lines)) if lines[i].startswith("|"))
    except StopIteration:
        raise PluginError("README.md has no limits table under '## Safer by default'") from None
    end = first
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    return "\n".join(lines[first:end])


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    if LIMITS_MARKER in markdown:
        markdown = markdown.replace(LIMITS_MARKER, _readme_limits_table())
    return markdown
