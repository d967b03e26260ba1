"""lyre: the very same app code as the Starlette column, with ``lyre`` imports."""

from bench.apps.starlette_family import build

SCENARIOS, make_routes = build("lyre")
