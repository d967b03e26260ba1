"""Compatibility shims. ``import lyre.compat.starlette`` makes ``starlette`` resolve to lyre."""

#: The Starlette release whose API lyre implements: ``starlette.__version__`` under the alias.
STARLETTE_API_VERSION = "1.10.0"

#: Environment variable naming ``MODULE:APP`` for ``lyre.compat.aliased_app`` (``lyre run --as-starlette``).
ALIASED_TARGET_ENV = "LYRE_ALIASED_TARGET"
