"""Example applications built with lyre (run one with ``lyre run examples.<name>.app:app``)."""
