"""Generated-input comparison of lyre with the real Starlette 1.10 (installed for FastAPI).

Every test builds the same application from both packages (``PKGS``), drives it with the same
generated, well-formed ASGI traffic and compares every message. See ``_harness`` for the rules.
"""
