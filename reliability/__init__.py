"""Fault, load and hostile-input scenarios against real studio processes (issue 9)."""
