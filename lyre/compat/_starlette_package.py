"""What ``import starlette`` gives while the alias is on: lyre's package with Starlette's version.

The alias cannot hand out the ``lyre`` module itself for ``starlette``: ``starlette.__version__``
must name the Starlette API lyre implements (code checks it to pick code paths), while
``lyre.__version__`` stays lyre's own. So ``starlette`` is this thin package module: every other
attribute is looked up on ``lyre`` (its lazy names such as ``Starlette`` and ``Request``, and its
imported submodules), and ``starlette.routing`` etc. are still lyre's very module objects, served by
the alias finder. Only assignments to ``starlette.<name>`` itself stay on this module.
"""

from __future__ import annotations

from typing import Any

import lyre
from lyre.compat import STARLETTE_API_VERSION

__version__ = STARLETTE_API_VERSION

# A package, so that ``import starlette.x`` is possible, located where lyre's files are (tools read
# ``starlette.__path__[0]``, e.g. blockbuster to find the code to watch). The alias finder, first on
# sys.meta_path, resolves ``starlette.x`` and ``<this module>.x`` to ``lyre.x`` before any path-based
# finder could load a second copy of a lyre file under another name.
__path__: list[str] = list(lyre.__path__)


def __getattr__(name: str) -> Any:
    return getattr(lyre, name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(dir(lyre)))
