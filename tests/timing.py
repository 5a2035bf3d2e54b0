"""Bounds for tests that guard against a hang, not for figures (those live in bench/).

A guard compares an elapsed time with a bound; a loaded machine (two cores shared by several test runs) stretches
every elapsed time several-fold (a 0.7 s validation took 3.9 to 6.1 s beside a PostgreSQL pass), so a bound of a
second or two around work that normally takes a tenth of one fails on load alone. ``HANG_S`` sits far from both
sides: tens of times what the guarded work takes when it is right, far below what it took when it was wrong
(minutes, hours, forever: each guard says which).
"""

from __future__ import annotations

HANG_S = 10.0
