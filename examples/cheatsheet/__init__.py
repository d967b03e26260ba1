"""The cheat-sheet demo: every item of the lyre cheat-sheet as a live page (see ``app.py``)."""
