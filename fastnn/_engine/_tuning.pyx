# cython: language_level=3
"""The engine's tuning constants (see ``_tuning.pxd``); the ones Python
reads are importable from here."""
