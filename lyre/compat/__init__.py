"""Compatibility shims. ``import lyre.compat.starlette`` makes ``starlette`` resolve to lyre."""
