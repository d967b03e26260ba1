"""Opt-in alias: after ``import lyre.compat.starlette``, ``starlette`` resolves to ``lyre``.

``import starlette.routing`` then returns the very module object ``lyre.routing`` (so
``isinstance``, ``except``, subclassing and ``mock.patch("starlette....")`` agree across both
names). ``starlette`` itself is a thin package module named ``lyre`` that forwards every attribute
to ``lyre`` but reports ``__version__`` as the Starlette version whose API lyre implements
(``lyre.__version__`` stays lyre's); see ``_package_module``. The real ``starlette`` distribution may stay installed (FastAPI depends on it) but is never
imported while the alias is on. Turning the alias on after some real ``starlette`` module was
imported is an error naming those modules, because two copies of the classes would then coexist.

Undo with ``lyre.compat.starlette.uninstall()``.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

__all__ = ["AliasFinder", "install", "installed", "uninstall"]

_ALIAS = "starlette"
_TARGET = "lyre"


def _target_name(fullname: str) -> str | None:
    if fullname == _ALIAS:
        return _TARGET
    if fullname.startswith(_ALIAS + "."):
        return _TARGET + fullname[len(_ALIAS) :]
    return None


_package: ModuleType | None = None


def _package_module(lyre: ModuleType) -> ModuleType:
    """The module ``import starlette`` returns: lyre's package, with Starlette's ``__version__``.

    It cannot be the ``lyre`` module itself, since ``starlette.__version__`` must name the Starlette
    API lyre implements (code checks it) while ``lyre.__version__`` stays lyre's own. Every other
    attribute is looked up on ``lyre`` (its lazy names such as ``Starlette``, its imported
    submodules). It is named ``lyre``, so ``from starlette import routing`` imports ``lyre.routing``
    and it is recognised as lyre's everywhere; ``__path__`` is lyre's (tools read
    ``starlette.__path__[0]``), while the finder serves the ``starlette.x`` submodules. Only
    assignments to ``starlette.<name>`` itself stay on this module.
    """
    global _package
    if _package is None:
        from lyre.compat import STARLETTE_API_VERSION

        package = ModuleType(_TARGET, lyre.__doc__)

        def __getattr__(name: str) -> Any:
            return getattr(lyre, name)

        def __dir__() -> list[str]:
            return sorted(set(package.__dict__) | set(dir(lyre)))

        package.__dict__.update(
            __version__=STARLETTE_API_VERSION,
            __path__=list(lyre.__path__),
            __file__=getattr(lyre, "__file__", None),
            __getattr__=__getattr__,
            __dir__=__dir__,
        )
        _package = package
    return _package


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, module: ModuleType) -> None:
        self._module = module
        self._spec: importlib.machinery.ModuleSpec | None = getattr(module, "__spec__", None)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return self._module

    def exec_module(self, module: ModuleType) -> None:
        """The lyre module is already executed; only undo what the import system changed on it.

        The import machinery sets ``module.__spec__`` to the alias spec (named ``starlette.x``) before
        calling this; lyre's module keeps its own spec, so ``importlib.reload`` and
        ``importlib.util.find_spec("lyre.x")`` still mean lyre, also after ``uninstall()``.
        """
        if self._spec is not None:
            module.__spec__ = self._spec


class AliasFinder(importlib.abc.MetaPathFinder):
    """Resolves ``starlette`` and ``starlette.*`` to the matching ``lyre`` modules."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        name = _target_name(fullname)
        if name is None:
            return None
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            raise ModuleNotFoundError(
                f"No module named {fullname!r} (lyre has no {name!r} module)", name=fullname
            ) from None
        if fullname == _ALIAS:
            module = _package_module(module)
        is_package = hasattr(module, "__path__")
        spec = importlib.machinery.ModuleSpec(fullname, _AliasLoader(module), is_package=is_package)
        return spec


_finder = AliasFinder()


def installed() -> bool:
    return _finder in sys.meta_path


def install() -> None:
    """Turn the alias on (idempotent). Fails if a real ``starlette`` module is already imported."""
    if installed():
        return
    foreign = sorted(
        name
        for name, module in sys.modules.items()
        if _target_name(name) is not None
        and module is not None
        and not getattr(module, "__name__", "").startswith(_TARGET)
    )
    if foreign:
        raise RuntimeError(
            "Cannot alias 'starlette' to 'lyre': the real Starlette is already imported "
            f"({', '.join(foreign)}). Import lyre.compat.starlette before anything that imports starlette."
        )
    sys.meta_path.insert(0, _finder)


def uninstall() -> None:
    """Turn the alias off and forget the aliased ``starlette`` entries of ``sys.modules``."""
    while _finder in sys.meta_path:
        sys.meta_path.remove(_finder)
    for name in [n for n in sys.modules if _target_name(n) is not None]:
        module = sys.modules[name]
        if getattr(module, "__name__", "").startswith(_TARGET):
            del sys.modules[name]


install()
