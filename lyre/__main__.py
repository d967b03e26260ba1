"""``python -m lyre``: the ``lyre`` command line (see ``lyre.cli``).

The console script ``lyre = "lyre.__main__:main"`` calls ``main()`` and exits with its return value.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``lyre`` command line with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    from lyre.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
