"""Starlette 1.10 (the real one, from site-packages): the reference column."""

from bench.apps.starlette_family import build

SCENARIOS, make_routes = build("starlette")
