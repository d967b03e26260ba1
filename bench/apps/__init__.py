"""One module per framework; each exposes ``SCENARIOS``: scenario name -> zero-argument app factory.

A factory builds a fresh ASGI app for that scenario. The harness (``bench/harness.py``) drives it
in-process, or ``bench/serve.py`` serves it under uvicorn for the end-to-end mode.
"""
