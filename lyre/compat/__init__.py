"""Compatibility shims. ``import lyre.compat.starlette`` makes ``starlette`` resolve to lyre."""

#: Environment variable naming ``MODULE:APP`` for ``lyre.compat.aliased_app`` (``lyre run --as-starlette``).
ALIASED_TARGET_ENV = "LYRE_ALIASED_TARGET"
