"""Turn the ``starlette`` -> ``lyre`` alias on at interpreter start when LYRE_COMPAT_ALIAS=1.

compat/run_fastapi_suite.sh puts this folder on PYTHONPATH, so subprocesses that FastAPI's tests
start (they inherit the environment) run on lyre too, like the pytest process itself.
"""

import os

if os.environ.get("LYRE_COMPAT_ALIAS") == "1":
    import lyre.compat.starlette  # noqa: F401
