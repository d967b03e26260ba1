"""MkDocs hook: publish the benchmark chart from bench/results/ as docs/assets/inprocess.png.

The chart is produced by ``make bench``; serving it from its own place keeps the documentation in step
with the latest run without a second copy in the repository.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]
ASSETS = {"assets/inprocess.png": ROOT / "bench" / "results" / "inprocess.png"}


def on_files(files: Files, config: Any) -> Files:
    for uri, source in ASSETS.items():
        if files.get_file_from_path(uri) is None:
            files.append(File.generated(config, uri, abs_src_path=str(source)))
    return files
